"""OpenSLO v1 import and export of the `[[slo]]` entries (`SLO` + `SLI` kinds).

Export: one `SLI` and one `SLO` document per SLO. Ratio SLIs become `ratioMetric` (counter: false, the
templates are per-second rates) with `good` or `bad` and `total`; latency SLIs become `thresholdMetric`
with the objective's `op: lte` / `value: threshold`. Each metric source is `type: Prometheus` with the
rendered PromQL of `[prometheus.queries]` (empty when the metric has no template) and
`headroomMetric`, the canonical name, so the file reads well in other OpenSLO tools and comes back
exactly. Headroom-only settings (regions, min_events) travel as metadata annotations `headroom/...`.

Import: the same shapes, also with the SLI inline in the SLO (`indicator`), and metric sources without
`headroomMetric` when their query is one of the configured templates. Anything Headroom cannot represent
(calendar windows, several objectives, an unknown metric, RatioTimeslices...) raises OpenSLOError naming
the document and the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from core.config import CANONICAL_METRICS, HeadroomConfig, SLOConfig, _describe, parse_duration
from core.promql import render_query
from core.slo import format_window

API_VERSION = "openslo/v1"
_SLO_ADAPTER = TypeAdapter(SLOConfig)


class OpenSLOError(ValueError):
    """An OpenSLO document Headroom cannot represent; the message names the document and the field."""


# ---- export ---------------------------------------------------------------------------------------
def _source(config: HeadroomConfig, slo: SLOConfig, metric: str) -> dict[str, Any]:
    template = config.prometheus.queries.get(metric, "")
    regions = tuple(slo.regions) or config.region_codes
    query = render_query(template, regions) if template else ""
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query, "headroomMetric": metric}}}


def slo_documents(config: HeadroomConfig, slo: SLOConfig) -> list[dict[str, Any]]:
    """The SLI and SLO documents of one `[[slo]]` entry."""
    sli_name = f"{slo.name}-sli"
    if slo.threshold is not None:
        sli_spec: dict[str, Any] = {"thresholdMetric": _source(config, slo, slo.total)}
        objective: dict[str, Any] = {"target": slo.objective, "op": "lte", "value": slo.threshold}
    else:
        ratio: dict[str, Any] = {"counter": False}
        if slo.good is not None:
            ratio["good"] = _source(config, slo, slo.good)
        else:
            ratio["bad"] = _source(config, slo, slo.bad or "")
        ratio["total"] = _source(config, slo, slo.total)
        sli_spec = {"ratioMetric": ratio}
        objective = {"target": slo.objective}
        if slo.budgeting == "timeslices":
            objective["timeSliceTarget"] = slo.objective
    if slo.budgeting == "timeslices":
        objective["timeSliceWindow"] = "1m"
    annotations = {}
    if slo.regions:
        annotations["headroom/regions"] = ",".join(slo.regions)
    if slo.min_events:
        annotations["headroom/min_events"] = f"{slo.min_events:g}"
    metadata: dict[str, Any] = {"name": slo.name}
    if annotations:
        metadata["annotations"] = annotations
    slo_spec: dict[str, Any] = {}
    if slo.description:
        slo_spec["description"] = slo.description
    slo_spec |= {
        "service": slo.service,
        "indicatorRef": sli_name,
        "timeWindow": [{"duration": format_window(slo.window), "isRolling": True}],
        "budgetingMethod": "Timeslices" if slo.budgeting == "timeslices" else "Occurrences",
        "objectives": [objective],
    }
    return [
        {"apiVersion": API_VERSION, "kind": "SLI", "metadata": {"name": sli_name}, "spec": sli_spec},
        {"apiVersion": API_VERSION, "kind": "SLO", "metadata": metadata, "spec": slo_spec},
    ]


def export_openslo(config: HeadroomConfig) -> str:
    """Every configured SLO as a multi-document OpenSLO v1 YAML stream."""
    docs = [d for slo in config.slo for d in slo_documents(config, slo)]
    return yaml.safe_dump_all(docs, sort_keys=False, width=100_000, allow_unicode=True)


# ---- import ---------------------------------------------------------------------------------------
def _get(doc: Mapping[str, Any], path: str, where: str) -> Any:
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise OpenSLOError(f"{where}: `{path}` is missing")
        node = node[part]
    return node


def _metric(config: HeadroomConfig | None, source: Any, where: str) -> str:
    spec = source.get("metricSource", {}).get("spec", {}) if isinstance(source, Mapping) else {}
    name = spec.get("headroomMetric") if isinstance(spec, Mapping) else None
    if name is None and config is not None and isinstance(spec, Mapping):
        query = str(spec.get("query", "")).strip()
        for metric, template in config.prometheus.queries.items():
            if query in (template.strip(), render_query(template, config.region_codes).strip()):
                name = metric
                break
    if name is None:
        raise OpenSLOError(
            f"{where}: cannot tell which metric this is: give `metricSource.spec.headroomMetric` or a query "
            "equal to one of [prometheus.queries]"
        )
    if name not in CANONICAL_METRICS:
        raise OpenSLOError(f"{where}: unknown metric {name!r} (known: {', '.join(CANONICAL_METRICS)})")
    return str(name)


def _slo_from_documents(
    slo_doc: Mapping[str, Any], slis: Mapping[str, Mapping[str, Any]], config: HeadroomConfig | None
) -> SLOConfig:
    name = str(_get(slo_doc, "metadata.name", "SLO (no name)"))
    where = f"SLO {name!r}"
    spec = _get(slo_doc, "spec", where)
    if "indicator" in spec:
        sli_spec = _get(spec, "indicator.spec", where)
        sli_where = f"{where} indicator"
    else:
        ref = str(_get(spec, "indicatorRef", where))
        if ref not in slis:
            raise OpenSLOError(f"{where}: indicatorRef {ref!r} names no SLI document in the file")
        sli_spec = _get(slis[ref], "spec", f"SLI {ref!r}")
        sli_where = f"SLI {ref!r}"
    objectives = _get(spec, "objectives", where)
    if not isinstance(objectives, list) or len(objectives) != 1:
        raise OpenSLOError(f"{where}: objectives: Headroom supports exactly one objective per SLO")
    objective = objectives[0]
    windows = _get(spec, "timeWindow", where)
    if not isinstance(windows, list) or len(windows) != 1:
        raise OpenSLOError(f"{where}: timeWindow: exactly one window is supported")
    if not windows[0].get("isRolling", False):
        raise OpenSLOError(f"{where}: timeWindow: calendar-aligned windows are not supported (rolling only)")
    method = str(spec.get("budgetingMethod", "Occurrences"))
    if method not in ("Occurrences", "Timeslices"):
        raise OpenSLOError(f"{where}: budgetingMethod {method!r} is not supported (Occurrences, Timeslices)")
    try:
        window = parse_duration(str(_get(windows[0], "duration", where)))
    except ValueError as exc:
        raise OpenSLOError(f"{where}: timeWindow.duration: {exc}") from None
    annotations = (slo_doc.get("metadata") or {}).get("annotations") or {}
    data: dict[str, Any] = {
        "name": name,
        "service": str(spec.get("service", "api")),
        "description": str(spec.get("description", "")),
        "objective": objective.get("target"),
        "window": window,
        "budgeting": method.lower(),
    }
    if annotations.get("headroom/regions"):
        data["regions"] = tuple(
            r.strip() for r in str(annotations["headroom/regions"]).split(",") if r.strip()
        )
    if annotations.get("headroom/min_events"):
        data["min_events"] = float(annotations["headroom/min_events"])
    if "thresholdMetric" in sli_spec:
        if objective.get("op") not in ("lte", "lt"):
            raise OpenSLOError(
                f"{where}: objectives[0].op: Headroom's threshold SLIs are 'good when value <= threshold' "
                f"(op: lte), got {objective.get('op')!r}"
            )
        data["total"] = _metric(config, sli_spec["thresholdMetric"], f"{sli_where} thresholdMetric")
        data["threshold"] = objective.get("value")
    elif "ratioMetric" in sli_spec:
        ratio = sli_spec["ratioMetric"]
        if ratio.get("counter"):
            raise OpenSLOError(
                f"{sli_where}: ratioMetric.counter: true is not supported (Headroom's metrics are per-second "
                "rates; use counter: false with rate queries)"
            )
        data["total"] = _metric(config, _get(ratio, "total", sli_where), f"{sli_where} ratioMetric.total")
        for part in ("good", "bad"):
            if part in ratio:
                data[part] = _metric(config, ratio[part], f"{sli_where} ratioMetric.{part}")
    else:
        raise OpenSLOError(f"{sli_where}: needs ratioMetric or thresholdMetric")
    try:
        return _SLO_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise OpenSLOError(f"{where}: " + "; ".join(_describe(e) for e in exc.errors())) from None


def import_openslo(text: str, config: HeadroomConfig | None = None) -> list[SLOConfig]:
    """The SLOs of an OpenSLO v1 YAML stream. `config` lets queries be matched to [prometheus.queries].
    Other kinds (Service, AlertPolicy...) are ignored; an SLO that cannot be represented raises."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise OpenSLOError(f"not valid YAML: {exc}") from None
    for i, d in enumerate(docs):
        if not isinstance(d, Mapping) or d.get("apiVersion") != API_VERSION:
            got = d.get("apiVersion") if isinstance(d, Mapping) else type(d).__name__
            raise OpenSLOError(f"document {i + 1}: apiVersion must be {API_VERSION!r}, got {got!r}")
    slis = {str(_get(d, "metadata.name", "SLI")): d for d in docs if d.get("kind") == "SLI"}
    return [_slo_from_documents(d, slis, config) for d in docs if d.get("kind") == "SLO"]


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def slos_to_toml(slos: Iterable[SLOConfig]) -> str:
    """`[[slo]]` tables to paste into the config file (keys at their default left out)."""
    defaults: dict[str, Any] = {
        "good": None,
        "bad": None,
        "threshold": None,
        "budgeting": "occurrences",
        "service": "api",
        "regions": (),
        "description": "",
        "min_events": 0.0,
    }
    keys = (
        "name",
        "service",
        "description",
        "objective",
        "window",
        "total",
        "good",
        "bad",
        "threshold",
        "budgeting",
        "regions",
        "min_events",
    )
    blocks = []
    for slo in slos:
        lines = ["[[slo]]"]
        for key in keys:
            value = getattr(slo, key)
            if key in defaults and value == defaults[key]:
                continue
            lines.append(f"{key} = {_toml_value(format_window(value) if key == 'window' else value)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def check_regions(slos: Sequence[SLOConfig], config: HeadroomConfig) -> None:
    """Imported SLOs may only name configured regions."""
    for slo in slos:
        unknown = [r for r in slo.regions if r not in config.region_codes]
        if unknown:
            raise OpenSLOError(f"SLO {slo.name!r}: headroom/regions names unknown region(s) {unknown}")
