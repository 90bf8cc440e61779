"""Fixtures of the executor's unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from qplan.state import SqliteStore


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    """A fresh state file for one test."""
    return SqliteStore(tmp_path / "state.db")
