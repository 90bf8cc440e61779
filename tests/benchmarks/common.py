"""What the emulator benchmarks (bench_braket.py, bench_azure.py) share: the rotation scan's
points and the checks of its results, running a contender's process, qplan's state and
results, status calls grouped into polls, and the report's common lines.

The benchmarks run as scripts (`python tests/benchmarks/bench_braket.py`): each puts the
repository on `sys.path` and imports this module as `tests.benchmarks.common`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from tests.emulators.kit import Call

SHOTS = 100  # shots per point
POLL_GAP = 0.25  # seconds between a call's answer and the next call of the same poll, at most
PROGRESS_EVERY = 20.0  # seconds between progress lines on stderr


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def epoch(text: str | None) -> float:
    """An ISO 8601 time as seconds since the epoch; none: infinity (not yet)."""
    if not text:
        return math.inf
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def expected_ones(theta: float) -> float:
    return SHOTS * math.sin(theta / 2) ** 2


# --- polls --------------------------------------------------------------------------------


@dataclass
class Poll:
    """One poll of qplan's: a burst of status (or list) calls."""

    per_call: ClassVar[int] = 1  # in-flight tasks or jobs one call may cover (per benchmark)
    start: float  # wall time of the first call's arrival
    calls: int = 1
    in_flight: int = 0

    @property
    def allowed(self) -> int:
        return max(1, math.ceil(self.in_flight / self.per_call))

    @property
    def ratio(self) -> float:
        return self.calls / self.allowed


PollT = TypeVar("PollT", bound=Poll)


def group_polls(calls: Iterable[Call], gap: float, poll: type[PollT]) -> list[PollT]:
    """`calls` grouped into polls: a call that arrives within `gap` s of the answer to the
    previous one belongs to the same poll, which starts at its first call's arrival."""
    polls: list[PollT] = []
    last_answer = -math.inf  # when the previous call was answered
    for call in sorted(calls, key=lambda c: c.wall):
        if polls and call.wall - last_answer <= gap:
            polls[-1].calls += 1
        else:
            polls.append(poll(call.wall))
        last_answer = max(last_answer, call.wall + call.duration)
    return polls


def count_in_flight(polls: Sequence[Poll], jobs: Sequence[tuple[float, float]]) -> None:
    """Sets each poll's `in_flight` from the (created, ended) times of every task or job: those
    created before the poll started that qplan could not yet know to be finished, created
    after the start of the previous poll or ended at or after it (an upper bound)."""
    previous: float | None = None
    for poll in polls:
        poll.in_flight = sum(
            1
            for created, ended in jobs
            if created <= poll.start
            and not (previous is not None and created <= previous and ended < previous)
        )
        previous = poll.start


@dataclass
class PollStats:
    polls: Sequence[Poll]

    @property
    def worst(self) -> Poll | None:
        return max(self.polls, key=lambda p: p.ratio, default=None)

    @property
    def over(self) -> int:
        return sum(1 for p in self.polls if p.ratio > 1.0)

    def literal(self) -> list[float]:
        """calls_p / (N_p / per call) of the polls with at least one call's worth in flight."""
        polls = [p for p in self.polls if p.in_flight >= p.per_call]
        return [p.calls / (p.in_flight / p.per_call) for p in polls]

    def spread(self) -> str:
        """Calls per poll: how many polls made each number of calls."""
        spread = Counter(p.calls for p in self.polls)
        return ", ".join(f"{k} x{spread[k]}" for k in sorted(spread))


# --- cases and checks ---------------------------------------------------------------------


@dataclass
class Case:
    name: str
    n: int  # points run
    wall: float = math.nan
    calls: dict[str, int] = field(default_factory=dict)
    detail: str = ""
    polls: PollStats | None = None


