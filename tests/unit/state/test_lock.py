"""The stack lock between real processes, on SQLite and on PostgreSQL: a second holder fails
at once, saying who holds it; the lock of a holder that died is taken over; on SQLite a lock
from another host is broken only on request, while on PostgreSQL the server itself tells
when a holder died, on any host."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qplan.state import SqliteStore, StackLocked, StateError
from qplan.state.sql import SqlStore
from tests.e2e.processes import another_host
from tests.unit.state.conftest import new

HOLDER = """
import sys, time
from pathlib import Path
from qplan.state import open_store
store = open_store(sys.argv[1], Path("qplan.yaml"))
lock = store.acquire("s", "apply", "alice")
lock.start_heartbeat(float(sys.argv[2]))
print("locked", flush=True)
for line in sys.stdin:  # "write": one change to the stack, then say how it went
    try:
        store.apply("s", [])
        store.put_result(line.encode())
        print("wrote", flush=True)
    except Exception as exc:
        print("failed:", exc, flush=True)
"""

Holder = Callable[..., subprocess.Popen[str]]


@pytest.fixture
def holder(state_url: str) -> Iterator[Holder]:
    """Starts processes that take the stack's lock on ``state_url`` and hold it."""
    started: list[subprocess.Popen[str]] = []

    def start(*, heartbeat: float = 0.2, wrap: tuple[str, ...] = ()) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [*wrap, sys.executable, "-c", HOLDER, state_url, str(heartbeat)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


def test_second_process_fails_at_once_and_is_told_who_holds_it(
    holder: Holder, store: SqlStore
) -> None:
    proc = holder()
    started = time.monotonic()
    with pytest.raises(StackLocked) as info:
        store.acquire("s", "apply", "bob")
    assert time.monotonic() - started < 2
    lock = info.value.info
    assert (lock.owner, lock.pid, lock.operation, lock.stale) == ("alice", proc.pid, "apply", False)
    assert f"locked by alice@{lock.host} (pid {proc.pid}, apply) since" in str(info.value)
    other = store.acquire("another-stack", "apply", "bob")  # locks are per stack
    other.release()


def test_heartbeat_moves_while_held(holder: Holder, store: SqlStore) -> None:
    holder()
    first = store.lock_info("s")
    time.sleep(0.6)
    second = store.lock_info("s")
    assert first is not None and second is not None
    assert second.heartbeat_at > first.heartbeat_at


def test_lock_of_a_killed_holder_on_this_host_is_taken_over(
    holder: Holder, store: SqlStore
) -> None:
    proc = holder()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # at once: on PostgreSQL the server may take a moment to end the killed holder's
    # session, and acquire waits for that rather than refuse
    with store.acquire("s", "apply", "bob"):  # provably dead: nothing else runs
        assert store.lock_info("s").owner == "bob"  # type: ignore[union-attr]
    assert store.lock_info("s") is None


def test_a_killed_holder_on_this_host_is_stale(holder: Holder, store: SqlStore) -> None:
    proc = holder()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while not store.lock_info("s").stale:  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "a killed holder's lock never read as stale"
        time.sleep(0.02)


@pytest.mark.parametrize("state_url", ["postgresql"], indirect=True)
def test_postgres_takes_over_the_lock_of_a_runner_killed_on_another_host(
    holder: Holder, store: SqlStore
) -> None:
    proc = holder(wrap=another_host("ci-runner-7"))
    with pytest.raises(StackLocked, match="alice@ci-runner-7"):
        store.acquire("s", "apply", "bob")
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while not store.lock_info("s").stale:  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the server never ended the killed holder's session"
        time.sleep(0.05)
    with store.acquire("s", "apply", "bob"):  # no force-unlock: the server saw it die
        info = store.lock_info("s")
        assert info is not None and (info.owner, info.host) != ("alice", "ci-runner-7")


@pytest.mark.parametrize("state_url", ["postgresql"], indirect=True)
def test_postgres_force_unlock_ends_a_hung_holder_so_it_writes_no_more(
    holder: Holder, open_state: Callable[..., SqlStore]
) -> None:
    proc = holder(heartbeat=3600)  # alive and holding, but silent
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("first\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "wrote"
    later = [time.time() + 1000]
    store = open_state(clock=lambda: later[0])
    info = store.lock_info("s")
    assert info is not None and info.stale and info.owner == "alice"
    with pytest.raises(StackLocked):
        store.acquire("s", "apply", "bob")  # hung is not dead: only force-unlock breaks it
    assert store.force_unlock("s") is not None
    with store.acquire("s", "apply", "bob"):
        proc.stdin.write("second\n")
        proc.stdin.flush()
        answer = proc.stdout.readline().strip()
        assert answer.startswith("failed:"), answer  # its session was ended with its lock
    assert store.result(__import__("hashlib").sha256(b"second\n").hexdigest()) is None


@pytest.mark.parametrize("state_url", ["sqlite"], indirect=True)
def test_sqlite_silent_lock_from_another_host_must_be_broken_explicitly(state_url: str) -> None:
    now = [1000.0]
    store = SqliteStore(state_url, clock=lambda: now[0])
    store._conn.execute(
        "INSERT INTO locks VALUES ('s', 'alice', 'build-7', 4242, 'apply', 100.0, 400.0)"
    )
    with pytest.raises(StackLocked) as info:
        store.acquire("s", "apply", "bob")
    assert info.value.info.stale
    assert "locked by alice@build-7 (pid 4242, apply)" in str(info.value)
    assert "qplan force-unlock" in str(info.value)
    broken = store.force_unlock("s")
    assert broken is not None and broken.owner == "alice"
    with store.acquire("s", "apply", "bob"):
        assert store.lock_info("s").owner == "bob"  # type: ignore[union-attr]


def test_a_lock_without_heartbeat_for_long_is_stale(open_state: Callable[..., SqlStore]) -> None:
    now = [time.time()]
    store = open_state(clock=lambda: now[0])
    lock = store.acquire("s", "apply", "alice")
    now[0] += 60
    assert not store.lock_info("s").stale  # type: ignore[union-attr]
    now[0] += 100
    assert store.lock_info("s").stale  # type: ignore[union-attr]
    lock.release()


def test_a_ctrl_c_while_the_heartbeat_starts_still_releases_the_lock(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    lock = store.acquire("s", "apply", "alice")

    def interrupted(thread: threading.Thread) -> None:
        raise KeyboardInterrupt  # a Ctrl-C landing in start(), before the thread ran

    monkeypatch.setattr(threading.Thread, "start", interrupted)
    with pytest.raises(KeyboardInterrupt):
        lock.start_heartbeat(0.05)
    monkeypatch.undo()
    lock.release()  # was: RuntimeError, cannot join thread before it is started
    assert store.lock_info("s") is None


def test_a_released_lock_is_free_for_the_next_runner(open_state: Callable[..., SqlStore]) -> None:
    first, second = open_state(), open_state()
    with first.acquire("s", "apply", "alice"):
        first.apply("s", [new("a")])
        with pytest.raises(StackLocked):
            second.acquire("s", "destroy", "bob")
    with second.acquire("s", "destroy", "bob"):
        assert second.lock_info("s").operation == "destroy"  # type: ignore[union-attr]


def test_a_state_error_names_no_password(state_url: str) -> None:
    if not state_url.startswith("postgresql://"):
        with pytest.raises(StateError, match="not a usable"):
            Path(state_url).parent.mkdir(parents=True, exist_ok=True)
            Path(state_url).write_bytes(b"garbage" * 200)
            SqliteStore(state_url)
        return
    from urllib.parse import urlsplit

    password = urlsplit(state_url).password
    assert password
    wrong = state_url.replace(f":{password}@", ":not-the-password@")
    with pytest.raises(StateError) as info:
        from qplan.state import PostgresStore

        PostgresStore(wrong)
    assert "password authentication failed" in str(info.value)
    assert "not-the-password" not in str(info.value) and password not in str(info.value)
