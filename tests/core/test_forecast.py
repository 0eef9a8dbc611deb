"""core/forecast (the package): known answers, metric definitions, band coverage on simulated data, edge cases,
the what-if helpers and the parallel path. Series are small (2-4 weeks hourly) so the file runs in
seconds."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import config_from_dict
from core.forecast import (
    AUTO_SHORTLIST,
    COMBINATION,
    COMBINE_TOP,
    MODELS,
    ForecastError,
    ForecastResult,
    KnownEvent,
    ModelScore,
    apply_events,
    apply_growth,
    backtest,
    candidate_models,
    capacity_exhaustion,
    choose_model,
    clear_forecast_cache,
    coverage,
    forecast,
    forecast_cache_info,
    forecast_many,
    infer_season_lengths,
    mase,
    max_capacity,
    naive_scale,
    parse_known_events,
    score_against_actual,
    smape,
    stored_forecast,
    summarize,
)

START = pd.Timestamp("2026-03-02 00:00", tz="UTC")
REPO = Path(__file__).resolve().parents[2]


def hourly(values: np.ndarray, start: pd.Timestamp = START) -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="h"))


def seasonal_series(days: int, noise: float = 0.0, seed: int = 0, level: float = 100.0) -> pd.Series:
    t = np.arange(days * 24)
    rng = np.random.default_rng(seed)
    return hourly(level + 20 * np.sin(2 * np.pi * t / 24) + noise * rng.normal(size=t.size))


# ---- metric definitions against hand-computed values --------------------------------------------------
def test_smape_matches_hand_computation():
    # terms: 2*10/210, 2*20/380, and 0 for a point where actual and forecast are both 0
    expected = 100 * (20 / 210 + 40 / 380 + 0) / 3
    assert smape([100, 200, 0], [110, 180, 0]) == pytest.approx(expected)


def test_mase_uses_the_in_sample_seasonal_naive_scale():
    insample = [10, 20, 12, 24, 14, 28]  # lag-2 differences 2, 4, 2, 4: scale 3
    assert naive_scale(insample, season=2) == pytest.approx(3.0)
    # absolute errors 1 and 3: MAE 2, scaled by 3
    assert mase([16, 32], [15, 29], insample, season=2) == pytest.approx(2 / 3)
    # lag-1 differences 10, 8, 12, 10, 14: scale 10.8
    assert mase([16, 32], [15, 29], insample, season=1) == pytest.approx(2 / 10.8)


def test_mase_on_a_flat_history_is_zero_when_perfect_and_infinite_otherwise():
    assert mase([5, 5], [5, 5], [5, 5, 5, 5]) == 0.0
    assert math.isinf(mase([5, 6], [5, 5], [5, 5, 5, 5]))


def test_coverage_counts_points_inside_the_band_bounds_included():
    assert coverage([1, 2, 3, 4], [0, 2, 3.5, 0], [2, 2, 4, 3]) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (pd.Timedelta(hours=1), (24, 168)),
        (pd.Timedelta(minutes=5), (288, 2016)),
        (pd.Timedelta(minutes=1), (1440, 10080)),
        (pd.Timedelta(days=1), (7,)),
        (pd.Timedelta(days=7), ()),
        (pd.Timedelta(minutes=7), ()),  # 1440/7 is not a whole number of steps
    ],
)
def test_season_lengths_follow_the_index_step(step, expected):
    assert infer_season_lengths(step) == expected


# ---- known answers -------------------------------------------------------------------------------------
def test_seasonal_naive_repeats_the_last_season():
    rng = np.random.default_rng(3)
    history = hourly(50 + rng.uniform(0, 10, size=24 * 5))
    result = forecast(history, 60, season_lengths=(24,), model="seasonal_naive")
    last_season = history.to_numpy()[-24:]
    np.testing.assert_array_equal(result.frame["mean"].to_numpy(), last_season[np.arange(60) % 24])
    assert result.model == "seasonal naive m=24"


def test_a_pure_seasonal_series_is_forecast_almost_exactly():
    history = seasonal_series(days=15)
    result = forecast(history, 48)
    t = np.arange(15 * 24, 15 * 24 + 48)
    truth = 100 + 20 * np.sin(2 * np.pi * t / 24)
    assert np.max(np.abs(result.frame["mean"].to_numpy() - truth)) < 0.01 * 20
    # several models forecast it (near) perfectly; the tie goes to the simplest, the seasonal naive
    assert result.model_key == "seasonal_naive"
    assert result.backtest is not None and result.backtest.score("seasonal_naive").mase == pytest.approx(
        0, abs=1e-9
    )


def test_a_linear_trend_is_extrapolated():
    t = np.arange(14 * 24)
    rng = np.random.default_rng(1)
    history = hourly(50 + 0.5 * t + rng.normal(0, 0.2, size=t.size))
    result = forecast(history, 48)
    future = np.arange(t.size, t.size + 48)
    truth = 50 + 0.5 * future
    mean = result.frame["mean"].to_numpy()
    assert np.max(np.abs(mean - truth) / truth) < 0.02, result.model
    slope = np.polyfit(np.arange(48), mean, 1)[0]
    assert slope == pytest.approx(0.5, rel=0.1)
    assert result.model_key != "seasonal_naive"


# ---- frame contract -----------------------------------------------------------------------------------
def test_forecast_frame_contract():
    history = seasonal_series(days=10, noise=2.0)
    result = forecast(history, 30, season_lengths=(24,), model="ets_additive")
    frame = result.frame
    assert list(frame.columns) == ["ts", "mean", "lo_80", "hi_80", "lo_95", "hi_95"]
    assert str(frame["ts"].dt.tz) == "UTC"
    assert frame["ts"].iloc[0] == history.index[-1] + pd.Timedelta(hours=1)
    assert len(frame) == 30 and frame["ts"].diff().dropna().eq(pd.Timedelta(hours=1)).all()
    assert (frame["lo_95"] <= frame["lo_80"]).all() and (frame["lo_80"] <= frame["mean"]).all()
    assert (frame["mean"] <= frame["hi_80"]).all() and (frame["hi_80"] <= frame["hi_95"]).all()
    assert result.model.startswith("ETS(A,N,A) m=24 alpha=")
    assert result.step == pd.Timedelta(hours=1)


def test_custom_levels_make_their_own_columns():
    result = forecast(
        seasonal_series(days=6, noise=1.0), 5, season_lengths=(24,), model="seasonal_naive", levels=(50, 99)
    )
    assert list(result.frame.columns) == ["ts", "mean", "lo_50", "hi_50", "lo_99", "hi_99"]


# ---- bands ---------------------------------------------------------------------------------------------
def test_bands_cover_about_their_level_on_simulated_data_with_known_noise():
    inside = {80: [], 95: []}
    for seed in range(8):
        full = seasonal_series(days=22, noise=2.0, seed=seed)
        history, future = full.iloc[:-48], full.iloc[-48:].to_numpy()
        frame = forecast(history, 48, season_lengths=(24,), model="ets_additive").frame
        for lv in inside:
            inside[lv].append((future >= frame[f"lo_{lv}"]) & (future <= frame[f"hi_{lv}"]))
    cov80 = float(np.concatenate(inside[80]).mean())
    cov95 = float(np.concatenate(inside[95]).mean())
    assert 0.70 <= cov80 <= 0.90, cov80
    assert 0.89 <= cov95 <= 0.99, cov95


def test_bands_too_narrow_in_the_backtest_are_widened():
    # noise that grows over time: the in-sample error understates the error at the end
    t = np.arange(21 * 24)
    rng = np.random.default_rng(5)
    history = hourly(100 + 10 * np.sin(2 * np.pi * t / 24) + rng.normal(size=t.size) * (0.2 + t / t.size * 6))
    own = forecast(history, 24, season_lengths=(24,), model="ets_additive", calibrate=False)
    calibrated = forecast(history, 24, season_lengths=(24,), model="ets_additive")
    score = calibrated.backtest.score("ets_additive")
    assert score.coverage[95] < 0.95
    assert calibrated.calibration[95] > 1
    np.testing.assert_allclose(calibrated.frame["mean"], own.frame["mean"])
    assert (calibrated.frame["hi_95"] >= own.frame["hi_95"] - 1e-9).all()
    assert (calibrated.frame["lo_95"] <= own.frame["lo_95"] + 1e-9).all()
    # the widened band reaches at least the backtest's upper 97.5% error quantile above the mean
    assert (calibrated.frame["hi_95"] - calibrated.frame["mean"]).min() >= min(score.errors.upper[95]) - 1e-9
    assert any("bands widened" in n for n in calibrated.notes)


def test_bands_that_covered_enough_are_not_widened():
    # noisy early weeks make the in-sample error (and the seasonal naive's band) larger than the errors
    # on the quiet last days the backtest holds out
    t = np.arange(21 * 24)
    rng = np.random.default_rng(11)
    noise = np.where(t < 14 * 24, 6.0, 1.0) * rng.normal(size=t.size)
    history = hourly(100 + 20 * np.sin(2 * np.pi * t / 24) + noise)
    own = forecast(history, 24, season_lengths=(24,), model="seasonal_naive", calibrate=False)
    calibrated = forecast(history, 24, season_lengths=(24,), model="seasonal_naive")
    assert calibrated.backtest.score("seasonal_naive").coverage[95] == 1.0
    assert calibrated.calibration == {80: 1.0, 95: 1.0}
    pd.testing.assert_frame_equal(calibrated.frame, own.frame)


# ---- choice of model ------------------------------------------------------------------------------------
def _score(model: str, value: float) -> ModelScore:
    return ModelScore(model, model, 10.0, value, {95: 0.95}, None, 0.1)


def test_auto_picks_the_lowest_mase_and_ties_go_to_the_simpler_model():
    assert choose_model([_score("seasonal_naive", 0.80), _score("ets_damped", 0.60)]) == "ets_damped"
    # within 1% of each other: a tie, and seasonal naive is simpler
    assert choose_model([_score("ets_damped", 0.500), _score("seasonal_naive", 0.504)]) == "seasonal_naive"
    failed = ModelScore("sarimax", "sarimax", float("nan"), float("nan"), {}, None, 0.0, "LinAlgError: boom")
    assert choose_model([failed, _score("theta", 2.0)]) == "theta"
    assert choose_model([failed]) is None


def test_backtest_scores_every_candidate_over_rolling_origin_folds():
    history = seasonal_series(days=14, noise=3.0, seed=2)
    result = backtest(history, 24, season_lengths=(24,))
    assert result.folds == 3 and result.horizon == 24
    table = result.table()
    assert set(table["model"]) >= {
        "seasonal_naive",
        "ets_additive",
        "ets_damped",
        "theta",
        "mstl_ets",
        "sarimax",
    }
    assert list(table["model"]) == sorted(table["model"], key=lambda m: MODELS[m][0])
    ok = table[table["error"] == ""]
    assert ok["mase"].notna().all() and (ok["coverage_95"].between(0, 1)).all()
    assert table.loc[table["chosen"], "model"].item() == choose_model(result.scores)
    # the seasonal naive's backtest MASE, computed by hand from the three folds
    y = history.to_numpy()
    folds = [(len(y) - k * 24) for k in (3, 2, 1)]
    by_hand = np.mean([mase(y[o : o + 24], y[o - 24 : o], y[:o], 24) for o in folds])
    assert result.score("seasonal_naive").mase == pytest.approx(by_hand)


def test_a_fixed_model_can_still_be_compared_with_all_candidates():
    history = seasonal_series(days=10, noise=2.0)
    result = forecast(history, 24, season_lengths=(24,), model="theta", compare_all=True)
    assert result.model_key == "theta"
    assert len(result.backtest.scores) > 3


# ---- robustness -----------------------------------------------------------------------------------------
def test_short_gaps_are_interpolated_and_long_gaps_are_reported():
    history = seasonal_series(days=14, noise=1.0)
    history.iloc[100:103] = np.nan  # 3 hours
    history.iloc[200:230] = np.nan  # 30 hours: longer than a quarter day
    result = forecast(history, 24, season_lengths=(24,), model="ets_additive")
    assert any("3 missing point(s) in short gaps interpolated" in n for n in result.notes)
    assert any(n.startswith("gap of 30 steps") for n in result.notes)
    assert np.isfinite(result.frame.drop(columns="ts").to_numpy()).all()


def test_missing_timestamps_count_as_gaps():
    history = seasonal_series(days=8, noise=1.0)
    dropped = history.drop(history.index[50:52])
    result = forecast(dropped, 12, season_lengths=(24,), model="seasonal_naive")
    assert any("2 missing point(s)" in n for n in result.notes)
    assert result.frame["ts"].iloc[0] == history.index[-1] + pd.Timedelta(hours=1)


def test_outliers_can_be_down_weighted():
    history = seasonal_series(days=14, noise=1.0)
    history.iloc[-10:-7] *= 20  # an incident spike in the last day
    kept = forecast(history, 24, season_lengths=(24,), model="seasonal_naive", calibrate=False)
    damped = forecast(
        history, 24, season_lengths=(24,), model="seasonal_naive", calibrate=False, outliers="downweight"
    )
    assert kept.frame["mean"].max() > 1000
    truth = 100 + 20 * np.sin(2 * np.pi * np.arange(14 * 24, 15 * 24) / 24)
    assert np.max(np.abs(damped.frame["mean"].to_numpy() - truth)) < 10
    assert any("outlier point(s) down-weighted" in n for n in damped.notes)


def test_a_constant_series_is_forecast_as_that_constant():
    history = hourly(np.full(24 * 10, 42.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = forecast(history, 12)
    assert result.model_key == "constant"
    for col in ("mean", "lo_80", "hi_80", "lo_95", "hi_95"):
        assert (result.frame[col] == 42.0).all()
    assert any("constant" in n for n in result.notes)


def test_very_short_history_falls_back_and_says_why():
    result = forecast(hourly(np.array([3.0, 4.0, 5.0, 4.0, 6.0])), 6)
    assert result.model_key == "seasonal_naive"
    assert result.model == "naive (last value)"
    assert (result.frame["mean"] == 6.0).all()
    assert any("only 5 points" in n for n in result.notes)
    assert any("too short to backtest" in n for n in result.notes)


def test_history_shorter_than_two_seasons_skips_seasonal_models():
    rng = np.random.default_rng(0)
    history = hourly(100 + rng.normal(0, 1, size=40))  # < 2 days: no daily cycle to learn
    result = forecast(history, 12)
    assert any("no season has two full cycles" in n for n in result.notes)
    assert "mstl_ets" not in {s.model for s in result.backtest.scores}


def test_non_negative_metrics_are_never_forecast_below_zero():
    t = np.arange(10 * 24)
    rng = np.random.default_rng(4)
    history = hourly(np.maximum(0, 30 - 0.12 * t + rng.normal(0, 0.5, size=t.size)))
    result = forecast(history, 120, season_lengths=(24,), model="ets_trend")
    assert (result.frame.drop(columns="ts").to_numpy() >= 0).all()
    # the same shape shifted below zero may go negative: nothing to clip
    shifted = forecast(history - 50, 120, season_lengths=(24,), model="ets_trend")
    assert (shifted.frame["mean"] < 0).any()


def test_statsmodels_warnings_do_not_leak():
    rng = np.random.default_rng(9)
    t = np.arange(9 * 24)
    # spiky, nearly flat data makes statsmodels warn about convergence and frequencies
    history = hourly(np.where(rng.uniform(size=t.size) < 0.05, 50.0, 1.0) + 0.001 * rng.normal(size=t.size))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = forecast(history, 24)
    assert np.isfinite(result.frame["mean"]).all()


@pytest.mark.parametrize(
    ("history", "message"),
    [
        (pd.Series([1.0, 2.0, 3.0]), "DatetimeIndex"),
        (hourly(np.full(10, np.nan)), "no numeric values"),
        ([1, 2, 3], "pandas Series"),
    ],
)
def test_unusable_history_raises_a_clear_error(history, message):
    with pytest.raises(ForecastError, match=message):
        forecast(history, 5)


def test_unknown_model_and_bad_horizon_raise_clear_errors():
    history = seasonal_series(days=3)
    with pytest.raises(ForecastError, match="unknown model 'prophet'"):
        forecast(history, 5, model="prophet")
    with pytest.raises(ForecastError, match="horizon must be a positive"):
        forecast(history, 0)


def test_naive_timestamps_are_taken_as_utc():
    history = seasonal_series(days=3)
    history.index = history.index.tz_localize(None)
    result = forecast(history, 3, model="seasonal_naive")
    assert str(result.frame["ts"].dt.tz) == "UTC"


# ---- many series in parallel ----------------------------------------------------------------------------
def test_forecast_many_in_a_process_pool_matches_one_by_one():
    series = {f"r{i}": seasonal_series(days=6, noise=1.0, seed=i) for i in range(3)}
    series["empty"] = hourly(np.full(30, np.nan))
    kwargs = {"season_lengths": (24,), "model": "ets_additive"}
    seen = []
    batch = forecast_many(series, 12, workers=2, progress=lambda f, text: seen.append(f), **kwargs)
    assert batch.workers == 2
    assert set(batch.results) == {"r0", "r1", "r2"}
    assert "no numeric values" in batch.errors["empty"]
    assert seen[-1] == pytest.approx(1.0)
    for name in ("r0", "r2"):
        alone = forecast(series[name], 12, cache=False, **kwargs)  # a fresh fit, not the pool's stored one
        pd.testing.assert_frame_equal(batch.results[name].frame, alone.frame)


def test_forecast_many_accepts_a_wide_frame_and_runs_in_process_with_one_worker():
    wide = pd.DataFrame({"a": seasonal_series(days=4, noise=1.0), "b": seasonal_series(days=4, seed=1)})
    batch = forecast_many(wide, 6, workers=1, season_lengths=(24,), model="seasonal_naive")
    assert batch.workers == 1 and list(batch.results) == ["a", "b"] and not batch.errors


# ---- what-if helpers --------------------------------------------------------------------------------------
def _frame(values: list[float], spread: float = 1.0) -> pd.DataFrame:
    ts = pd.date_range(START, periods=len(values), freq="D")
    v = np.asarray(values, dtype=float)
    return pd.DataFrame({"ts": ts, "mean": v, "lo_95": v - spread, "hi_95": v + spread})


def test_growth_override_compounds_per_month():
    month = pd.Timedelta(days=365.25 / 12)
    frame = pd.DataFrame(
        {"ts": [START, START + month, START + 2 * month], "mean": [100.0] * 3, "hi_95": [110.0] * 3}
    )
    grown = apply_growth(frame, 10.0)
    np.testing.assert_allclose(grown["mean"], [100.0, 110.0, 121.0])
    np.testing.assert_allclose(grown["hi_95"], [110.0, 121.0, 133.1])
    assert (frame["mean"] == 100).all()  # the input is not modified
    with pytest.raises(ForecastError):
        apply_growth(frame, -100)


def test_known_events_scale_only_their_window():
    frame = _frame([10, 10, 10, 10, 10])
    sale = KnownEvent("sale", START + timedelta(days=1), START + timedelta(days=3), 2.0)
    out = apply_events(frame, [sale])
    np.testing.assert_allclose(out["mean"], [10, 20, 20, 10, 10])  # end is exclusive
    np.testing.assert_allclose(out["hi_95"], [11, 22, 22, 11, 11])
    overlap = KnownEvent("launch", START + timedelta(days=2), START + timedelta(days=4), 1.5)
    np.testing.assert_allclose(apply_events(frame, [sale, overlap])["mean"], [10, 20, 30, 15, 10])
    with pytest.raises(ForecastError, match="end must be after start"):
        apply_events(frame, [KnownEvent("bad", START, START, 2.0)])


def test_capacity_exhaustion_finds_the_first_crossing():
    frame = _frame([1, 2, 3, 4])
    assert capacity_exhaustion(frame, 3.5) == frame["ts"].iloc[3]
    assert capacity_exhaustion(frame, 3.5, column="hi_95") == frame["ts"].iloc[2]
    assert capacity_exhaustion(frame, 10) is None
    with pytest.raises(ForecastError):
        capacity_exhaustion(frame, 3, column="hi_99")


def test_max_capacity_comes_from_the_fleet():
    cfg = config_from_dict(
        {
            "region": [{"code": "eu-west-1", "name": "Ireland", "lat": 53.3, "lon": -6.3, "timezone": "UTC"}],
            "fleet": [
                {
                    "name": "api-eu",
                    "service": "api",
                    "region": "eu-west-1",
                    "capacity_per_instance": 40.0,
                    "min_instances": 2,
                    "max_instances": 25,
                }
            ],
        }
    )
    assert max_capacity(cfg, "eu-west-1", "requests_per_second") == 1000.0
    assert max_capacity(cfg, "eu-west-1", "latency_p95_ms") is None
    assert max_capacity(cfg, "us-east-1", "requests_per_second") is None


def test_score_against_actual_compares_a_saved_forecast_with_what_happened():
    frame = _frame([10, 20, 30])
    actual = pd.Series([11.0, 20.0, 40.0, 99.0], index=pd.date_range(START, periods=4, freq="D"))
    scores = score_against_actual(frame, actual, insample=pd.Series([1.0, 3.0, 5.0]))
    assert scores["points"] == 3
    assert scores["smape"] == pytest.approx(100 * (2 / 21 + 0 + 20 / 70) / 3)
    assert scores["mase"] == pytest.approx((1 + 0 + 10) / 3 / 2)
    assert scores["coverage_95"] == pytest.approx(2 / 3)


def test_forecast_reports_utc_history_end():
    history = seasonal_series(days=3)
    result = forecast(history, 2, model="seasonal_naive")
    assert result.history_end == history.index[-1]
    assert result.history_end.tzinfo is not None
    assert datetime(2026, 3, 4, 23, tzinfo=UTC) == result.history_end


def test_known_events_are_read_from_text_with_clear_errors():
    text = """# planned
