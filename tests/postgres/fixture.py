"""Pytest fixtures with a real PostgreSQL server on 127.0.0.1 (see ``server.py``).

``postgres_server`` starts at its first use, once per test run, and always stops at its
end; ``postgres_url`` (per test) is the url of a new, empty database of its own, dropped
after the test, whether it passed or not::

    def test_something(postgres_url):
        with psycopg.connect(postgres_url) as connection:
            ...

A server that cannot be installed or started fails the tests that need it: never a skip.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.postgres.server import PostgresServer, PostgresUnavailable

__all__ = ["database_name", "fresh_database", "postgres_server", "postgres_url"]


def database_name(label: str) -> str:
    """A new database name: ``t_``, ``label`` in lower case and underscores, a random tail
    (63 bytes at most, PostgreSQL's limit)."""
    slug = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")[:40]
    return f"t_{slug}_{secrets.token_hex(4)}"


@contextmanager
def fresh_database(server: PostgresServer, label: str) -> Iterator[str]:
    """The url of a new, empty database on ``server``, dropped on leaving."""
    name = database_name(label)
    url = server.create_database(name)
    try:
        yield url
    finally:
        server.drop_database(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
    except PostgresUnavailable as error:
        pytest.fail(f"no PostgreSQL server for the tests: {error}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    with fresh_database(postgres_server, request.node.name) as url:
        yield url
