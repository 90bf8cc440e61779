"""Helpers for tests that start `qplan` and must find, afterwards, every process it started:
each run carries a unique environment tag, which its children inherit."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from qplan.state import StateError

TAG = "QPLAN_TEST_PROCESS_TAG"


def new_tag() -> str:
    return uuid.uuid4().hex


def tagged(tag: str) -> list[int]:
    """Pids of the live processes (zombies aside) whose environment carries ``tag``."""
    needle = f"{TAG}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if state != "Z":
            found.append(int(entry.name))
    return found


def wait_gone(tag: str, seconds: float) -> list[int]:
    """Wait up to ``seconds`` for every process tagged ``tag`` to end; the survivors."""
    deadline = time.monotonic() + seconds
    while True:
        alive = tagged(tag)
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def kill_tagged(tag: str) -> None:
    """SIGKILL whatever is left of a test's processes, so that a failing test leaves none."""
    for pid in tagged(tag):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def kill_apply_once(
    folder: Path,
    env: dict[str, str],
    ready: Callable[[list[str]], bool],
    grace: float,
    *args: str,
) -> None:
    """Start ``qplan apply qplan.yaml`` in ``folder`` and SIGKILL it (its whole process
    group) ``grace`` seconds after the statuses of its state's rows satisfy ``ready``
    (their intents committed, say); killed also when that never happens, or the test
    fails meanwhile. The state is the one ``env`` names (``QPLAN_STATE``), else the
    default SQLite file."""
    from tests.e2e.stacks import opened, stack_name

    manifest = folder / "qplan.yaml"
    state, name = env.get("QPLAN_STATE"), stack_name(manifest, env)
    proc = subprocess.Popen(
        [sys.executable, "-m", "qplan", "apply", "qplan.yaml", "--poll-interval", "0.2", *args],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with opened(state, manifest) as store:
                    rows = [r.status.value for r in store.snapshot(name).rows.values()]
                if ready(rows):
                    break
            except StateError:  # the state is being made: its tables are not there yet
                pass
            time.sleep(0.05)
        time.sleep(grace)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def another_host(name: str) -> tuple[str, ...]:
    """A command prefix running a process under another host name (a UTS namespace)."""
    unshare = shutil.which("unshare")
    assert unshare is not None, "util-linux's unshare is needed to run a process on another host"
    return (unshare, "--uts", "sh", "-c", f'hostname {name} && exec "$@"', "sh")
