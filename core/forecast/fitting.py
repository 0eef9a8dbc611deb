"""What every fitter returns and the context it runs in (shared by models.py and autoregression.py)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np


@dataclass
class _Fit:
    mean: np.ndarray
    bands: dict[int, tuple[np.ndarray, np.ndarray]]
    label: str


@contextmanager
def _quiet() -> Iterator[None]:
    """statsmodels and numpy warnings (convergence, frequency, overflow in exp) never reach the UI."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Model fits multiply small matrices: BLAS threads only add contention (a SARIMAX fit took 2.1 s
    with OpenBLAS's default threads on a busy 2-core machine, 0.23 s with one)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _z(level: int) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 200.0)
