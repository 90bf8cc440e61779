"""The state backends the end-to-end tests run on. A test that takes ``state_backend`` runs
twice: on the default SQLite file next to its manifest (``None``), and on a fresh database
of the test run's PostgreSQL server (its URL). The other tests use SQLite alone."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def state_backend(request: pytest.FixtureRequest) -> str | None:
    """None (the default SQLite state) or a PostgreSQL URL, for ``--state``/``QPLAN_STATE``."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_url"))
