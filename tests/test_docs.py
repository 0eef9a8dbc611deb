"""The README documents what exists, and only that (docs/ARCHITECTURE.md, "Data contracts"): every
config section and key, every page and every command-line command has its README entry, and the README
names no section, page or command that does not exist. In the style of sqlite-utils' docs tests."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import HeadroomConfig
from headroom.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _dataclass_of(annotation: object) -> type | None:
    """The config dataclass behind a field's annotation (tuple[X, ...], X | None, Annotated[X, ...])."""
    if dataclasses.is_dataclass(annotation):
        return annotation  # type: ignore[return-value]
    for arg in typing.get_args(annotation):
        found = _dataclass_of(arg)
        if found is not None:
            return found
    return None


def config_keys(cls: type = HeadroomConfig, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, key) for every key of the config schema, nested tables included."""
    resolved = cls.__pydantic_fields__  # pydantic dataclasses keep the resolved annotations here
    for f in dataclasses.fields(cls):
        key = resolved[f.name].alias or f.name  # the key as written in TOML (`for`, not `for_`)
        path = f"{prefix}{key}"
        yield path, key
        inner = _dataclass_of(resolved[f.name].annotation)
        if inner is not None:
            yield from config_keys(inner, path + ".")


def _documented(key: str) -> bool:
    """A key is documented when the README shows it as code: `key`, `key = ...` or [key] / [[key]]."""
    pattern = (
        rf"(`[^`\n]*\b{re.escape(key)}\b[^`\n]*`|^\s*#?\s*{re.escape(key)}\s*=|\[\[?{re.escape(key)}\]\]?)"
    )
    return re.search(pattern, README, flags=re.MULTILINE) is not None


def test_every_config_key_has_a_readme_entry() -> None:
    missing = [path for path, key in config_keys() if not _documented(key)]
    assert not missing, f"config keys without a README entry: {missing}"


def test_every_top_level_section_is_in_the_configuration_table() -> None:
    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    sections = [f.name for f in dataclasses.fields(HeadroomConfig)]
    missing = [s for s in sections if not re.search(rf"`\[\[?{re.escape(s)}\]\]?", table)]
    assert not missing, f"config sections missing from the README's Configuration table: {missing}"


def test_the_readme_names_no_config_section_that_does_not_exist() -> None:
    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`\[\[?([a-z_]+)(?:\.[a-z_.]+)?\]\]?", table))
    known = {f.name for f in dataclasses.fields(HeadroomConfig)}
    assert named <= known, f"README names config sections that do not exist: {sorted(named - known)}"


def _page_titles() -> list[str]:
    tree = ast.parse((ROOT / "dashboard.py").read_text(encoding="utf-8"))
    titles = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Page":
            titles += [k.value.value for k in node.keywords if k.arg == "title"]
    return titles


def _readme_pages() -> list[str]:
    table = README.split("## Pages", 1)[1].split("\n## ", 1)[0]
    return [m.strip() for m in re.findall(r"^\|\s*([^|]+?)\s*\|", table, flags=re.MULTILINE)[2:]]


def test_every_page_has_a_readme_row_and_every_row_a_page() -> None:
    titles, rows = _page_titles(), _readme_pages()
    assert titles, "no st.Page found in dashboard.py"
    assert sorted(titles) == sorted(rows), f"pages {titles} vs README rows {rows}"


def _cli_commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


def test_every_command_has_a_readme_entry_and_every_entry_a_command() -> None:
    commands = _cli_commands()
    named = sorted(set(re.findall(r"python -m headroom ([a-z][a-z-]*)", README)))
    assert named == commands, f"README commands {named} vs the CLI's {commands}"


@pytest.mark.parametrize(
    "planted",
    [
        "| `[[nosuch]]` | a section that does not exist |",
        "python -m headroom nosuch --flag",
    ],
)
def test_the_checks_fail_on_a_planted_mistake(planted: str) -> None:
    """The docs checks are not vacuous: a README naming something that does not exist fails them."""
    marker = "## Configuration\n"
    doctored = README.replace(marker, marker + planted + "\n", 1)
    saved = README
    globals()["README"] = doctored
    try:
        with pytest.raises(AssertionError):
            if "headroom" in planted:
                test_every_command_has_a_readme_entry_and_every_entry_a_command()
            else:
                test_the_readme_names_no_config_section_that_does_not_exist()
    finally:
        globals()["README"] = saved
