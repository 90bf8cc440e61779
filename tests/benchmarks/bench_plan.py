"""Time `qplan plan` in a cold process on big sweeps against a half-applied state.

    python tests/benchmarks/bench_plan.py [--sizes 1000,100000,1000000] [--runs 3]

For each size a manifest with one job `scan` (an inline OpenQASM 3 program with inputs
theta and phi, swept on a `grid` of two `linspace` axes whose product is the size) is
generated in a temporary folder, with a real SQLite state at its default place
(`.qplan/state.db` next to the manifest) in which every second point is already
`succeeded` with the fingerprint the planner computes. Building that state is setup and
is not timed.

Each run is a fresh `python -m qplan plan MANIFEST --detailed-exitcode` process, as a user
runs it (interpreter start and imports included). Its wall time and its own peak RSS
(`os.wait4` rusage, `ru_maxrss`) are recorded, and its output must report half the points
to create and half unchanged. The state is built in a separate worker process so that this
process stays small: a child started with vfork (as `subprocess` does) reports, as its own
`ru_maxrss`, at least the peak RSS of its parent. For the largest size, the phases (load
the manifest, read the state snapshot, make the plan, render it) are also timed in this
process, after a warm-up on the smallest size so that imports are not counted.

The table compares the results to the project's targets: 100,000 points planned in under
3 s, 1,000,000 points in under 30 s, peak memory under 1 GB (10^9 bytes; MB below are
10^6 bytes). A ratio below 1.0 means the target is met.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

STACK = "bench"
JOB = "scan"
TARGET = "local/braket_sv"
MAX_POINTS = 2_000_000
CHUNK = 50_000
TIME_TARGETS = {100_000: 3.0, 1_000_000: 30.0}  # seconds, by number of points
MEMORY_TARGET_MB = 1000.0  # 1 GB
MANIFEST = """\
version: 1
stack: {stack}
programs:
  rabi:
    format: openqasm3
    source: |
      OPENQASM 3.0;
      input float theta;
      input float phi;
      qubit q;
      bit c;
      ry(theta) q;
      rx(phi) q;
      c = measure q;
jobs:
  {job}:
    target: {target}
    program: rabi
    shots: 100
    sweep:
      grid:
        theta: {{linspace: [0, 3.14159, {a}]}}
        phi: {{linspace: [0, 1, {b}]}}
"""
TALLY = re.compile(r"Plan: (\d+) to create, (.*); (\d+) unchanged, (\d+) in flight\.")


@dataclass
class Case:
    size: int
    manifest: Path
    state: Path
    create: int  # expected "to create"
    unchanged: int  # expected "unchanged": the rows inserted


@dataclass
class Run:
    seconds: float
    peak_mb: float


def axes(size: int) -> tuple[int, int]:
    """A * B = size, with A the largest divisor of size that is at most 1000."""
    a = next(d for d in range(min(size, 1000), 0, -1) if size % d == 0)
    return a, size // a


def generate(folder: Path, size: int) -> Case:
    """Write the manifest and a state where every second point has succeeded."""
    import qplan
    from qplan.planner import JobFingerprinter
    from qplan.state import SqliteStore, default_state_path

    folder.mkdir(parents=True)
    a, b = axes(size)
    manifest = folder / "qplan.yaml"
    manifest.write_text(MANIFEST.format(stack=STACK, job=JOB, target=TARGET, a=a, b=b))
    stack = qplan.load(manifest, max_sweep_points=MAX_POINTS)
    job = stack.jobs[JOB]
    path = default_state_path(manifest)
    SqliteStore(path).close()  # creates the file with the current schema

    fingerprint = JobFingerprinter(job)
    now = time.time()
    counts = {"total": 0, "inserted": 0}

    def done_rows():
        for i, address in enumerate(job.addresses()):
            counts["total"] += 1
            if i % 2 == 0:
                counts["inserted"] += 1
                yield (
                    STACK,
                    address,
                    "job",
                    JOB,
                    "succeeded",
                    fingerprint(address),
                    1,
                    None,
                    "local",
                    TARGET,
                    None,
                    None,
                    None,
                    now,
                    now,
                )

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")  # setup only; qplan itself uses FULL
        conn.execute("BEGIN")
        rows = done_rows()
        while chunk := list(islice(rows, CHUNK)):
            conn.executemany(
                "INSERT INTO resources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                chunk,
            )
        conn.execute("INSERT INTO stacks VALUES (?, ?, ?, ?)", (STACK, 1, now, now))
        conn.execute("COMMIT")
    finally:
        conn.close()
    if counts["total"] != size:
        raise SystemExit(f"{manifest}: expected {size} addresses, got {counts['total']}")
    return Case(size, manifest, path, size - counts["inserted"], counts["inserted"])


def plan_once(case: Case, scratch: Path) -> Run:
    """One cold `qplan plan` process: wall time and its own peak RSS."""
    command = [
        sys.executable,
        "-m",
        "qplan",
        "plan",
        str(case.manifest),
        "--max-sweep-points",
        str(MAX_POINTS),
        "--detailed-exitcode",
    ]
    env = {k: v for k, v in os.environ.items() if k != "QPLAN_STATE"}
    out_path, err_path = scratch / "stdout.txt", scratch / "stderr.txt"
    with out_path.open("w") as out, err_path.open("w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    output, errors = out_path.read_text(), err_path.read_text()
    if proc.returncode != 2:
        raise SystemExit(
            f"qplan plan on {case.size} points exited {proc.returncode} (expected 2):\n"
            f"{output}{errors}"
        )
    check_tally(case, output)
    return Run(elapsed, usage.ru_maxrss * 1024 / 1e6)  # ru_maxrss is in KiB on Linux


def python_once() -> Run:
    """A bare interpreter, measured the same way: the floor of every run."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{sys.executable} -c pass exited {proc.returncode}")
    return Run(elapsed, usage.ru_maxrss * 1024 / 1e6)


