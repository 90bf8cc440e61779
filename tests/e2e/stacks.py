"""The end-to-end tests' view of a stack on the local provider: a folder with a manifest,
its state, and the run journal (QPLAN_LOCAL_JOURNAL) that the worker processes write
themselves, an independent record of what really ran; and qplan run in that folder."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.conftest import CLOUD_ENV
from tests.e2e.processes import TAG


class Stack:
    """``tag``: an environment tag every process qplan starts inherits (see processes)."""

    def __init__(self, folder: Path, tag: str | None = None) -> None:
        self.folder = folder
        self.journal = folder / "journal.log"
        # the cloud examples read account settings from the environment even when run locally
        self.env = {**os.environ, **CLOUD_ENV, "QPLAN_LOCAL_JOURNAL": str(self.journal)}
        if tag is not None:
            self.env[TAG] = tag

    @classmethod
    def write(cls, folder: Path, manifest: str, tag: str | None = None) -> Stack:
        """A new stack in ``folder`` with ``manifest`` (dedented) as its qplan.yaml."""
        folder.mkdir(exist_ok=True)
        (folder / "qplan.yaml").write_text(textwrap.dedent(manifest))
        return cls(folder, tag)

    def qplan(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "qplan", *args],
            capture_output=True,
            text=True,
            cwd=self.folder,
            env=self.env,
            timeout=timeout,
            check=False,
        )

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """qplan in the background. Its output goes to output.log: a pipe would keep a test
        waiting on any process that outlived qplan with it."""
        with open(self.folder / "output.log", "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "qplan", *args],
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def lines(self) -> list[dict[str, Any]]:
        """The journal; a line being written (no newline yet) is left out."""
        if not self.journal.exists():
            return []
        return [json.loads(x) for x in self.journal.read_text().splitlines() if x.endswith("}")]

    def runs(self) -> list[dict[str, Any]]:
        """Runs started, in order."""
        return [r for r in self.lines() if r["event"] == "start"]

    def count(self, event: str) -> Counter[str]:
        """``start`` or ``end`` lines per address."""
        return Counter(str(r["address"]) for r in self.lines() if r["event"] == event)

    def wait_for(self, event: str, n: int, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while sum(self.count(event).values()) < n:
            assert time.monotonic() < deadline, f"fewer than {n} {event} lines in the journal"
            time.sleep(0.02)

    def rows(self) -> dict[str, tuple[str, int, str | None]]:
        """Rows (jobs and sessions): address -> (status, attempt, error)."""
        with sqlite3.connect(self.folder / ".qplan" / "state.db") as conn:
            return {
                a: (s, n, e)
                for a, s, n, e in conn.execute(
                    "SELECT address, status, attempt, error FROM resources"
                )
            }
