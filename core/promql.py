"""PromQL text helpers shared by the Prometheus connector (queries) and the rule generator (rules):
render a `[prometheus.queries]` template for a set of regions, with every region value regex- and
string-escaped so it can neither close its label matcher nor widen the regex."""

from __future__ import annotations

import re
from collections.abc import Sequence

# one definition of where `$regions` may sit: the config refuses other templates at load time
from core.config import (  # noqa: F401  (REGIONS_PLACEHOLDER is re-exported)
    PLACEHOLDER_IN_MATCHER,
    REGIONS_PLACEHOLDER,
    template_problem,
)

# Label values allowed to reach PromQL: letters, digits and . _ : / - (region codes, POP names, zones).
# Anything else (quotes, braces, backslashes, spaces, #) is refused outright; escaping below is the
# second line of defence.
_SAFE_LABEL_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")
# RE2 metacharacters (Prometheus regexes are RE2, fully anchored).
_RE2_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")
# `$regions` must sit alone inside a quoted regex matcher, e.g. region=~"$regions".
_PLACEHOLDER_IN_MATCHER = PLACEHOLDER_IN_MATCHER


def is_safe_label_value(value: str) -> bool:
    return isinstance(value, str) and bool(_SAFE_LABEL_VALUE.fullmatch(value))


def regex_alternation(values: Sequence[str]) -> str:
    """Values -> an RE2 alternation matching exactly those values (each regex-escaped)."""
    return "|".join(_RE2_SPECIAL.sub(r"\\\1", v) for v in values)


def promql_string_escape(text: str, quote: str = '"') -> str:
    """Escape text for the inside of a PromQL string literal delimited by `quote` (PromQL, like Go,
    only accepts an escaped quote of the literal's own kind)."""
    escaped = text.replace("\\", "\\\\").replace(quote, "\\" + quote)
    return escaped.replace("\n", "\\n").replace("\r", "\\r")


def render_query(template: str, regions: Sequence[str]) -> str:
    """Substitute each quoted `$regions` matcher with an escaped alternation of `regions`.

    No validation here (PrometheusSource refuses unsafe values first); the escaping alone already keeps
    any value inside its matcher, which the tests prove against a real Prometheus."""
    alternation = regex_alternation(regions)

    def substitute(m: re.Match[str]) -> str:
        op, space, quote = m.group(1), m.group(2), m.group(3)
        return f"{op}{space}{quote}{promql_string_escape(alternation, quote)}{quote}"

    return _PLACEHOLDER_IN_MATCHER.sub(substitute, template)


def check_template(metric: str, template: str) -> None:
    """A template must place `$regions` only inside a quoted =~ / !~ matcher (so escaping is complete)."""
    why = template_problem(template)
    if why is not None:
        raise ValueError(f"prometheus.queries.{metric}: {why}")