2026-11-27 .. 2026-11-30 x1.8 Black Friday
2026-12-01 10:00 to 2026-12-01 14:00 x0.5
next tuesday x3
2026-12-05 .. 2026-12-01 x2 backwards
"""
    events, problems = parse_known_events(text)
    assert events == [
        KnownEvent(
            "Black Friday", datetime(2026, 11, 27, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), 1.8
        ),
        KnownEvent(
            "event 2", datetime(2026, 12, 1, 10, tzinfo=UTC), datetime(2026, 12, 1, 14, tzinfo=UTC), 0.5
        ),
    ]
    assert problems[0].startswith("line 4: 'next tuesday x3' is not")
    assert problems[1] == "line 5: the end (2026-12-01) is before the start (2026-12-05)"
    assert parse_known_events("") == ([], [])


def test_summary_reports_peak_headroom_and_both_exhaustion_dates():
    frame = _frame([100, 300, 250, 450], spread=100)
    result = ForecastResult(
        frame=frame,
        model="m",
        model_key="seasonal_naive",
        levels=(95,),
        season_lengths=(),
        step=pd.Timedelta(days=1),
        history_end=START - pd.Timedelta(days=1),
        backtest=None,
        calibration={95: 1.0},
    )
    s = summarize(result, capacity=400)
    assert (s.peak, s.peak_at) == (450, frame["ts"].iloc[3])
    assert s.exhaustion_mean == frame["ts"].iloc[3] and s.exhaustion_upper == frame["ts"].iloc[1]
    assert s.headroom == pytest.approx(1 - 450 / 400)
    assert math.isnan(s.backtest_mase)
    without = summarize(result)
    assert without.capacity is None and without.exhaustion_mean is None and without.headroom is None


def test_importing_the_module_does_not_import_statsmodels():
    # pages import core.forecast on every start; statsmodels costs seconds and loads only when fitting
    code = "import sys, core.forecast; print(any(m.startswith('statsmodels') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"


# ---- combination, daily seasonal naive, log transform, calibrated bands, fit cache -----------------------
def weekly_series(weeks: int, noise: float = 2.0, seed: int = 0) -> pd.Series:
    """Hourly demand with a daily and a weekly cycle (weekend lower) and Gaussian noise."""
    t = np.arange(weeks * 168)
    rng = np.random.default_rng(seed)
    weekend = np.where((t // 24) % 7 >= 5, -15.0, 0.0)
    return hourly(100 + 20 * np.sin(2 * np.pi * t / 24) + weekend + noise * rng.normal(size=t.size))


def test_the_combination_is_the_median_of_the_three_best_candidates():
    history = weekly_series(weeks=5, seed=1)
    result = forecast(history, 48, model=COMBINATION)
    bt = result.backtest
    assert result.model_key == COMBINATION and len(bt.members) == COMBINE_TOP
    scored = sorted((s for s in bt.scores if s.ok and s.model != COMBINATION), key=lambda s: s.mase)
    assert list(bt.members) == [s.model for s in scored[:COMBINE_TOP]]
    members = [forecast(history, 48, model=m, calibrate=False).frame["mean"] for m in bt.members]
    np.testing.assert_allclose(result.frame["mean"], np.median(np.vstack(members), axis=0))
    assert result.model.startswith(f"median of {COMBINE_TOP}: ")
    # it was scored on the same folds as the candidates it combines; auto takes it only when it wins
    assert bt.score(COMBINATION).ok
    assert bt.chosen == choose_model(bt.scores)


def test_the_combination_is_the_most_complex_candidate_in_the_choice():
    combined = ModelScore(COMBINATION, "median", 10.0, 0.50, {95: 0.95}, None, 0.1)
    # better than every single model by more than the tie tolerance: the combination
    assert choose_model([_score("ar_direct", 0.55), combined]) == COMBINATION
    # tied with a single model (within 1%) or worse: the simpler single model
    assert choose_model([_score("ar_direct", 0.503), combined]) == "ar_direct"
    assert choose_model([_score("ar_direct", 0.30), combined]) == "ar_direct"
    # a failed combination leaves the usual choice
    failed = ModelScore(COMBINATION, "median", float("nan"), float("nan"), {}, None, 0.0, "needs 3")
    assert choose_model([_score("theta", 0.9), _score("ar_seasonal", 0.8), failed]) == "ar_seasonal"


def test_the_short_seasonal_naive_repeats_yesterday_and_the_default_repeats_last_week():
    history = weekly_series(weeks=3, noise=1.0)
    values = history.to_numpy()
    daily = forecast(history, 48, model="seasonal_naive_short", calibrate=False)
    weekly = forecast(history, 48, model="seasonal_naive", calibrate=False)
    np.testing.assert_array_equal(daily.frame["mean"], values[-24:][np.arange(48) % 24])
    np.testing.assert_array_equal(weekly.frame["mean"], values[-168:][np.arange(48)])
    assert daily.model == "seasonal naive m=24" and weekly.model == "seasonal naive m=168"
    # with only one usable season it is not a candidate (it would repeat seasonal_naive)
    names, _ = candidate_models(24 * 10, (24, 168), positive=True)
    assert "seasonal_naive_short" not in names
    assert "seasonal_naive_short" in candidate_models(24 * 21, (24, 168), positive=True)[0]


def test_the_log_transform_gives_multiplicative_positive_bands():
    # a swing of -90%..+90% around the level: a plain model's band would reach below zero
    t = np.arange(21 * 24)
    rng = np.random.default_rng(2)
    history = hourly(20 * (1 + 0.9 * np.sin(2 * np.pi * t / 24)) * np.exp(0.1 * rng.normal(size=t.size)))
    logged = forecast(history, 48, season_lengths=(24,), model="ar_seasonal_log", calibrate=False)
    plain = forecast(
        history, 48, season_lengths=(24,), model="ar_seasonal", calibrate=False, non_negative=False
    )
    frame = logged.frame
    assert (frame["lo_95"] > 0).all() and (plain.frame["lo_95"] < 0).any()
    # back-transformed, the band is wider above the forecast than below it, more so where it is high
    above, below = frame["hi_95"] - frame["mean"], frame["mean"] - frame["lo_95"]
    assert (above > below).all()
    peak, trough = frame["mean"].idxmax(), frame["mean"].idxmin()
    assert above[peak] > 3 * above[trough]
    assert "log values" in logged.model
    # not for a series with zeros or negatives: not a candidate, and asked for, the fallback says why
    assert "ar_seasonal_log" not in candidate_models(len(history), (24,), positive=False)[0]
    fallback = forecast(history - 200, 12, season_lengths=(24,), model="ar_seasonal_log")
    assert fallback.model_key == "seasonal_naive"
    assert any("strictly positive" in n for n in fallback.notes)


def test_auto_bands_reach_their_level_on_a_series_with_known_noise():
    inside = {80: [], 95: []}
    for seed in range(6):
        full = weekly_series(weeks=5, noise=3.0, seed=seed)
        history, future = full.iloc[:-48], full.iloc[-48:].to_numpy()
        result = forecast(history, 48)
        assert set(result.band_coverage) == {80, 95}
        assert all(0.0 <= c <= 1.0 for c in result.band_coverage.values())
        for lv in inside:
            inside[lv].append((future >= result.frame[f"lo_{lv}"]) & (future <= result.frame[f"hi_{lv}"]))
    cov80 = float(np.concatenate(inside[80]).mean())
    cov95 = float(np.concatenate(inside[95]).mean())
    assert 0.70 <= cov80 <= 0.92, cov80
    assert 0.88 <= cov95 <= 0.995, cov95


def test_identical_calls_reuse_the_stored_fit_and_new_data_refits():
    clear_forecast_cache()
    history = seasonal_series(days=10, noise=1.0, seed=4)
    first = forecast(history, 24, season_lengths=(24,), model="ar_seasonal")
    again = forecast(history, 24, season_lengths=(24,), model="ar_seasonal")
    assert not first.cached and again.cached
    pd.testing.assert_frame_equal(first.frame, again.frame)
    again.frame["mean"] = 0.0  # a caller editing its copy does not change the stored fit
    assert not (forecast(history, 24, season_lengths=(24,), model="ar_seasonal").frame["mean"] == 0).all()
    # other settings or other values: a new fit
    assert not forecast(history, 12, season_lengths=(24,), model="ar_seasonal").cached
    changed = history.copy()
    changed.iloc[-1] += 1
    assert not forecast(changed, 24, season_lengths=(24,), model="ar_seasonal").cached
    assert not forecast(history, 24, season_lengths=(24,), model="ar_seasonal", cache=False).cached
    info = forecast_cache_info()
    assert info["hits"] == 2 and info["size"] == 3


def test_forecast_many_reuses_fits_stored_in_this_process():
    clear_forecast_cache()
    series = {
        "a": seasonal_series(days=6, noise=1.0, seed=7),
        "b": seasonal_series(days=6, noise=1.0, seed=8),
    }
    kwargs = {"season_lengths": (24,), "model": "ar_seasonal"}
    alone = forecast(series["a"], 12, **kwargs)
    batch = forecast_many(series, 12, workers=1, **kwargs)
    assert batch.results["a"].cached and not batch.results["b"].cached
    pd.testing.assert_frame_equal(batch.results["a"].frame, alone.frame)
    assert forecast(series["b"], 12, **kwargs).cached


def test_stored_forecast_returns_a_stored_fit_without_fitting():
    clear_forecast_cache()
    history = seasonal_series(days=6, noise=1.0, seed=9)
    kwargs = {"season_lengths": (24,), "model": "ar_seasonal"}
    assert stored_forecast(history, 12, **kwargs) is None  # nothing stored: no fit either
    assert forecast_cache_info()["size"] == 0
    fitted = forecast(history, 12, **kwargs)
    stored = stored_forecast(history, 12, progress=lambda f, text: None, **kwargs)
    assert stored is not None and stored.cached
    pd.testing.assert_frame_equal(stored.frame, fitted.frame)
    assert stored_forecast(history, 24, **kwargs) is None  # another horizon is another fit
    assert stored_forecast(history, 12, season_lengths=(24,), model="seasonal_naive") is None


def test_pool_workers_import_the_fitters_when_they_start():
    """A new worker imports statsmodels before its first series, so no fit pays the import."""
    from core.forecast import pool

    pool.shutdown_pool()
    try:
        worker_pool = pool._shared_pool(1)
        loaded = worker_pool.submit(_statsmodels_modules_loaded).result(timeout=120)
        assert {"statsmodels.tsa.exponential_smoothing.ets", "statsmodels.tsa.statespace.sarimax"} <= loaded
    finally:
        pool.shutdown_pool()


def _statsmodels_modules_loaded() -> set[str]:
    return {name for name in sys.modules if name.startswith("statsmodels.tsa.")}


# ---- auto's candidates limited (the Forecast page's shortlist, issue 17) ----------------------------------
def test_auto_backtests_only_the_candidates_given():
    history = seasonal_series(days=14, noise=3.0, seed=2)
    result = forecast(history, 24, season_lengths=(24,), candidates=AUTO_SHORTLIST)
    scored = {s.model for s in result.backtest.scores}
    assert scored <= {*AUTO_SHORTLIST, COMBINATION} and COMBINATION in scored
    assert not scored & {"theta", "mstl_ets", "sarimax", "ets_level"}
    assert result.model_key in scored
    full = forecast(history, 24, season_lengths=(24,))
    assert {"theta", "mstl_ets", "sarimax"} <= {s.model for s in full.backtest.scores}  # the default: all
    # the seasonal naive (MASE's baseline and the fallback) is always scored
    only_ets = backtest(history, 24, season_lengths=(24,), candidates=("ets_additive",))
    assert {s.model for s in only_ets.scores} == {"seasonal_naive", "ets_additive", COMBINATION}


def test_a_fixed_model_outside_the_candidates_is_still_scored_and_calibrated():
    history = seasonal_series(days=10, noise=2.0)
    result = forecast(
        history, 24, season_lengths=(24,), model="theta", compare_all=True, candidates=AUTO_SHORTLIST
    )
    assert result.model_key == "theta"
    scored = [s.model for s in result.backtest.scores]
    assert "theta" in scored and "mstl_ets" not in scored
    assert scored == sorted(scored, key=lambda m: MODELS[m][0])  # simplest first, the combination last
    assert result.backtest.score("theta").ok and result.band_coverage


def test_unknown_candidates_are_named():
    history = seasonal_series(days=6)
    with pytest.raises(ForecastError, match="prophet"):
        forecast(history, 12, season_lengths=(24,), candidates=("ets_additive", "prophet"))
    with pytest.raises(ForecastError, match="candidates must be model keys"):
        forecast(history, 12, season_lengths=(24,), candidates="ets_additive")


def test_the_candidates_are_part_of_the_stored_fit_key():
    clear_forecast_cache()
    history = seasonal_series(days=8, noise=1.0, seed=11)
    short = forecast(history, 12, season_lengths=(24,), candidates=list(AUTO_SHORTLIST))
    assert not forecast(history, 12, season_lengths=(24,)).cached  # every candidate: another fit
    again = stored_forecast(history, 12, season_lengths=(24,), candidates=AUTO_SHORTLIST)
    assert again is not None and again.cached  # a list and a tuple of the same keys are one fit
    pd.testing.assert_frame_equal(again.frame, short.frame)


def test_pool_workers_exit_when_their_parent_is_killed():
    """A server killed without shutting the pool down (SIGKILL) must not leave its workers running."""
    import time

    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, signal, sys\n"
            f"sys.path.insert(0, {str(REPO)!r})\n"
            "from core.forecast import pool\n"
            "print(pool._shared_pool(1).submit(os.getpid).result(timeout=120), flush=True)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    worker = int(parent.stdout.readline())
    assert parent.wait(timeout=60) == -9
    deadline = time.monotonic() + 60
    while _running(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _running(worker), f"worker {worker} outlived its parent"


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's exit is reaped by init, which in a container may not reap)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
