"""The end-to-end tests' view of a stack on the local provider: a folder with a manifest,
its state, and the run journal (QPLAN_LOCAL_JOURNAL) that the worker processes write
themselves, an independent record of what really ran; and qplan run in that folder.

The state is the default SQLite file next to the manifest, or the one ``state`` URL names
(a PostgreSQL database, say): qplan finds it in ``QPLAN_STATE``, and the tests read it
through ``open_store`` as qplan does."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import qplan
from qplan.state import StateStore, open_store, state_location
from tests.conftest import CLOUD_ENV
from tests.e2e.processes import TAG


def state_env(state: str | None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with ``QPLAN_STATE`` set to ``state``,
    or without it for the default state next to the manifest, whatever the test run's own
    environment says."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k != "QPLAN_STATE"}
    if state is not None:
        env["QPLAN_STATE"] = state
    return env


def stack_name(manifest: Path, env: Mapping[str, str]) -> str:
    """The stack's name, as qplan resolves it from ``manifest`` (templates included)."""
    return qplan.load(manifest, environ=env).name


@contextlib.contextmanager
def opened(state: str | None, manifest: Path, *, create: bool = False) -> Iterator[StateStore]:
    """The state of ``manifest`` at ``state`` (None: the default SQLite file), closed on
    leaving. Without ``create`` nothing is made: a state not there yet reads as empty."""
    store = open_store(state, manifest, create=create)
    try:
        yield store
    finally:
        store.close()


class Stack:
    """``tag``: an environment tag every process qplan starts inherits (see processes).
    ``state``: a state URL (``QPLAN_STATE``); None for the default SQLite file."""

    def __init__(self, folder: Path, tag: str | None = None, state: str | None = None) -> None:
        self.folder = folder
        self.manifest = folder / "qplan.yaml"
        self.journal = folder / "journal.log"
        self.state = state
        # the cloud examples read account settings from the environment even when run locally
        self.env = {**state_env(state), **CLOUD_ENV, "QPLAN_LOCAL_JOURNAL": str(self.journal)}
        if tag is not None:
            self.env[TAG] = tag
        self._name: str | None = None

    @classmethod
    def write(
        cls, folder: Path, manifest: str, tag: str | None = None, state: str | None = None
    ) -> Stack:
        """A new stack in ``folder`` with ``manifest`` (dedented) as its qplan.yaml."""
        folder.mkdir(exist_ok=True)
        (folder / "qplan.yaml").write_text(textwrap.dedent(manifest))
        return cls(folder, tag, state)

    @property
    def name(self) -> str:
        if self._name is None:
            self._name = stack_name(self.manifest, self.env)
        return self._name

    @property
    def location(self) -> str:
        """Where qplan says the state is (a URL never shows its password)."""
        return state_location(self.state, self.manifest)

    def store(self, *, create: bool = False) -> contextlib.AbstractContextManager[StateStore]:
        """The stack's state, opened as qplan opens it (``create``: made if not there yet);
        closed on leaving the ``with``."""
        return opened(self.state, self.manifest, create=create)

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

    def start(self, *args: str, wrap: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
        """qplan in the background (under ``wrap``, a command prefix, if given). Its output
        goes to output.log: a pipe would keep a test waiting on any process that outlived
        qplan with it."""
        with open(self.folder / "output.log", "ab") as log:
            return subprocess.Popen(
                [*wrap, sys.executable, "-m", "qplan", *args],
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
        with self.store() as store:
            return {r.address: (r.status.value, r.attempt, r.error) for r in store.rows(self.name)}