class Benchmark:
    """A benchmark's cases: their folder, the sweep's N points, the checks failed so far."""

    def __init__(self, folder: Path, n: int) -> None:
        self.folder = folder
        self.n = n
        self.failures: list[str] = []
        self.points: list[float] = []

    def sweep_points(self, manifest_text: str) -> list[float]:
        """The sweep's values of theta, as qplan expands them (the same for every case)."""
        import qplan

        manifest = self.folder / "points.yaml"
        manifest.write_text(manifest_text)
        stack = qplan.load(manifest)
        points = [float(i.point["theta"]) for i in stack.jobs["scan"].instances()]
        if len(points) != self.n:
            raise SystemExit(f"the manifest expands to {len(points)} points, expected {self.n}")
        return points

    def fail(self, message: str) -> None:
        self.failures.append(message)
        log(f"  CHECK FAILED: {message}")

    # --- running a process ---------------------------------------------------------------

    def progress(self, label: str, elapsed: float) -> None:
        """A progress line on stderr, every PROGRESS_EVERY s of a process's run."""

    def run(
        self, command: list[str], cwd: Path, env: dict[str, str], label: str, timeout: float
    ) -> tuple[float, int, str, str]:
        """Run a process to its end (or the timeout), printing progress; returns (wall s,
        exit status, stdout, stderr). The process (its group) is killed if this one is
        interrupted."""
        out_path, err_path = cwd / f"{label}.out", cwd / f"{label}.err"
        with out_path.open("w") as out, err_path.open("w") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True
            )
            try:
                while True:
                    try:
                        code = proc.wait(timeout=PROGRESS_EVERY)
                        break
                    except subprocess.TimeoutExpired:
                        elapsed = time.perf_counter() - started
                        if elapsed > timeout:
                            self.fail(f"{label}: killed after --case-timeout ({timeout:.0f} s)")
                            os.killpg(proc.pid, signal.SIGKILL)
                            code = proc.wait()
                            break
                        self.progress(label, elapsed)
            finally:
                if proc.poll() is None:  # interrupted: its whole group goes too
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            wall = time.perf_counter() - started
        stdout, stderr = out_path.read_text(), err_path.read_text()
        if code != 0:
            self.fail(f"{label}: exit status {code}\n{stdout[-2000:]}{stderr[-4000:]}")
        if "Traceback (most recent call last)" in stderr:
            self.fail(f"{label}: a Python traceback on stderr\n{stderr[-4000:]}")
        return wall, code, stdout, stderr

    def contender(self, script: str, folder: Path, points: list[float], *args: str) -> list[str]:
        """The command that runs the SDK contender `script` (written to the benchmark's folder,
        beside program.qasm) on `points` (written to `folder`): its arguments are the program,
        the points (JSON), then `args`."""
        (folder / "points.json").write_text(json.dumps(points))
        return [
            sys.executable,
            str(self.folder / script),
            str(self.folder / "program.qasm"),
            str(folder / "points.json"),
            *args,
        ]

    # --- checks -------------------------------------------------------------------------

    def check_counts(self, label: str, thetas: Sequence[float], counts: Sequence[Any]) -> None:
        """One result per point, SHOTS shots of "0" and "1", theta = 0 all "0", theta = pi
        all "1", and every count of "1" within 6 standard deviations (+1 shot) of
        SHOTS sin^2(theta / 2)."""
        if len(counts) != len(thetas):
            self.fail(f"{label}: {len(counts)} results for {len(thetas)} points")
            return
        bad_shots = bad_keys = off = 0
        worst = ""
        for theta, count in zip(thetas, counts, strict=True):
            if not isinstance(count, dict):
                bad_shots += 1
                continue
            if sum(count.values()) != SHOTS:
                bad_shots += 1
            if not set(count) <= {"0", "1"}:
                bad_keys += 1
            ones = count.get("1", 0)
            mean = expected_ones(theta)
            sigma = math.sqrt(mean * (1 - mean / SHOTS))
            if abs(ones - mean) > 6 * sigma + 1:
                off += 1
                worst = worst or f"theta={theta:.6f}: {count}, expected about {mean:.1f} ones"
            if theta == 0.0 and count != {"0": SHOTS}:
                self.fail(f"{label}: theta=0 gave {count}, expected {{'0': {SHOTS}}}")
            if theta == max(self.points) and count != {"1": SHOTS}:
                self.fail(f"{label}: theta=pi gave {count}, expected {{'1': {SHOTS}}}")
        if bad_shots:
            self.fail(f"{label}: {bad_shots} results without {SHOTS} shots")
        if bad_keys:
            self.fail(f"{label}: {bad_keys} results with outcomes other than 0 and 1")
        if off:
            self.fail(f"{label}: {off} results far from 100 sin^2(theta/2) (first: {worst})")
        if 0.0 not in thetas:
            self.fail(f"{label}: theta=0 was not run")

    def check_state(self, case: Case, folder: Path) -> list[tuple[str, str, str]] | None:
        """N job rows succeeded with a result hash; returns (address, status,
        provider_job_id) of each row, None without a state."""
        db = folder / ".qplan" / "state.db"
        if not db.exists():
            self.fail(f"{case.name}: no state at {db}")
            return None
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT address, status, result_hash, provider_job_id FROM resources "
                "WHERE kind = 'job'"
            ).fetchall()
        finally:
            conn.close()
        statuses = Counter(
            status if digest else f"{status} (no result hash)" for _, status, digest, _ in rows
        )
        if statuses != Counter({"succeeded": self.n}):
            self.fail(f"{case.name}: state rows {dict(statuses)}, expected {self.n} succeeded")
        return [(address, status, job_id or "") for address, status, _, job_id in rows]

    def check_results(self, case: Case, folder: Path, env: dict[str, str]) -> None:
        """`qplan results --format json`: N results at the N points, counts as expected."""
        command = [sys.executable, "-m", "qplan", "results", "qplan.yaml", "--format", "json"]
        _, code, stdout, _ = self.run(command, folder, env, "results", 600)
        if code != 0:
            return
        results = json.loads(stdout)
        by_theta = {float(r["point"]["theta"]): r["counts"] for r in results}
        if len(results) != self.n or sorted(by_theta) != sorted(self.points):
            self.fail(
                f"{case.name}: qplan results gave {len(results)} results at {len(by_theta)} "
                f"distinct points, expected {self.n} at the sweep's points"
            )
        thetas = sorted(by_theta)
        label = f"{case.name} (qplan results)"
        self.check_counts(label, thetas, [by_theta[t] for t in thetas])


# --- the command line and the report ------------------------------------------------------


def add_case_timeout(parser: argparse.ArgumentParser, case: str) -> None:
    """--case-timeout, the seconds after which `Benchmark.run` kills a process."""
    parser.add_argument(
        "--case-timeout",
        type=float,
        default=1800.0,
        help=f"seconds after which a {case}'s process is killed (default: %(default)s)",
    )


def verdict(met: bool) -> str:
    return "meets the target" if met else "MISSES the target"


def print_machine(versions: str) -> None:
    """The machine's line: CPUs, platform, Python and `versions` (the SDKs')."""
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()} ({platform.python_implementation()}), {versions}"
    )


def finish(failures: list[str], total: float) -> None:
    """The benchmark's time and the failed checks, if any: then exit status 1."""
    print(f"\ntotal benchmark time: {total / 60:.1f} min")
    if failures:
        print(f"\n{len(failures)} CHECK(S) FAILED:")
        for failure in failures:
            print(f"- {failure}")
        sys.exit(1)
    print("all checks passed")
