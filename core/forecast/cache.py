"""Fits reused across calls, sessions and pages: an LRU cache keyed by a hash of the history (values and
timestamps) and every setting that changes the result.

A Streamlit server is one process, so every session and page that asks for the same forecast of the
same data gets the stored result instead of refitting (the Forecast page reruns its script on every
widget change). forecast_many looks here before sending a series to a worker process, and stores what
the workers return.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from core.forecast.domain import ForecastResult

CACHE_SIZE = 256  # results kept (a 7-day hourly forecast is ~20 kB)
# forecast() keywords that do not change the result
_NOT_IN_KEY = ("history", "progress", "cache", "backtest_result")

_entries: OrderedDict[str, ForecastResult] = OrderedDict()
_lock = threading.Lock()
_stats = {"hits": 0, "misses": 0}


def fingerprint(history: pd.Series, settings: Mapping[str, Any]) -> str | None:
    """Hash of the history's values, timestamps and time zone plus the settings; None when the history
    is not a time-indexed Series (forecast() then raises its own clear error)."""
    if not isinstance(history, pd.Series) or not isinstance(history.index, pd.DatetimeIndex):
        return None
    try:
        values = pd.to_numeric(history, errors="coerce").to_numpy(dtype="float64")
    except (TypeError, ValueError):
        return None
    digest = hashlib.blake2b(digest_size=20)
    digest.update(np.ascontiguousarray(values).tobytes())
    digest.update(np.ascontiguousarray(history.index.as_unit("ns").asi8).tobytes())
    digest.update(str(history.index.tz).encode())
    digest.update(repr(sorted((k, repr(v)) for k, v in settings.items() if k not in _NOT_IN_KEY)).encode())
    return digest.hexdigest()


def get(key: str | None) -> ForecastResult | None:
    """The stored result (its frame copied, so a caller that edits it cannot change the cache)."""
    if key is None:
        return None
    with _lock:
        result = _entries.get(key)
        if result is None:
            _stats["misses"] += 1
            return None
        _entries.move_to_end(key)
        _stats["hits"] += 1
    return replace(result, frame=result.frame.copy(), cached=True)


def put(key: str | None, result: ForecastResult) -> None:
    if key is None:
        return
    with _lock:
        _entries[key] = replace(result, frame=result.frame.copy(), cached=False)
        _entries.move_to_end(key)
        while len(_entries) > CACHE_SIZE:
            _entries.popitem(last=False)


def clear_forecast_cache() -> None:
    """Forget every stored fit (tests, or after changing a module constant in a notebook)."""
    with _lock:
        _entries.clear()
        _stats.update(hits=0, misses=0)


def forecast_cache_info() -> dict[str, int]:
    """hits, misses and size of the fit cache in this process."""
    with _lock:
        return {**_stats, "size": len(_entries)}
