"""The tests' PostgreSQL server: password authentication, isolated databases, and no server
left behind, whether stopped or abandoned."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest

from tests.postgres.fixture import fresh_database
from tests.postgres.server import PostgresServer

REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _processes_naming(text: str) -> list[int]:
    """The processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in command and _alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def test_password_connection(postgres_server: PostgresServer) -> None:
    with psycopg.connect(postgres_server.url()) as connection:
        user, number = connection.execute(
            "SELECT current_user, current_setting('server_version_num')::int"
        ).fetchone() or (None, 0)
        methods = {
            row[0] for row in connection.execute("SELECT auth_method FROM pg_hba_file_rules")
        }
    assert user == "qplan" == postgres_server.user
    assert number >= 130000
    assert postgres_server.version == (number // 10000, number % 10000)
    assert methods == {"scram-sha-256"}  # no trust, not even for local connections


def test_wrong_or_no_password_is_refused(postgres_server: PostgresServer) -> None:
    wrong = postgres_server.url().replace(postgres_server.password, "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=10)
    bare = f"host=127.0.0.1 port={postgres_server.port} user=qplan dbname=postgres"
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        psycopg.connect(bare, connect_timeout=10, passfile=os.devnull)


def test_databases_are_isolated(postgres_server: PostgresServer, postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as connection:
        connection.execute("CREATE TABLE jobs (name text PRIMARY KEY)")
        connection.execute("INSERT INTO jobs VALUES ('bell')")
    with fresh_database(postgres_server, "other") as other_url:
        assert other_url != postgres_url
        with psycopg.connect(other_url) as connection:
            tables = connection.execute("SELECT to_regclass('jobs')").fetchone()
        assert tables == (None,)
        other = other_url.rpartition("/")[2]
    with psycopg.connect(postgres_server.url()) as connection:
        left = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [other])
        assert left.fetchone() is None  # dropped on leaving
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT name FROM jobs").fetchall() == [("bell",)]


def test_a_stopped_server_leaves_nothing(postgres_server: PostgresServer) -> None:
    with PostgresServer() as server:
        pid, folder = server.pid, server.folder
        assert pid is not None and folder is not None
        assert server.port != postgres_server.port
        with psycopg.connect(server.url()) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
        assert _alive(pid)
        assert _processes_naming(str(folder))
    assert not _alive(pid)
    assert not folder.exists()
    assert _processes_naming(str(folder)) == []
    server.stop()  # again: nothing to do


def test_the_watchdog_stops_the_server_when_its_lifeline_closes() -> None:
    server = PostgresServer()
    server.start()
    try:
        pid = server.pid
        assert pid is not None and _alive(pid)
        server._close_lifeline()  # as when the test run dies: the pipe's write end closes
        assert _gone_within(pid, 5), "the server outlived its lifeline"
        assert server._watchdog is not None
        assert server._watchdog.wait(timeout=5) == 0  # postgres' own exit status
    finally:
        server.stop()


def test_a_killed_test_run_leaves_no_server() -> None:
    script = textwrap.dedent(
        """
        import os, sys, time
        from tests.postgres.server import PostgresServer
        server = PostgresServer()
        server.start()
        print(server.pid, server.folder, flush=True)
        time.sleep(60)
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    line = owner.stdout.readline()
    owner.kill()  # no cleanup at all: the lifeline alone
    owner.wait(timeout=10)
    owner.stdout.close()
    pid_text, _, folder = line.strip().partition(" ")
    try:
        assert pid_text.isdigit(), f"the server did not start: {line!r}"
        assert _gone_within(int(pid_text), 5), "the server outlived the test run"
        assert _processes_naming(folder) == []
    finally:
        if pid_text.isdigit() and _alive(int(pid_text)):  # not to leak it when the test fails
            os.killpg(int(pid_text), signal.SIGKILL)
        if folder.startswith("/"):
            subprocess.run(["rm", "-rf", "--", folder], check=False)
