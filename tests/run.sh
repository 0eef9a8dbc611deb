#!/usr/bin/env bash
# The one test command: installs everything the tests need on a fresh Debian machine (apt packages
# prometheus, prometheus-alertmanager, chromium and postgresql, Python packages into .venv), then lints
# and runs the whole suite.
# Extra arguments go to pytest, e.g. `bash tests/run.sh tests/core -x`.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_missing=()
command -v prometheus >/dev/null 2>&1 || apt_missing+=(prometheus)
command -v promtool >/dev/null 2>&1 || apt_missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || apt_missing+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || apt_missing+=(chromium)
# PostgreSQL server binaries (initdb, pg_ctl under /usr/lib/postgresql/<version>/bin): the shared-store tests
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || apt_missing+=(postgresql)
# emoji font: the state badges and page icons in screenshots
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || apt_missing+=(fonts-noto-color-emoji)
if [ ${#apt_missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "== installing Debian packages: ${apt_missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"
fi

python_bin="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv with $("$python_bin" --version)"
  "$python_bin" -m venv .venv
fi
# pip resolves for seconds even when everything is there: ask it only when something is missing or out of range.
# --no-compile: pip byte-compiles every module of every package it installs (plotly, botocore, pandas:
# more than half of a fresh install's time on 2 cores); Python compiles the few it imports on first use.
if ! .venv/bin/python tests/requirements_met.py requirements-test.txt; then
  echo "== installing Python packages (requirements-test.txt)"
  .venv/bin/python -m pip install -q --no-compile --disable-pip-version-check -r requirements-test.txt
fi

echo "== lint (ruff)"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "== tests (pytest)"
# statsmodels/numpy BLAS threads fight the process pool on 2 cores; one thread each is faster
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# One pytest-xdist worker per core (at most 4: each may run its own Chromium, Streamlit, Prometheus and
# PostgreSQL). --dist loadfile keeps a test file on one worker, so its module fixtures (a backfilled
# Prometheus, a Streamlit server) start once and its tests run in order. HEADROOM_TEST_WORKERS overrides
# the count; `bash tests/run.sh -n 0 ...` runs serially in one process.
# (GNU nproc answers OMP_NUM_THREADS when it is set, as it is just above: ask it without)
workers="${HEADROOM_TEST_WORKERS:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)}"
if [ "$workers" -gt 4 ]; then workers=4; fi
# --no-loadscope-reorder: keep tests/conftest.py's order (longest files first), not "most tests first"
exec .venv/bin/python -m pytest -q --timeout=600 -n "$workers" --dist loadfile --no-loadscope-reorder "$@"
