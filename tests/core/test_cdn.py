"""core/cdn.py: hit ratio weighting, offload, bandwidth and dips matched to events, by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from core.cdn import cdn_overall, cdn_summary, hit_ratio_dips, offload_wide
from core.ports import tidy_metrics

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def frame_of(data: dict[str, dict[str, list[float]]]) -> pd.DataFrame:
    rows = [
        {"ts": T0 + i * MIN, "region": region, "metric": metric, "value": v}
        for region, metrics in data.items()
        for metric, values in metrics.items()
        for i, v in enumerate(values)
    ]
    return tidy_metrics(pd.DataFrame(rows))


def region(
    hit: list[float], requests: list[float], edge: list[float], origin: list[float]
) -> dict[str, list[float]]:
    return {
        "cdn_hit_ratio": hit,
        "cdn_requests_per_second": requests,
        "cdn_bytes_edge_per_second": edge,
        "cdn_bytes_origin_per_second": origin,
    }


def test_summary_weights_hit_ratio_by_requests_and_offload_by_bytes() -> None:
    # a busy minute at 90% and a quiet one at 50%: (300 x 0.9 + 100 x 0.5) / 400 = 0.8, not 0.7
    frame = frame_of({"a": region([0.9, 0.5], [300.0, 100.0], [1e9, 1e9], [1e8, 3e8])})
    row = cdn_summary(frame, target=0.85).iloc[0]
    assert row["hit_ratio"] == pytest.approx(0.8)
    assert row["min_hit_ratio"] == pytest.approx(0.5)
    assert row["below_target_share"] == pytest.approx(0.5)
    assert row["offload"] == pytest.approx(1 - 4e8 / 2e9)
    assert row["edge_gbps_mean"] == pytest.approx(8.0)  # 1e9 bytes/s = 8 Gbit/s
    assert row["origin_gbps_mean"] == pytest.approx(1.6)
    assert not row["meets_target"]
    assert cdn_summary(frame, target=0.8).iloc[0]["meets_target"]


def test_summary_lists_asked_regions_even_without_data() -> None:
    frame = frame_of({"a": region([0.9], [1.0], [1.0], [0.1])})
    table = cdn_summary(frame, 0.85, ["a", "b"])
    assert list(table["region"]) == ["a", "b"]
    assert pd.isna(table.iloc[1]["hit_ratio"]) and not table.iloc[1]["meets_target"]


def test_overall_pools_regions() -> None:
    frame = frame_of(
        {
            "a": region([0.9, 0.9], [300.0, 300.0], [3e9, 3e9], [3e8, 3e8]),
            "b": region([0.5, 0.5], [100.0, 100.0], [1e9, 1e9], [5e8, 5e8]),
        }
    )
    overall = cdn_overall(frame, 0.85)
    assert overall["hit_ratio"] == pytest.approx(0.8)
    assert overall["offload"] == pytest.approx(1 - 8e8 / 4e9)
    assert overall["edge_gbps_mean"] == pytest.approx(32.0)  # 4e9 bytes/s summed over regions
    assert (overall["regions_ok"], overall["regions"]) == (1.0, 2.0)


def test_offload_per_step() -> None:
    frame = frame_of({"a": region([0.9, 0.9], [1.0, 1.0], [100.0, 0.0], [10.0, 0.0])})
    wide = offload_wide(frame)
    assert wide["a"].iloc[0] == pytest.approx(0.9)
    assert pd.isna(wide["a"].iloc[1])  # no edge bytes: offload undefined


def test_dips_are_grouped_and_explained_by_overlapping_events() -> None:
    hit = [0.92, 0.40, 0.60, 0.80, 0.92, 0.84, 0.92, 0.92, 0.70, 0.92]
    frame = frame_of(
        {"a": region(hit, [1.0] * 10, [1.0] * 10, [0.1] * 10), "b": region([0.95] * 10, *[[1.0] * 10] * 3)}
    )
    events = pd.DataFrame(
        {
            "start_ts": [T0 + MIN, T0 - timedelta(days=1), T0 + 8 * MIN],
            "end_ts": [T0 + 4 * MIN, T0 - timedelta(days=1), T0 + 8 * MIN],
            "region": ["a", "", "b"],
            "kind": ["cdn_purge", "deploy", "deploy"],
            "title": ["cache purge", "old deploy", "deploy in b"],
        }
    )
    dips = hit_ratio_dips(frame, 0.85, events)
    # minutes 1-3 and 5 are one dip (a single recovered minute between them), minute 8 another
    assert list(dips["region"]) == ["a", "a"]
    assert list(dips["start"]) == [T0 + MIN, T0 + 8 * MIN]
    assert list(dips["end"]) == [T0 + 5 * MIN, T0 + 8 * MIN]
    assert list(dips["minutes"]) == [5.0, 1.0]
    assert dips["lowest"].iloc[0] == pytest.approx(0.40)
    assert dips["explained_by"].iloc[0] == "cache purge"
    assert dips["explained_by"].iloc[1] == ""  # the deploy at minute 8 was in region b
    strict = hit_ratio_dips(frame, 0.85, events, max_gap_steps=0)
    assert len(strict) == 3
    assert hit_ratio_dips(frame, 0.3).empty
