"""core.forecast's `candidates` option: auto's choice narrowed to given model keys (core.costs passes the
candidates that can win on a short daily series; everyone else keeps the full set)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.forecast import COMBINATION, ForecastError, forecast


def daily_series(days: int = 40, seed: int = 3) -> pd.Series:
    rng = np.random.default_rng(seed)
    weekly = np.array([100.0, 104.0, 103.0, 105.0, 101.0, 70.0, 66.0])
    values = weekly[np.arange(days) % 7] + rng.normal(0.0, 2.0, days)
    return pd.Series(values, index=pd.date_range("2026-01-01", periods=days, freq="D", tz="UTC"))


def test_candidates_narrow_the_backtest_and_keep_the_seasonal_naive_and_the_combination() -> None:
    result = forecast(
        daily_series(), 10, season_lengths=(7,), candidates=("ets_additive", "ar_seasonal"), cache=False
    )
    scored = [s.model for s in result.backtest.scores]
    assert scored == ["seasonal_naive", "ets_additive", "ar_seasonal", COMBINATION]
    assert result.model_key in scored
    assert len(result.frame) == 10


def test_without_candidates_every_model_the_data_allows_is_backtested() -> None:
    result = forecast(daily_series(), 10, season_lengths=(7,), cache=False)
    scored = {s.model for s in result.backtest.scores}
    assert {"ets_damped", "theta", "sarimax", "mstl_ets", "ar_direct"} <= scored


def test_the_candidate_list_is_part_of_the_cache_key() -> None:
    history = daily_series(seed=5)
    narrow = forecast(history, 7, season_lengths=(7,), candidates=("ets_additive",))
    full = forecast(history, 7, season_lengths=(7,))
    assert not full.cached  # not the narrow result stored under the same key
    assert len(full.backtest.scores) > len(narrow.backtest.scores)


@pytest.mark.parametrize("bad", [("ets_additive", "prophet"), (COMBINATION,)])
def test_an_unknown_candidate_is_refused_by_name(bad: tuple[str, ...]) -> None:
    with pytest.raises(ForecastError, match=repr(bad[-1])):
        forecast(daily_series(), 7, season_lengths=(7,), candidates=bad, cache=False)
