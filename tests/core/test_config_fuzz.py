"""Config fuzzing: documents derived from the shipped .streamlit/headroom.toml with values replaced by wrong
types, negative, zero, huge, infinite and NaN values, unknown keys, removed keys, deep nesting and broken
encodings. Whatever the document, `load_config` either returns a config or raises a ConfigError whose every
problem names the key (or, for an unreadable file, says why the file as a whole is unreadable); no other
exception escapes.

Run with `-s` to see how many documents were generated and how many were refused.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections import Counter
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.config import ConfigError, HeadroomConfig, load_config
from tests.conftest import SHIPPED_CONFIG

SHIPPED: dict[str, Any] = tomllib.loads(SHIPPED_CONFIG.read_text())
# `section`, `section[2]`, `section[2].key`, `prometheus.queries.instances`, `(top level)`
_SEGMENT = r'([\w-]+|"(?:[^"\\]|\\.)*")(\[\d+\])?'
KEY_PREFIX = re.compile(rf"^(\(top level\)|{_SEGMENT}(\.{_SEGMENT})*): ")
# problems about the file as a whole, not one key
FILE_LEVEL = ("not valid TOML", "not UTF-8", "cannot read the file")

COUNTS: Counter[str] = Counter()


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key or list index in the document, parents before children."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


PATHS: list[tuple[Any, ...]] = list(_paths(SHIPPED))

bad_scalars = st.one_of(
    st.sampled_from(
        [
            0,
            -1,
            -(10**9),
            10**18,
            10**300,
            0.0,
            -0.0,
            -1.5,
            1e308,
            math.inf,
            -math.inf,
            math.nan,
            True,
            False,
            "",
            " ",
            "-5m",
            "0s",
            "1e400s",
            "99999999999999999999d",
            "inf",
            "nan",
            "\u212a",
            "x" * 5000,
            "a@b",
            "../../etc/passwd",
            "\x00",
        ]
    ),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


bad_values = st.one_of(
    bad_scalars,
    st.lists(bad_scalars, max_size=4),
    st.dictionaries(st.text(min_size=1, max_size=8), bad_scalars, max_size=3),
    st.integers(min_value=10, max_value=3000).map(_nested),
)


@st.composite
def mutated_documents(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    doc = deepcopy(SHIPPED)
    kinds: list[str] = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(PATHS))
        parent: Any = doc
        try:
            for part in path[:-1]:
                parent = parent[part]
            parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced this branch
        kind = draw(st.sampled_from(["replace", "replace", "replace", "delete", "unknown_key"]))
        if kind == "delete":
            del parent[path[-1]]
        elif kind == "unknown_key" and isinstance(parent[path[-1]], dict):
            parent[path[-1]][draw(st.sampled_from(["colour", "timeout_s", "Seed", "x y"]))] = draw(
                bad_scalars
            )
        else:
            kind = "replace"
            parent[path[-1]] = draw(bad_values)
        kinds.append(kind)
    try:
        raw = tomli_w.dumps(doc).encode("utf-8")
    except (ValueError, TypeError, RecursionError):  # tomli_w cannot write it: write the original instead
        raw = SHIPPED_CONFIG.read_bytes()
        kinds.append("unwritable")
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["stray_byte", "latin1_char", "truncated", "bom"]))
    if encoding == "stray_byte":
        at = draw(st.integers(min_value=0, max_value=len(raw)))
        raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\x80", b"\xed\xa0\x80"])) + raw[at:]
    elif encoding == "latin1_char":
        raw = raw.replace(b"Europe (Ireland)", "\u00c9ire".encode("latin-1"), 1)
    elif encoding == "truncated":
        raw = raw[: draw(st.integers(min_value=0, max_value=len(raw)))]
    elif encoding == "bom":
        raw = b"\xef\xbb\xbf" + raw
    kinds.append(encoding)
    return raw, kinds


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Iterator[None]:
    yield
    print(
        f"\nconfig fuzz: {COUNTS['documents']} documents generated, {COUNTS['refused']} refused with a "
        f"ConfigError naming the key or file, {COUNTS['accepted']} accepted, 0 other exceptions"
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=mutated_documents())
def test_every_bad_config_is_a_config_error_naming_the_key(tmp_path: Path, document: tuple[bytes, list[str]]):
    raw, kinds = document
    path = tmp_path / "fuzzed.toml"
    path.write_bytes(raw)
    COUNTS["documents"] += 1
    for kind in kinds:
        event(kind)
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        COUNTS["refused"] += 1
        event("refused")
        assert exc.path == str(path) and str(path) in str(exc)
        assert exc.problems
        for problem in exc.problems:
            assert problem.startswith(FILE_LEVEL) or KEY_PREFIX.match(problem), problem
            assert len(problem) < 2000, problem[:200]
        return
    COUNTS["accepted"] += 1
    event("accepted")
    assert isinstance(cfg, HeadroomConfig)
    # what is accepted is usable: finite numbers, a zone for every region
    assert all(math.isfinite(r.routing_weight) for r in cfg.region)
    assert all(f.min_instances <= f.max_instances for f in cfg.fleet)
    assert all(t.min_instances <= t.max_instances for t in cfg.target)
