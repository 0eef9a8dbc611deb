"""The combination candidate: the median of the best few candidates by backtest.

M4's lesson for hourly data: a median (or mean) of several good models beats choosing one by a short
backtest, because the backtest's choice is noisy. The combination is scored on the same folds as its
members (from their fold forecasts: no extra fits) and competes with them in choose_model as the most
complex candidate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.forecast.domain import COMBINATION, COMBINE_TOP, MODELS, ModelScore
from core.forecast.fitting import _Fit


def _pick_members(scores: Sequence[ModelScore]) -> list[str]:
    """The COMBINE_TOP candidates with the lowest backtest MASE (ties: the simpler), best first; empty
    when fewer than COMBINE_TOP could be scored."""
    ok = [s for s in scores if s.ok and s.model != COMBINATION]
    if len(ok) < COMBINE_TOP:
        return []
    ranked = sorted(ok, key=lambda s: (s.mase, MODELS.get(s.model, (99, ""))[0]))
    return [s.model for s in ranked[:COMBINE_TOP]]


def _combine(fits: Sequence[_Fit]) -> _Fit:
    """Median of the members' means; each band edge is the median of the members' edges (the backtest
    then calibrates it like any model's own band)."""
    mean = np.median(np.vstack([f.mean for f in fits]), axis=0)
    bands = {}
    for lv in fits[0].bands:
        lo = np.median(np.vstack([f.bands[lv][0] for f in fits]), axis=0)
        hi = np.median(np.vstack([f.bands[lv][1] for f in fits]), axis=0)
        bands[lv] = (lo, hi)
    label = f"median of {len(fits)}: " + "; ".join(f.label for f in fits)
    return _Fit(mean, bands, label)
