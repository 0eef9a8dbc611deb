"""Many series in a shared process pool (spawned workers, one BLAS thread each)."""

from __future__ import annotations

import atexit
import inspect
import os
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

import pandas as pd

from core.forecast import cache as fit_cache
from core.forecast.domain import BatchForecast, ForecastError, ForecastResult
from core.forecast.predict import forecast

# ---- many series in parallel --------------------------------------------------------------------------
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_env_lock = threading.Lock()


@contextmanager
def _spawn_environment() -> Iterator[None]:
    """What a spawned worker sees while the pool starts it.

    - The environment: one BLAS/OpenMP thread each, so N workers on N cores do not fight over threads
      (the parent's BLAS is already initialised and unaffected).
    - A blank `__main__`: multiprocessing re-runs the parent's main script in every spawned worker, and
      Streamlit installs the running page as `__main__`, so each worker would re-run the page (and try
      to start a pool of its own). The real module is put back as soon as the workers are started.
    """
    with _env_lock:
        saved = {k: os.environ.get(k) for k in _THREAD_VARS}
        main = sys.modules.get("__main__")
        os.environ.update({k: "1" for k in _THREAD_VARS})
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            if main is not None:
                sys.modules["__main__"] = main
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _forecast_one(name: str, history: pd.Series, horizon: int, kwargs: dict[str, Any]) -> tuple[str, Any]:
    try:
        return name, forecast(history, horizon, **kwargs)
    except ForecastError as exc:
        return name, str(exc)
    except Exception as exc:  # a bad series must not take the batch down
        return name, f"{type(exc).__name__}: {exc}"


_pool: ProcessPoolExecutor | None = None
_pool_workers = 0
_pool_lock = threading.Lock()


PARENT_CHECK_S = 2.0  # how often a worker checks that the process that started it is still there


def _start_worker(parent: int) -> None:
    """A worker's start: exit with the parent, and import what the candidates fit with.

    A parent killed without shutting the pool down (a Streamlit server stopped with SIGKILL) left its
    workers running, orphaned, for good; each now exits within PARENT_CHECK_S of its parent. The fitters
    import statsmodels lazily (so a process that never fits does not pay for it), which made the first
    series sent to a new worker pay ~1.5 s of imports on top of its fit; a worker exists to fit, so it
    pays them when it starts."""
    threading.Thread(target=_exit_without, args=(parent,), daemon=True, name="exit-with-parent").start()
    from core.forecast.models import import_fitters

    import_fitters()


def _exit_without(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)  # the parent is gone: nobody reads this worker's results


def _shared_pool(workers: int) -> ProcessPoolExecutor:
    """One pool per process, kept between calls: spawning a worker costs ~1.3 s of imports, which a
    page that refits on every change should pay once, not every time."""
    global _pool, _pool_workers
    import multiprocessing

    with _pool_lock:
        if _pool is None or _pool_workers != workers:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            _pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(os.getpid(),),
            )
            _pool_workers = workers
        return _pool


def shutdown_pool() -> None:
    """Stop the shared worker processes (they also stop when this process exits)."""
    global _pool, _pool_workers
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
        _pool, _pool_workers = None, 0


atexit.register(shutdown_pool)


def forecast_many(
    series: Mapping[str, pd.Series] | pd.DataFrame,
    horizon: int,
    *,
    workers: int | None = None,
    progress: Callable[[float, str], None] | None = None,
    **kwargs: Any,
) -> BatchForecast:
    """Forecast several series (a dict, or a wide frame with one column per series) in a process pool.

    workers=None uses one process per CPU (at most one per series); workers=1 runs in this process.
    Workers are spawned (not forked: forking a threaded server such as Streamlit can deadlock) with
    OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=1, and kept for later calls (`shutdown_pool()` stops them).
    A new worker pays the pandas/statsmodels import (~1.3 s) once. kwargs go to `forecast()`; a series
    that cannot be forecast lands in `errors` with the reason instead of failing the batch.
    """
    t0 = time.perf_counter()
    items = {str(k): v for k, v in series.items()}
    if workers is None:
        workers = os.cpu_count() or 1
    workers = max(1, min(workers, len(items)))
    results: dict[str, ForecastResult] = {}
    errors: dict[str, str] = {}

    def record(name: str, outcome: Any) -> None:
        if isinstance(outcome, ForecastResult):
            results[name] = outcome
        else:
            errors[name] = str(outcome)
        if progress:
            done = len(results) + len(errors)
            progress(done / len(items), f"forecast {done}/{len(items)} series ({name})")

    # stored fits first (this process's cache; the workers have their own): only the rest is fitted
    keys = {name: _cache_key(hist, horizon, kwargs) for name, hist in items.items()}
    for name, key in keys.items():
        hit = fit_cache.get(key)
        if hit is not None:
            record(name, hit)
    todo = {name: hist for name, hist in items.items() if name not in results}
    if workers == 1 or len(todo) <= 1:
        for name, hist in todo.items():
            record(*_forecast_one(name, hist, horizon, kwargs))
    else:
        for attempt in (1, 2):
            pool = _shared_pool(workers)
            try:
                # workers start lazily on submit: their environment must be in place then
                with _spawn_environment():
                    futures = [pool.submit(_forecast_one, n, h, horizon, kwargs) for n, h in todo.items()]
                for fut in as_completed(futures):
                    record(*fut.result())
                break
            except BrokenProcessPool:
                # a worker died (killed, out of memory): start a fresh pool once, then give up loudly
                shutdown_pool()
                for name in todo:
                    results.pop(name, None)
                    errors.pop(name, None)
                if attempt == 2:
                    raise
    for name, result in results.items():
        if name in todo and not result.cached:
            fit_cache.put(keys[name], result)
    ordered = {k: results[k] for k in items if k in results}
    return BatchForecast(ordered, errors, workers, time.perf_counter() - t0)


def stored_forecast(history: pd.Series, horizon: int, **kwargs: Any) -> ForecastResult | None:
    """The fit `forecast(history, horizon, **kwargs)` would return from the fit cache, without fitting:
    None when no identical call has been stored in this process (a page shows what is already computed
    and fits the rest only when asked)."""
    return fit_cache.get(_cache_key(history, horizon, kwargs))


def _cache_key(history: Any, horizon: int, kwargs: Mapping[str, Any]) -> str | None:
    """The key forecast() would store this call under (the same settings, defaults filled in)."""
    if kwargs.get("cache", True) is False or kwargs.get("backtest_result") is not None:
        return None
    try:
        bound = inspect.signature(forecast).bind(history, horizon, **kwargs)
    except TypeError:
        return None  # bad keywords: forecast() raises the clear error in the worker
    bound.apply_defaults()
    settings = dict(bound.arguments)
    settings["levels"] = tuple(settings["levels"])
    if settings["candidates"] is not None and not isinstance(settings["candidates"], str):
        settings["candidates"] = tuple(settings["candidates"])  # as forecast() keys it
    return fit_cache.fingerprint(history, settings)
