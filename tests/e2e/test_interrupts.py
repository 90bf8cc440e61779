"""Ctrl-C typed at a terminal, at any moment of `qplan apply`, and the resume after it.

The apply runs in a pseudo-terminal: Ctrl-C there is the terminal's SIGINT to the whole
foreground process group (qplan, its fork server and its workers), as a user's would be.
Every interrupted apply must exit 130 with the resume hint and no traceback, leave no row
in flight and no process behind; the resume must then run every point exactly once over
both applies: the local provider's run journal, written by the workers themselves, has one
start and one end per point, and the state one recorded success per point.

The earliest moment is 50 ms, or twice the time this Python needs to reach its first line
of code when that is longer (the slowest of five starts): a Ctrl-C while the interpreter
itself starts (its `site` imports) gets CPython's own traceback, before any program can
act. On a loaded machine a start can still be slower than measured: an apply whose
traceback shows the Ctrl-C landed before qplan's entry point ran (every qplan frame at
the module level of the entry modules, which import nothing else: a separate test checks
that) is counted apart, not failed, and must have changed nothing.
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RY_CNOT, ry_program
from tests.e2e.processes import kill_tagged, new_tag, wait_gone
from tests.e2e.stacks import Stack

POINTS = 60
MOMENTS = 12  # evenly spread over the apply, from interpreter start to its last runs
MANIFEST = f"""\
version: 1
stack: interrupts
{ry_program(RY_CNOT)}jobs:
  scan:
    target: local/braket_sv
    program: ry
    shots: 50
    sweep: {{grid: {{theta: {{linspace: [0, 3.14159, {POINTS}]}}}}}}
