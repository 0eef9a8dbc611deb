"""The `world` fixture: a fresh store, the shipped config and a sandbox executor (tests/core/actions/support.py)."""

from pathlib import Path

import pytest

from tests.core.actions.support import World, make_world


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path)
