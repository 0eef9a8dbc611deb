"""Band calibration from held-out backtest errors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.forecast.domain import ErrorQuantiles
from core.forecast.fitting import _Fit

MIN_ERRORS_PER_SEGMENT = 60  # held-out errors per horizon segment for a usable 95% quantile


def _error_quantiles(errors: np.ndarray, levels: Sequence[int]) -> ErrorQuantiles:
    """Quantiles of the signed errors (folds x steps) in up to 4 horizon segments, so a band can grow
    with the horizon; conservative order statistics (the lower quantile rounds down, the upper up)."""
    folds, h = errors.shape
    segments = max(1, min(4, errors.size // MIN_ERRORS_PER_SEGMENT, h))
    edges = np.linspace(0, h, segments + 1).round().astype(int)
    centers, lower, upper = [], {lv: [] for lv in levels}, {lv: [] for lv in levels}
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        chunk = errors[:, a:b].ravel()
        centers.append((a + b - 1) / 2)
        for lv in levels:
            tail = (1 - lv / 100) / 2
            lower[lv].append(float(np.quantile(chunk, tail, method="lower")))
            upper[lv].append(float(np.quantile(chunk, 1 - tail, method="higher")))
    return ErrorQuantiles(
        tuple(centers), {lv: tuple(v) for lv, v in lower.items()}, {lv: tuple(v) for lv, v in upper.items()}
    )


def _widen(fit: _Fit, errors: ErrorQuantiles, levels: Sequence[int]) -> tuple[_Fit, dict[int, float]]:
    """For each of `levels`, the band becomes the wider of the model's own and the mean plus the
    backtest's error quantiles at that horizon (interpolated between segment centres): only ever
    widened. Returns the new fit and, per level, the mean width after / before."""
    steps = np.arange(len(fit.mean))
    bands, factors = {}, {}
    for lv, (lo, hi) in fit.bands.items():
        if lv not in levels or lv not in errors.lower:
            bands[lv], factors[lv] = (lo, hi), 1.0
            continue
        lo_q = np.interp(steps, errors.centers, errors.lower[lv])
        hi_q = np.interp(steps, errors.centers, errors.upper[lv])
        new_lo, new_hi = np.minimum(lo, fit.mean + lo_q), np.maximum(hi, fit.mean + hi_q)
        before = float(np.mean(hi - lo))
        after = float(np.mean(new_hi - new_lo))
        factors[lv] = after / before if before > 0 else (1.0 if after == 0 else float("inf"))
        bands[lv] = (new_lo, new_hi)
    return _Fit(fit.mean, bands, fit.label), factors


def _band_coverage(fit: _Fit, fold_errors: np.ndarray | None, levels: Sequence[int]) -> dict[int, float]:
    """Share of the backtest's held-out errors (folds x steps) inside each final band, the band taken as
    offsets from the mean step by step (steps past the forecast's horizon are left out)."""
    if fold_errors is None or fold_errors.size == 0:
        return {}
    steps = min(fold_errors.shape[1], len(fit.mean))
    errors = fold_errors[:, :steps]
    out = {}
    for lv in levels:
        lo, hi = fit.bands[lv]
        lo_off, hi_off = (lo - fit.mean)[:steps], (hi - fit.mean)[:steps]
        out[lv] = float(((errors >= lo_off - 1e-12) & (errors <= hi_off + 1e-12)).mean())
    return out