"""


class Terminal(Stack):
    """A stack whose `qplan apply` runs in a pseudo-terminal, with Ctrl-C typed at a chosen
    moment."""

    def __init__(self, folder: Path, tag: str) -> None:
        super().__init__(folder, tag)
        self.env["COLUMNS"] = "100"

    def apply(self, ctrl_c_at: float | None) -> tuple[int, str, bool, float]:
        """(exit code, what the terminal showed, whether Ctrl-C was typed while qplan
        ran, seconds it ran)."""
        started = time.monotonic()
        pid, fd = pty.fork()
        if pid == 0:  # the child: qplan, as a session leader on the new terminal
            try:
                # as a shell starts a command: Ctrl-C at its default, unblocked, whatever the
                # test process inherited or was left with by an earlier test
                signal.pthread_sigmask(signal.SIG_SETMASK, set())
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.chdir(self.folder)
                os.execve(
                    sys.executable, [sys.executable, "-m", "qplan", "apply", "qplan.yaml"], self.env
                )
            finally:
                os._exit(127)
        shown, typed, status = b"", False, None
        try:
            while status is None:
                now = time.monotonic() - started
                if ctrl_c_at is not None and not typed and now >= ctrl_c_at:
                    os.write(fd, b"\x03")
                    typed = True
                if select.select([fd], [], [], 0.005)[0]:
                    with contextlib.suppress(OSError):  # the terminal closed: qplan is ending
                        shown += os.read(fd, 65536)
                done, code = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = code
                elif now > 120:
                    raise AssertionError(f"apply still running after 120 s:\n{shown.decode()}")
            while select.select([fd], [], [], 0.05)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                shown += chunk
        except OSError:
            pass
        finally:
            os.close(fd)
            if status is None:  # never leave it running, even when the test fails
                os.kill(pid, 9)
                os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status) if status is not None else -9
        return code, shown.decode(errors="replace"), typed, time.monotonic() - started

    def statuses(self) -> Counter[str]:
        """Job rows by status; none when the apply was interrupted before it made any."""
        db = self.folder / ".qplan" / "state.db"
        if not db.exists():
            return Counter()
        with sqlite3.connect(db) as conn:
            try:
                found = conn.execute("SELECT status FROM resources WHERE kind = 'job'")
                return Counter(status for (status,) in found)
            except sqlite3.OperationalError:  # interrupted before the tables were made
                return Counter()

    def successes(self) -> Counter[str]:
        with sqlite3.connect(self.folder / ".qplan" / "state.db") as conn:
            found = conn.execute("SELECT address FROM events WHERE new_status = 'succeeded'")
            return Counter(address for (address,) in found)


ENTRY_MODULES = (
    "qplan/__init__.py",
    "qplan/__main__.py",
    "qplan/cli/__init__.py",
    "qplan/cli/main.py",
)


def before_the_entry_point(shown: str) -> bool:
    """Whether ``shown`` is the traceback of a Ctrl-C that landed before qplan's entry
    point could catch it: in the interpreter's start-up, or at the module level of the
    entry modules (never inside a function of qplan's)."""
    if "KeyboardInterrupt" not in shown:
        return False
    frames = re.findall(r'File "([^"]+)", line \d+, in (\S+)', shown)
    ours = [(path, name) for path, name in frames if "/qplan/" in path]
    return all(path.endswith(ENTRY_MODULES) and name == "<module>" for path, name in ours)


def test_the_entry_point_imports_nothing_before_it_can_catch_a_ctrl_c() -> None:
    code = (
        "import sys; before = set(sys.modules); import qplan.cli.main; "
        "print(sorted(set(sys.modules) - before))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['qplan', 'qplan.cli', 'qplan.cli.main']"


def python_startup() -> float:
    """Seconds from starting this Python to its first line of code (the longest of five:
    a loaded machine starts slower)."""
    seen = []
    for _ in range(5):
        started = time.time()
        out = subprocess.run(
            [sys.executable, "-c", "import time; print(time.time())"],
            capture_output=True,
            text=True,
            check=True,
        )
        seen.append(float(out.stdout) - started)
    return max(seen)


@pytest.fixture
def tag() -> Iterator[str]:
    value = new_tag()
    yield value
    kill_tagged(value)


def test_ctrl_c_at_a_dozen_moments_exits_130_and_the_resume_runs_each_point_once(
    tmp_path: Path, tag: str
) -> None:
    durations = []
    for run in range(2):  # the shorter of two: a first run may pay for cold caches
        whole = tmp_path / f"whole-{run}"
        whole.mkdir()
        (whole / "qplan.yaml").write_text(MANIFEST)
        code, shown, _, seconds = Terminal(whole, tag).apply(None)
        assert code == 0, shown
        durations.append(seconds)
    duration = min(durations)
    first = max(0.05, 2 * python_startup())
    step = (0.9 * duration - first) / (MOMENTS - 1)
    moments = [first + i * step for i in range(MOMENTS)]
    interrupted = early = 0
    problems: list[str] = []
    ended: list[str] = []
    for number, moment in enumerate(moments):
        folder = tmp_path / f"at-{number:02d}"
        folder.mkdir()
        (folder / "qplan.yaml").write_text(MANIFEST)
        terminal = Terminal(folder, tag)
        code, shown, typed, _ = terminal.apply(moment)
        where = f"Ctrl-C at {moment:.2f} s"
        if not typed or code == 0:
            # ended before its moment (a faster run than the one measured), or the Ctrl-C
            # came once the apply had finished its work: it changes nothing then
            assert code == 0 and "Apply complete" in shown, f"{where}: exit {code}:\n{shown}"
            ended.append(f"{moment:.2f}" + ("" if typed else " (untyped)"))
        elif before_the_entry_point(shown):
            early += 1  # in the interpreter's start-up: nothing ran (checked below)
        else:
            interrupted += 1
            if code != 130:
                problems.append(f"{where}: exit {code}")
            if "run `qplan apply` again to resume" not in shown:
                problems.append(f"{where}: no resume hint:\n{shown[-800:]}")
            if "Traceback" in shown or "KeyboardInterrupt" in shown:
                problems.append(f"{where}: a traceback reached the terminal:\n{shown[-2000:]}")
        left = terminal.statuses()
        in_flight = {s: n for s, n in left.items() if s not in ("succeeded", "cancelled")}
        if in_flight:
            problems.append(f"{where}: rows left in flight: {in_flight}")
        survivors = wait_gone(tag, 2.0)
        if survivors:
            problems.append(f"{where}: processes left running: {survivors}")
            kill_tagged(tag)
        resumed = terminal.qplan("apply", "qplan.yaml")
        if resumed.returncode != 0:
            problems.append(f"{where}: resume exit {resumed.returncode}: {resumed.stderr}")
        starts, ends = terminal.count("start"), terminal.count("end")
        twice = {a: n for a, n in ends.items() if n != 1}
        if len(ends) != POINTS or twice:
            problems.append(f"{where}: {len(ends)} points ran to their end, twice: {twice}")
        restarted = {a: n for a, n in starts.items() if n != 1}
        if restarted:
            problems.append(f"{where}: runs started more than once: {restarted}")
        recorded = terminal.successes()
        if len(recorded) != POINTS or set(recorded.values()) != {1}:
            problems.append(f"{where}: successes recorded: {sorted(Counter(recorded.values()))}")
    assert not problems, "\n".join(problems)
    assert early <= 2, f"{early} Ctrl-Cs landed before qplan's entry point ran"
    assert interrupted >= MOMENTS * 3 // 4, (
        f"only {interrupted} of {MOMENTS} were interrupted (the apply of {duration:.2f} s had "
        f"ended at {', '.join(ended)} s)"
    )