def check_tally(case: Case, output: str) -> None:
    lines = output.strip().splitlines()
    match = TALLY.fullmatch(lines[-1]) if lines else None
    expected = f"Plan: {case.create} to create, ...; {case.unchanged} unchanged, 0 in flight."
    if match is None:
        raise SystemExit(f"{case.size} points: no plan tally, expected {expected!r}:\n{output}")
    create, others, unchanged, waiting = match.groups()
    other_changes = [n for n in re.findall(r"(\d+) to \w+", others) if n != "0"]
    if (int(create), int(unchanged), int(waiting)) != (case.create, case.unchanged, 0) or (
        other_changes
    ):
        raise SystemExit(f"{case.size} points: got {lines[-1]!r}, expected {expected!r}")


def phases(case: Case) -> list[tuple[str, float]]:
    """Time the steps of a plan in this process (imports done beforehand)."""
    import qplan
    from qplan.cli.views.plan import render_plan
    from qplan.planner import make_plan, to_document
    from qplan.state import SqliteStore

    timings = []
    started = time.perf_counter()
    stack = qplan.load(case.manifest, max_sweep_points=MAX_POINTS)
    timings.append(("load manifest (qplan.load)", time.perf_counter() - started))

    started = time.perf_counter()
    store = SqliteStore(case.state, create=False)
    try:
        snapshot = store.snapshot(stack.name)
    finally:
        store.close()
    timings.append(("open state + snapshot", time.perf_counter() - started))

    started = time.perf_counter()
    plan = make_plan(stack, snapshot)
    timings.append(("make_plan", time.perf_counter() - started))

    started = time.perf_counter()
    doc = to_document(plan, detailed=False)
    lines = list(render_plan(doc, verbose=False, state_location=str(case.state)))
    timings.append(("to_document + render", time.perf_counter() - started))
    check_tally(case, "\n".join(lines))
    return timings


def ratio(value: float, target: float | None) -> str:
    return f"{value / target:.2f}" if target else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        default="1000,100000,1000000",
        help="comma-separated numbers of sweep points (default: %(default)s)",
    )
    parser.add_argument("--runs", type=int, default=3, help="cold runs per size (default: 3)")
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if not sizes or min(sizes) < 1 or args.runs < 1:
        parser.error("--sizes must list positive numbers and --runs must be at least 1")

    print(
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()} ({platform.python_implementation()})"
    )
    print(
        f"`qplan plan --detailed-exitcode`, cold process, {args.runs} runs per size; "
        "half the points already succeeded in the state"
    )
    results: dict[int, list[Run]] = {}
    with tempfile.TemporaryDirectory(prefix="qplan-bench-plan-") as tmp:
        root = Path(tmp)
        cases = []
        # setup runs in a worker so that this process, the parent of the timed ones, stays small
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as worker:
            for size in sizes:
                started = time.perf_counter()
                case = worker.submit(generate, root / f"points-{size}", size).result()
                a, b = axes(size)
                print(
                    f"setup {size:>9,} points (grid {a} x {b}, {case.unchanged:,} rows in "
                    f"state): {time.perf_counter() - started:.1f} s"
                )
                cases.append(case)
        baseline = [python_once() for _ in range(args.runs)]
        for case in cases:
            results[case.size] = [plan_once(case, root) for _ in range(args.runs)]

        seconds = [r.seconds for r in baseline]
        print(
            "floor, `python -c pass` measured the same way: "
            f"median {statistics.median(seconds):.3f} s, "
            f"peak {max(r.peak_mb for r in baseline):.1f} MB"
        )
        print()
        header = (
            f"{'points':>9} {'median s':>9} {'min s':>8} {'max s':>8} {'peak MB':>8} "
            f"{'us/point':>9} {'time/target':>12} {'memory/target':>14}"
        )
        print(header)
        print("-" * len(header))
        for size, runs in results.items():
            seconds = [r.seconds for r in runs]
            median = statistics.median(seconds)
            peak = max(r.peak_mb for r in runs)
            print(
                f"{size:>9,} {median:9.3f} {min(seconds):8.3f} {max(seconds):8.3f} "
                f"{peak:8.1f} {median / size * 1e6:9.2f} "
                f"{ratio(median, TIME_TARGETS.get(size)):>12} "
                f"{ratio(peak, MEMORY_TARGET_MB):>14}"
            )
        print(
            "targets: 100,000 points < 3 s, 1,000,000 points < 30 s, peak RSS < 1 GB; "
            "ratio < 1.0 meets the target (n/a: no target for this size)"
        )

        largest = max(cases, key=lambda c: c.size)
        phases(min(cases, key=lambda c: c.size))  # warm-up: imports are not a phase
        timings = phases(largest)
        total = sum(t for _, t in timings)
        cold = statistics.median(r.seconds for r in results[largest.size])
        print()
        print(f"phases in process, {largest.size:,} points (one run):")
        for name, seconds in timings:
            print(f"  {name:<32} {seconds:8.3f} s  {seconds / total:6.1%}")
        print(f"  {'total':<32} {total:8.3f} s")
        print(
            f"  {'cold process median - total':<32} {cold - total:8.3f} s  "
            "(interpreter start, imports, exit)"
        )


if __name__ == "__main__":
    main()
