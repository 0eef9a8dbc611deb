"""The layers' rules (docs/ARCHITECTURE.md, "Layers"): core imports neither Streamlit, plotly, connectors,
headroom nor pages; connectors and headroom import no Streamlit; no page holds SQL or PromQL. The checker
runs on the repository and on a planted tree, so it is shown to fail when a rule is broken."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "core": ("streamlit", "plotly", "connectors", "headroom", "pages"),
    "connectors": ("streamlit", "plotly", "headroom", "pages"),
    "headroom": ("streamlit", "pages"),
}
# SQL statements and PromQL functions/selectors as they appear in string literals
SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX|TRIGGER))\b",
    re.IGNORECASE | re.DOTALL,
)
PROMQL = re.compile(
    r"\b(rate|irate|increase|histogram_quantile|sum_over_time|max_over_time|avg_over_time)\("
    r"|\bsum\s+by\s*\(|\{[a-z_]+=~?\"",
)


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def find_violations(root: Path) -> list[str]:
    """Every broken layering rule under `root`, as 'path:line: what'."""
    violations = []
    for layer, banned in FORBIDDEN.items():
        for path in sorted((root / layer).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for line, module in _imports(tree):
                top = module.split(".")[0]
                if top in banned:
                    violations.append(f"{path.relative_to(root)}:{line}: {layer}/ imports {module}")
    page_files = sorted((root / "pages").rglob("*.py")) + [root / "dashboard.py"]
    for path in page_files:
        if not path.exists():
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, text in _strings(tree):
            if SQL.search(text):
                violations.append(f"{path.relative_to(root)}:{line}: SQL in a page: {text[:60]!r}")
            if PROMQL.search(text):
                violations.append(f"{path.relative_to(root)}:{line}: PromQL in a page: {text[:60]!r}")
    return violations


def test_the_repository_keeps_its_layers() -> None:
    assert find_violations(ROOT) == []


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        ("core/bad.py", "import streamlit as st\n", "core/ imports streamlit"),
        ("core/bad.py", "from connectors.store import open_db\n", "core/ imports connectors.store"),
        ("core/pkg/bad.py", "def f():\n    import plotly.graph_objects as go\n", "core/ imports plotly"),
        ("connectors/bad.py", "import streamlit\n", "connectors/ imports streamlit"),
        ("headroom/bad.py", "from pages import _ui\n", "headroom/ imports pages"),
        ("pages/bad.py", "rows = db.execute('SELECT * FROM actions')\n", "SQL in a page"),
        ("pages/bad.py", "q = 'sum by (region) (rate(x_total[5m]))'\n", "PromQL in a page"),
    ],
)
def test_the_checker_fails_on_a_planted_violation(
    tmp_path: Path, path: str, source: str, expected: str
) -> None:
    for layer in ("core", "connectors", "headroom", "pages"):
        (tmp_path / layer).mkdir()
    (tmp_path / "dashboard.py").write_text("import streamlit as st\n")
    (tmp_path / "core" / "ok.py").write_text("import pandas as pd\nfrom core.ports import Change\n")
    target = tmp_path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source)
    violations = find_violations(tmp_path)
    assert len(violations) == 1 and expected in violations[0], violations
