"""The cold-start import race: two script runs importing pages._ui at the same moment. A rerun raised
while the module was being imported (the legacy-pages-mode check, formerly at import time) removed the
half-imported module, and the other run's `from pages import _ui` failed with "cannot import name '_ui'
from 'pages'" (docs/ARCHITECTURE.md, "Pitfalls"). Run in a fresh interpreter so the import is cold."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT

RACE = r"""
import importlib._bootstrap as bootstrap
import threading
import time

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


class Rerun(Exception):
    pass


first_is_importing = threading.Event()
second = {}


def rerun_like_streamlit():
    # Streamlit's st.rerun raises; let the second import start and block on the module lock first.
    first_is_importing.set()
    deadline = time.monotonic() + 20
    while not any(t == second.get("ident") for t in bootstrap._blocking_on) and time.monotonic() < deadline:
        time.sleep(0.01)  # polling for the other thread's state, not a wait for time to pass
    raise Rerun()


st.rerun = rerun_like_streamlit
PagesManager.uses_pages_directory = True  # a cold deep link: Streamlit's legacy pages mode
errors = {}


def first():
    try:
        from pages import _ui  # noqa: F401
    except Rerun:
        pass  # Streamlit would rerun this session: not an error
    except Exception as exc:
        errors["first"] = repr(exc)
    first_is_importing.set()


def run_second():
    second["ident"] = threading.get_ident()
    try:
        from pages import _ui  # noqa: F401
    except Rerun:
        pass
    except Exception as exc:
        errors["second"] = repr(exc)


a = threading.Thread(target=first)
a.start()
first_is_importing.wait(60)
b = threading.Thread(target=run_second)
b.start()
a.join(60)
b.join(60)
print("ERRORS", errors)
assert not errors, errors
"""


def test_two_cold_imports_of_the_page_glue_do_not_fail() -> None:
    done = subprocess.run(
        [sys.executable, "-c", RACE], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
