"""CDN health: hit ratio against a target, origin offload, bandwidth, and the dips below target matched
with the incidents / changes that explain them.

Hit ratio is a request share, so a region's ratio over a period is weighted by CDN requests (a quiet
night minute must not count as much as the evening peak). Origin offload is byte-based: the share of
bytes delivered at the edge that did not have to be fetched from the origin, 1 - origin / edge.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

CDN_METRICS: tuple[str, ...] = (
    "cdn_requests_per_second",
    "cdn_hit_ratio",
    "cdn_bytes_edge_per_second",
    "cdn_bytes_origin_per_second",
)
BITS_PER_BYTE = 8


def _wide(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    sub = frame[frame["metric"] == metric]
    if sub.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="ts"))
    return sub.pivot_table(index="ts", columns="region", values="value", aggfunc="mean").sort_index()


def cdn_summary(frame: pd.DataFrame, target: float, regions: Sequence[str] | None = None) -> pd.DataFrame:
    """Per region: hit_ratio (request-weighted), min_hit_ratio, below_target_share (share of steps under
    target), offload (1 - origin bytes / edge bytes), edge_gbps_mean / edge_gbps_peak / origin_gbps_mean
    (Gbit/s), and meets_target. NaN where a metric is missing."""
    hit = _wide(frame, "cdn_hit_ratio")
    requests = _wide(frame, "cdn_requests_per_second")
    edge = _wide(frame, "cdn_bytes_edge_per_second")
    origin = _wide(frame, "cdn_bytes_origin_per_second")
    codes = list(regions) if regions is not None else sorted(set(frame["region"])) if len(frame) else []
    rows = []
    for code in codes:
        h = hit[code].dropna() if code in hit else pd.Series(dtype=float)
        w = requests[code].reindex(h.index) if code in requests else pd.Series(np.nan, index=h.index)
        ok = w.notna() & (w > 0)
        if len(h) and ok.any():
            hit_ratio = float((h[ok] * w[ok]).sum() / w[ok].sum())
        else:
            hit_ratio = float(h.mean()) if len(h) else float("nan")
        e = edge[code].dropna() if code in edge else pd.Series(dtype=float)
        o = origin[code].reindex(e.index) if code in origin else pd.Series(np.nan, index=e.index)
        both = o.notna()
        edge_bytes = float(e[both].sum())
        offload = 1.0 - float(o[both].sum()) / edge_bytes if edge_bytes > 0 else float("nan")
        rows.append(
            {
                "region": code,
                "hit_ratio": hit_ratio,
                "min_hit_ratio": float(h.min()) if len(h) else float("nan"),
                "below_target_share": float((h < target).mean()) if len(h) else float("nan"),
                "offload": offload,
                "edge_gbps_mean": float(e.mean()) * BITS_PER_BYTE / 1e9 if len(e) else float("nan"),
                "edge_gbps_peak": float(e.max()) * BITS_PER_BYTE / 1e9 if len(e) else float("nan"),
                "origin_gbps_mean": float(o.mean()) * BITS_PER_BYTE / 1e9
                if o.notna().any()
                else float("nan"),
                "meets_target": bool(np.isfinite(hit_ratio) and hit_ratio >= target),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "region",
            "hit_ratio",
            "min_hit_ratio",
            "below_target_share",
            "offload",
            "edge_gbps_mean",
            "edge_gbps_peak",
            "origin_gbps_mean",
            "meets_target",
        ],
    )


def hit_ratio_dips(
    frame: pd.DataFrame,
    target: float,
    events: pd.DataFrame | None = None,
    max_gap_steps: int = 1,
) -> pd.DataFrame:
    """Contiguous periods where a region's hit ratio is below `target`, with what explains them.

    Columns: region, start, end (UTC; the first and last step below target), minutes, lowest, explained_by
    (titles of events that overlap the dip in that region or everywhere, '; '-joined; '' if none).
    Steps below target separated by at most `max_gap_steps` missing or recovered steps form one dip.
    """
    hit = _wide(frame, "cdn_hit_ratio")
    out = []
    for region in hit.columns:
        series = hit[region].dropna()
        if series.empty:
            continue
        below = (series < target).to_numpy()
        if not below.any():
            continue
        idx = np.flatnonzero(below)
        # split where consecutive below-target steps are more than max_gap_steps + 1 positions apart
        breaks = np.flatnonzero(np.diff(idx) > max_gap_steps + 1)
        starts = np.concatenate([[idx[0]], idx[breaks + 1]])
        ends = np.concatenate([idx[breaks], [idx[-1]]])
        step = series.index.to_series().diff().median() if len(series) > 1 else pd.Timedelta(minutes=1)
        for s, e in zip(starts, ends, strict=True):
            start, end = series.index[s], series.index[e]
            explained = ""
            if events is not None and not events.empty:
                hits = events[
                    (events["start_ts"] <= end)
                    & (events["end_ts"] >= start - step)
                    & (events["region"].isin(["", str(region)]))
                ]
                explained = "; ".join(dict.fromkeys(hits["title"].astype(str)))
            out.append(
                {
                    "region": str(region),
                    "start": start,
                    "end": end,
                    "minutes": (end - start + step).total_seconds() / 60,
                    "lowest": float(series.iloc[s : e + 1].min()),
                    "explained_by": explained,
                }
            )
    columns = ["region", "start", "end", "minutes", "lowest", "explained_by"]
    if not out:
        return pd.DataFrame(
            {
                "region": pd.Series([], dtype=object),
                "start": pd.Series([], dtype="datetime64[ns, UTC]"),
                "end": pd.Series([], dtype="datetime64[ns, UTC]"),
                "minutes": pd.Series([], dtype=float),
                "lowest": pd.Series([], dtype=float),
                "explained_by": pd.Series([], dtype=object),
            }
        )
    return pd.DataFrame(out, columns=columns).sort_values("start", kind="stable").reset_index(drop=True)


def offload_wide(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-step origin offload per region (1 - origin / edge bytes), NaN where edge bytes are 0."""
    edge = _wide(frame, "cdn_bytes_edge_per_second")
    origin = _wide(frame, "cdn_bytes_origin_per_second").reindex_like(edge)
    return 1.0 - origin / edge.where(edge > 0)


