"""Numeric and time-index helpers the capacity modules share (package-internal)."""

from __future__ import annotations

import numpy as np
import pandas as pd

# ceil(x - _EPS): float noise (10 x 0.66 / 0.6 = 11.000000000000002) must not add an instance
_EPS = 1e-9


def _ns(index: pd.Index) -> np.ndarray:
    """Nanoseconds since the epoch whatever the index's resolution (pandas 3 infers s/ms/us/ns)."""
    return pd.DatetimeIndex(index).as_unit("ns").asi8


def _series_step(index: pd.Index) -> pd.Timedelta:
    if len(index) < 2:
        return pd.Timedelta(minutes=1)
    diffs = np.diff(_ns(index))
    return pd.Timedelta(int(np.median(diffs)), unit="ns")
