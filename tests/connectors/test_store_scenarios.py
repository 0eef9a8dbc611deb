"""connectors.store_scenarios: saved capacity scenarios, in the embedded store and in PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pytest

from connectors.store import open_db
from connectors.store_scenarios import (
    ScenarioNotFound,
    delete_scenario,
    list_scenarios,
    load_scenario,
    rename_scenario,
    save_scenario,
    scenarios_for_review,
    set_marked_for_review,
)
from core.capacity import Fleet, KubernetesHPA, Scenario, Spike, TargetTracking, simulate


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """The same tests on the embedded store and on a real PostgreSQL (issue 14)."""
    if request.param == "sqlite":
        return open_db(tmp_path / "store.db")
    return request.getfixturevalue("postgres_url")


def scenario(name: str = "plan a", growth: float = 30.0) -> Scenario:
    return Scenario(
        name,
        "us-east-1",
        Fleet(50, 6, 90, 180, 0.0857),
        KubernetesHPA(target_utilization=0.6),
        growth_pct=growth,
        spikes=(Spike(pd.Timestamp("2026-11-20 14:00", tz="UTC"), 1800, 2.0),),
        failed_region="eu-west-1",
    )


def test_save_load_and_list_with_the_last_run(db) -> None:
    demand = pd.Series(1000.0, index=pd.date_range("2026-11-20", periods=60, freq="min", tz="UTC"))
    result = simulate(demand, Fleet(50, 6, 90, 180, 0.0857), TargetTracking())
    save_scenario(db, scenario(), summary=result.summary, window=(demand.index[0], demand.index[-1]))
    assert load_scenario(db, "plan a") == scenario()
    listing = list_scenarios(db)
    row = listing.iloc[0]
    assert row["name"] == "plan a" and row["region"] == "us-east-1" and row["policy"] == "KubernetesHPA"
    assert row["cost_usd"] == pytest.approx(result.summary.cost_usd)
    assert row["window_start"] == demand.index[0] and not row["marked_for_review"]
    assert str(listing["created_at"].dt.tz) == "UTC"


def test_overwrite_keeps_creation_time_and_review_flag(db) -> None:
    save_scenario(db, scenario(growth=10), marked_for_review=True)
    created = list_scenarios(db)["created_at"].iloc[0]
    save_scenario(db, scenario(growth=20))
    row = list_scenarios(db).iloc[0]
    assert row["created_at"] == created and bool(row["marked_for_review"])
    assert load_scenario(db, "plan a").growth_pct == 20
    assert pd.isna(row["cost_usd"])  # saved without a run
    with pytest.raises(ValueError, match="already exists"):
        save_scenario(db, scenario(), overwrite=False)


def test_rename_delete_and_review_flag(db) -> None:
    save_scenario(db, scenario("a"))
    save_scenario(db, scenario("b"))
    rename_scenario(db, "a", "  c ")
    assert sorted(list_scenarios(db)["name"]) == ["b", "c"]
    assert load_scenario(db, "c").name == "c"  # the stored spec follows the new name
    with pytest.raises(ValueError, match="already exists"):
        rename_scenario(db, "b", "c")
    with pytest.raises(ValueError, match="empty"):
        rename_scenario(db, "b", " ")
    set_marked_for_review(db, "b", True)
    assert scenarios_for_review(db)["name"].tolist() == ["b"]
    set_marked_for_review(db, "b", False)
    assert scenarios_for_review(db).empty
    delete_scenario(db, "b")
    assert list_scenarios(db)["name"].tolist() == ["c"]
    for call in (
        lambda: load_scenario(db, "b"),
        lambda: delete_scenario(db, "b"),
        lambda: rename_scenario(db, "b", "x"),
    ):
        with pytest.raises(ScenarioNotFound, match="no saved scenario named 'b'"):
            call()


def test_empty_store_lists_nothing(db) -> None:
    assert list_scenarios(db).empty and scenarios_for_review(db).empty
    assert "name" in list_scenarios(db).columns