def cdn_overall(frame: pd.DataFrame, target: float) -> dict[str, float]:
    """All regions together: hit_ratio (weighted by CDN requests over every region and step), offload
    (over all bytes), edge_gbps_mean (mean over time of the regions' summed bandwidth) and the number
    of regions meeting the target (regions_ok of regions)."""
    hit = _wide(frame, "cdn_hit_ratio")
    requests = _wide(frame, "cdn_requests_per_second").reindex_like(hit)
    h, w = hit.to_numpy(), requests.to_numpy()
    ok = np.isfinite(h) & np.isfinite(w) & (w > 0)
    hit_ratio = float((h[ok] * w[ok]).sum() / w[ok].sum()) if ok.any() else float("nan")
    edge = _wide(frame, "cdn_bytes_edge_per_second")
    origin = _wide(frame, "cdn_bytes_origin_per_second").reindex_like(edge)
    e, o = edge.to_numpy(), origin.to_numpy()
    both = np.isfinite(e) & np.isfinite(o)
    edge_bytes = float(e[both].sum())
    per_region = cdn_summary(frame, target)
    return {
        "hit_ratio": hit_ratio,
        "offload": 1.0 - float(o[both].sum()) / edge_bytes if edge_bytes > 0 else float("nan"),
        "edge_gbps_mean": float(edge.sum(axis=1, min_count=1).mean()) * BITS_PER_BYTE / 1e9
        if not edge.empty
        else float("nan"),
        "regions_ok": float(per_region["meets_target"].sum()),
        "regions": float(len(per_region)),
    }
