"""Helpers for tests that start `qplan` and must find, afterwards, every process it started:
each run carries a unique environment tag, which its children inherit."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path

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
