"""Accuracy measures (M4 definitions): sMAPE, MASE against the in-sample seasonal naive, band coverage."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


# ---- accuracy measures --------------------------------------------------------------------------------
def smape(actual: Sequence[float] | np.ndarray, predicted: Sequence[float] | np.ndarray) -> float:
    """Symmetric MAPE in percent: mean of 200 |y - f| / (|y| + |f|); a point where both are 0 counts as 0."""
    y = np.asarray(actual, dtype=float)
    f = np.asarray(predicted, dtype=float)
    den = np.abs(y) + np.abs(f)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(den == 0, 0.0, 2.0 * np.abs(y - f) / den)
    return float(100.0 * terms.mean()) if terms.size else float("nan")


def naive_scale(insample: Sequence[float] | np.ndarray, season: int = 1) -> float:
    """In-sample mean absolute error of the seasonal naive forecast (lag `season`): MASE's denominator."""
    x = np.asarray(insample, dtype=float)
    m = season if len(x) > season else 1
    if len(x) <= m:
        return float("nan")
    return float(np.mean(np.abs(x[m:] - x[:-m])))


def mase(
    actual: Sequence[float] | np.ndarray,
    predicted: Sequence[float] | np.ndarray,
    insample: Sequence[float] | np.ndarray,
    season: int = 1,
) -> float:
    """Mean absolute error scaled by the in-sample seasonal naive MAE. A history the seasonal naive
    repeats exactly (flat, or purely periodic) has a zero scale (up to float rounding): MASE is then 0
    for a forecast as exact and infinite otherwise."""
    y = np.asarray(actual, dtype=float)
    f = np.asarray(predicted, dtype=float)
    mae = float(np.mean(np.abs(y - f)))
    scale = naive_scale(insample, season)
    if not math.isfinite(scale):
        return float("nan")
    rounding = 1e-9 * (1.0 + float(np.mean(np.abs(np.asarray(insample, dtype=float)))))
    if scale <= rounding:
        return 0.0 if mae <= rounding else float("inf")
    return mae / scale


def coverage(
    actual: Sequence[float] | np.ndarray, lo: Sequence[float] | np.ndarray, hi: Sequence[float] | np.ndarray
) -> float:
    """Fraction of actual points inside [lo, hi] (bounds included)."""
    y = np.asarray(actual, dtype=float)
    inside = (y >= np.asarray(lo, dtype=float)) & (y <= np.asarray(hi, dtype=float))
    return float(inside.mean()) if inside.size else float("nan")
