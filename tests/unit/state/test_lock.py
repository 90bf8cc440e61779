"""The stack lock between two real processes: a second holder fails at once, saying who
holds it; an abandoned lock is reported as such and broken only on request."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qplan.state import SqliteStore, StackLocked

HOLDER = """
import sys, time
from qplan.state import SqliteStore
store = SqliteStore(sys.argv[1])
lock = store.acquire("s", "apply", "alice")
lock.start_heartbeat(0.2)
print("locked", flush=True)
time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "state.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    yield path, proc
    proc.kill()
    proc.wait()
    proc.stdout.close()


def test_second_process_fails_at_once_and_is_told_who_holds_it(holder) -> None:  # type: ignore[no-untyped-def]
    path, proc = holder
    store = SqliteStore(path)
    started = time.monotonic()
    with pytest.raises(StackLocked) as info:
        store.acquire("s", "apply", "bob")
    assert time.monotonic() - started < 2
    lock = info.value.info
    assert (lock.owner, lock.pid, lock.operation, lock.stale) == ("alice", proc.pid, "apply", False)
    assert f"locked by alice@{lock.host} (pid {proc.pid}, apply) since" in str(info.value)
    other = store.acquire("another-stack", "apply", "bob")  # locks are per stack
    other.release()


def test_heartbeat_moves_while_held(holder) -> None:  # type: ignore[no-untyped-def]
    path, _ = holder
    store = SqliteStore(path)
    first = store.lock_info("s")
    time.sleep(0.6)
    second = store.lock_info("s")
    assert first is not None and second is not None
    assert second.heartbeat_at > first.heartbeat_at


def test_lock_of_a_killed_holder_on_this_host_is_taken_over(holder) -> None:  # type: ignore[no-untyped-def]
    path, proc = holder
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = SqliteStore(path)
    assert store.lock_info("s").stale  # type: ignore[union-attr]
    with store.acquire("s", "apply", "bob"):  # provably dead: nothing else runs
        assert store.lock_info("s").owner == "bob"  # type: ignore[union-attr]
    assert store.lock_info("s") is None


def test_silent_lock_from_another_host_must_be_broken_explicitly(tmp_path: Path) -> None:
    now = [1000.0]
    store = SqliteStore(tmp_path / "s.db", clock=lambda: now[0])
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


def test_a_lock_without_heartbeat_for_long_is_stale(tmp_path: Path) -> None:
    now = [1000.0]
    store = SqliteStore(tmp_path / "s.db", clock=lambda: now[0])
    store.acquire("s", "apply", "alice")
    now[0] += 60
    assert not store.lock_info("s").stale  # type: ignore[union-attr]
    now[0] += 100
    assert store.lock_info("s").stale  # type: ignore[union-attr]


def test_a_ctrl_c_while_the_heartbeat_starts_still_releases_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    store = SqliteStore(tmp_path / "s.db")
    lock = store.acquire("s", "apply", "alice")

    def interrupted(thread: threading.Thread) -> None:
        raise KeyboardInterrupt  # a Ctrl-C landing in start(), before the thread ran

    monkeypatch.setattr(threading.Thread, "start", interrupted)
    with pytest.raises(KeyboardInterrupt):
        lock.start_heartbeat(0.05)
    monkeypatch.undo()
    lock.release()  # was: RuntimeError, cannot join thread before it is started
    assert store.lock_info("s") is None
