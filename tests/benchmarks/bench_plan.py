"""Time `qplan plan` in a cold process on big sweeps against a half-applied state.

    python tests/benchmarks/bench_plan.py [--sizes 1000,100000,1000000] [--runs 3]
        [--state postgres | --state postgresql://...] [--snapshot-variants]

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

With `--state`, every size is also planned against the same rows in PostgreSQL, in the same
run and measured the same way (`qplan plan` gets the URL in QPLAN_STATE): `--state postgres`
starts a private server for the run (tests/postgres/server.py) and stops it at the end,
`--state postgresql://...` uses that database. Every size has a fresh database (or, on a
server of the user's, a fresh schema), filled with COPY and vacuumed (as autovacuum would
leave it) during setup. The peak RSS of a `qplan plan` process counts libpq's buffers too.
A second table gives PostgreSQL / SQLite for time and peak memory, against the target of
at most 1.5x; the phases are timed on both backends. `--snapshot-variants` also times, each
in a fresh process (wall time and peak RSS), ways of streaming the snapshot's rows out of
PostgreSQL for the largest size (see tests/benchmarks/postgres.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
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
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.benchmarks.postgres import (  # noqa: E402
    SNAPSHOT_VARIANTS,
    PostgresState,
    add_state_option,
    connect,
    validate_state,
)

if TYPE_CHECKING:
    from qplan.state import StateStore

STACK = "bench"
JOB = "scan"
TARGET = "local/braket_sv"
MAX_POINTS = 2_000_000
CHUNK = 50_000
TIME_TARGETS = {100_000: 3.0, 1_000_000: 30.0}  # seconds, by number of points
MEMORY_TARGET_MB = 1000.0  # 1 GB
RATIO_TARGET = 1.5  # PostgreSQL / SQLite, time and peak memory
SQLITE, POSTGRES = "SQLite", "PostgreSQL"
COLUMNS = (
    "stack, address, kind, job, status, fingerprint, attempt, idempotency_key, provider, "
    "target, provider_job_id, result_hash, error, created_at, updated_at"
)
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
STACK_INSERT = (
    "INSERT INTO stacks (name, serial, created_at, updated_at, lineage) VALUES (?, ?, ?, ?, ?)"
)
TALLY = re.compile(r"Plan: (\d+) to create, (.*); (\d+) unchanged, (\d+) in flight\.")


@dataclass
class Case:
    size: int
    manifest: Path
    state: Path  # the SQLite file (PostgreSQL: where it would be; qplan does not make it)
    create: int  # expected "to create"
    unchanged: int  # expected "unchanged": the rows inserted
    url: str | None = None  # PostgreSQL's state; None: the SQLite file

    @property
    def backend(self) -> str:
        return SQLITE if self.url is None else POSTGRES

    def store(self) -> StateStore:
        from qplan.state import PostgresStore, SqliteStore

        if self.url is None:
            return SqliteStore(self.state, create=False)
        return PostgresStore(self.url, create=False)

    @property
    def location(self) -> str:
        if self.url is None:
            return str(self.state)
        from qplan.state import PostgresUrl

        return PostgresUrl(self.url).location


@dataclass
class Run:
    seconds: float
    peak_mb: float


def axes(size: int) -> tuple[int, int]:
    """A * B = size, with A the largest divisor of size that is at most 1000."""
    a = next(d for d in range(min(size, 1000), 0, -1) if size % d == 0)
    return a, size // a


def generate(folder: Path, size: int, url: str | None = None) -> list[Case]:
    """Write the manifest and a state where every second point has succeeded: in SQLite,
    and with ``url`` the same rows in that PostgreSQL database too."""
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

    stack_row = (STACK, 1, now, now, uuid.uuid4().hex)
    insert = f"INSERT INTO resources ({COLUMNS}) VALUES ({', '.join('?' * 15)})"
    with contextlib.ExitStack() as stack_exit:
        conn = sqlite3.connect(path, isolation_level=None)
        stack_exit.callback(conn.close)
        conn.execute("PRAGMA synchronous=OFF")  # setup only; qplan itself uses FULL
        conn.execute("BEGIN")
        copy = None
        if url is not None:
            from qplan.state import PostgresStore

            PostgresStore(url).close()  # makes the schema, at the current version
            pg = stack_exit.enter_context(connect(url))
            stack_exit.enter_context(pg.transaction())  # committed after the COPY
            copy = stack_exit.enter_context(
                pg.cursor().copy(f"COPY resources ({COLUMNS}) FROM STDIN")
            )
        rows = done_rows()
        while chunk := list(islice(rows, CHUNK)):
            conn.executemany(insert, chunk)
            if copy is not None:
                for row in chunk:
                    copy.write_row(row)
        conn.execute(STACK_INSERT, stack_row)
        conn.execute("COMMIT")
    if url is not None:
        with connect(url) as pg:
            pg.execute(STACK_INSERT.replace("?", "%s"), stack_row)
            # the table as autovacuum leaves it (hint bits, visibility map, statistics): no
            # timed run pays for the bulk load, and autovacuum has nothing to do meanwhile
            pg.execute("VACUUM (ANALYZE) resources")
            pg.execute("VACUUM (ANALYZE) stacks")
    if counts["total"] != size:
        raise SystemExit(f"{manifest}: expected {size} addresses, got {counts['total']}")
    case = Case(size, manifest, path, size - counts["inserted"], counts["inserted"])
    if url is None:
        return [case]
    return [case, Case(size, manifest, path, case.create, case.unchanged, url)]


def plan_once(case: Case, scratch: Path, extra: Sequence[str] = ()) -> Run:
    """One cold `qplan plan` process (with ``extra`` arguments): wall time and its own
    peak RSS."""
    command = [
        sys.executable,
        "-m",
        "qplan",
        "plan",
        str(case.manifest),
        "--max-sweep-points",
        str(MAX_POINTS),
        "--detailed-exitcode",
        *extra,
    ]
    env = {k: v for k, v in os.environ.items() if k != "QPLAN_STATE"}
    if case.url is not None:
        env["QPLAN_STATE"] = case.url  # in the environment: a password stays off `ps`
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
            f"qplan plan on {case.size} points ({case.backend}) exited {proc.returncode} "
            f"(expected 2):\n{output}{errors}"
        )
    if "--format" not in extra:
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
    lines = [line for line in output.strip().splitlines() if line.startswith("Plan: ")]
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

    timings = []
    started = time.perf_counter()
    stack = qplan.load(case.manifest, max_sweep_points=MAX_POINTS)
    timings.append(("load manifest (qplan.load)", time.perf_counter() - started))

    started = time.perf_counter()
    store = case.store()
    try:
        timings.append(("open state", time.perf_counter() - started))
        started = time.perf_counter()
        snapshot = store.snapshot(stack.name)
        timings.append(("snapshot", time.perf_counter() - started))
    finally:
        store.close()

    started = time.perf_counter()
    plan = make_plan(stack, snapshot)
    timings.append(("make_plan", time.perf_counter() - started))

    started = time.perf_counter()
    doc = to_document(plan, detailed=False)
    lines = list(render_plan(doc, verbose=False, state_location=case.location))
    timings.append(("to_document + render", time.perf_counter() - started))
    check_tally(case, "\n".join(lines))
    return timings


def snapshot_once(case: Case, variant: str) -> Run:
    """One fresh process that opens the state and reads the snapshot of the largest size
    (``variant``: how, see tests/benchmarks/postgres.py): the time it reports for the read
    alone, and its peak RSS."""
    env = {k: v for k, v in os.environ.items() if k != "BENCH_STATE"}
    env["BENCH_STATE"] = case.url or str(case.state)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "tests.benchmarks.postgres", variant, STACK]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, cwd=REPO)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    if proc.returncode != 0:
        raise SystemExit(f"snapshot variant {variant} exited {proc.returncode}")
    report = json.loads(output)
    if report["rows"] != case.unchanged:
        raise SystemExit(
            f"snapshot variant {variant}: {report['rows']} rows, expected {case.unchanged}"
        )
    return Run(report["seconds"], usage.ru_maxrss * 1024 / 1e6)


def ratio(value: float, target: float | None) -> str:
    return f"{value / target:.2f}" if target else "n/a"


def met(value: float) -> str:
    return "met" if value <= RATIO_TARGET else "MISSED"


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
    add_state_option(parser)
    parser.add_argument(
        "--snapshot-variants",
        action="store_true",
        help="with --state: also time ways of streaming the snapshot out of PostgreSQL",
    )
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if not sizes or min(sizes) < 1 or args.runs < 1:
        parser.error("--sizes must list positive numbers and --runs must be at least 1")
    validate_state(parser, args.state)
    if args.snapshot_variants and args.state is None:
        parser.error("--snapshot-variants needs --state")

    print(
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()} ({platform.python_implementation()})"
    )
    with contextlib.ExitStack() as resources:
        postgres = None
        if args.state is not None:
            postgres = resources.enter_context(PostgresState(args.state))
            print(f"state: SQLite (the file next to the manifest) and {postgres.describe()}")
        root = Path(
            resources.enter_context(tempfile.TemporaryDirectory(prefix="qplan-bench-plan-"))
        )
        run(args, sizes, root, postgres)


def run(
    args: argparse.Namespace, sizes: list[int], root: Path, postgres: PostgresState | None
) -> None:
    print(
        f"`qplan plan --detailed-exitcode`, cold process, {args.runs} runs per size; "
        "half the points already succeeded in the state"
    )
    cases: list[Case] = []
    # setup runs in a worker so that this process, the parent of the timed ones, stays small
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as worker:
        for size in sizes:
            url = None if postgres is None else postgres.fresh(f"plan {size}").url
            started = time.perf_counter()
            made = worker.submit(generate, root / f"points-{size}", size, url).result()
            a, b = axes(size)
            where = "" if url is None else ", in SQLite and in PostgreSQL"
            print(
                f"setup {size:>9,} points (grid {a} x {b}, {made[0].unchanged:,} rows in "
                f"state{where}): {time.perf_counter() - started:.1f} s"
            )
            cases += made
    baseline = [python_once() for _ in range(args.runs)]
    results: dict[tuple[str, int], list[Run]] = {}
    for case in cases:  # SQLite, then PostgreSQL, size by size
        results[case.backend, case.size] = [plan_once(case, root) for _ in range(args.runs)]

    seconds = [r.seconds for r in baseline]
    print(
        "floor, `python -c pass` measured the same way: "
        f"median {statistics.median(seconds):.3f} s, "
        f"peak {max(r.peak_mb for r in baseline):.1f} MB"
    )
    print()
    both = postgres is not None
    backend = f"{'backend':<10} " if both else ""
    header = (
        f"{backend}{'points':>9} {'median s':>9} {'min s':>8} {'max s':>8} {'peak MB':>8} "
        f"{'us/point':>9} {'time/target':>12} {'memory/target':>14}"
    )
    print(header)
    print("-" * len(header))
    for (name, size), runs in results.items():
        seconds = [r.seconds for r in runs]
        median = statistics.median(seconds)
        peak = max(r.peak_mb for r in runs)
        print(
            (f"{name:<10} " if both else "")
            + f"{size:>9,} {median:9.3f} {min(seconds):8.3f} {max(seconds):8.3f} "
            f"{peak:8.1f} {median / size * 1e6:9.2f} "
            f"{ratio(median, TIME_TARGETS.get(size)):>12} "
            f"{ratio(peak, MEMORY_TARGET_MB):>14}"
        )
    print(
        "targets: 100,000 points < 3 s, 1,000,000 points < 30 s, peak RSS < 1 GB; "
        "ratio < 1.0 meets the target (n/a: no target for this size)"
    )
    if both:
        print_ratios(results, sizes)

    largest, smallest = max(sizes), min(sizes)
    # fresh processes, measured before this one grows with the phases; printed last
    measured = variants(cases, largest, args.runs) if args.snapshot_variants else []
    cold = {
        name: statistics.median(r.seconds for r in runs)
        for (name, size), runs in results.items()
        if size == largest
    }
    timed = {}
    for name in cold:
        by_size = {c.size: c for c in cases if c.backend == name}
        phases(by_size[smallest])  # warm-up: imports are not a phase
        timed[name] = phases(by_size[largest])
    for name, timings in timed.items():
        total = sum(t for _, t in timings)
        print()
        print(f"phases in process, {largest:,} points (one run){f', {name}' if both else ''}:")
        for phase, seconds in timings:
            print(f"  {phase:<32} {seconds:8.3f} s  {seconds / total:6.1%}")
        print(f"  {'total':<32} {total:8.3f} s")
        print(
            f"  {'cold process median - total':<32} {cold[name] - total:8.3f} s  "
            "(interpreter start, imports, exit)"
        )
    if both:
        sqlite, pg = (dict(timed[b]) for b in (SQLITE, POSTGRES))
        print()
        print(f"phases, {largest:,} points: PostgreSQL / SQLite")
        for phase in sqlite:
            print(f"  {phase:<32} {pg[phase] / sqlite[phase]:8.2f}x")
        print(
            f"  snapshot alone: {sqlite['snapshot']:.3f} s in SQLite, {pg['snapshot']:.3f} s in "
            f"PostgreSQL, {pg['snapshot'] / sqlite['snapshot']:.2f}x"
        )
    for line in measured:
        print(line)


def print_ratios(results: dict[tuple[str, int], list[Run]], sizes: list[int]) -> None:
    print()
    header = (
        f"{'points':>9} {'SQLite s':>9} {'PG s':>8} {'time PG/SQLite':>15} "
        f"{'SQLite MB':>10} {'PG MB':>8} {'memory PG/SQLite':>17}"
    )
    print(f"PostgreSQL / SQLite (median time, peak RSS), target <= {RATIO_TARGET}x:")
    print(header)
    print("-" * len(header))
    for size in sizes:
        sqlite, pg = results[SQLITE, size], results[POSTGRES, size]
        time_s, time_p = (statistics.median(r.seconds for r in runs) for runs in (sqlite, pg))
        peak_s, peak_p = (max(r.peak_mb for r in runs) for runs in (sqlite, pg))
        print(
            f"{size:>9,} {time_s:9.3f} {time_p:8.3f} "
            f"{f'{time_p / time_s:.2f}x {met(time_p / time_s)}':>15} "
            f"{peak_s:10.1f} {peak_p:8.1f} "
            f"{f'{peak_p / peak_s:.2f}x {met(peak_p / peak_s)}':>17}"
        )


def variants(cases: list[Case], size: int, runs: int) -> list[str]:
    """Each way of reading the snapshot, in fresh processes: median time of the read, peak
    RSS of the process (interpreter and imports included); the report's lines."""
    sqlite = next(c for c in cases if c.size == size and c.url is None)
    pg = next(c for c in cases if c.size == size and c.url is not None)
    header = (
        f"{'variant':<38} {'read s':>8} {'peak MB':>8} {'time/SQLite':>12} {'memory/SQLite':>14}"
    )
    lines = [
        "",
        f"snapshot of {pg.unchanged:,} rows ({size:,} points), fresh process per read, "
        f"{runs} runs each: median read time, peak RSS of the process",
        header,
        "-" * len(header),
    ]
    base: Run | None = None
    for variant, (description, postgres) in SNAPSHOT_VARIANTS.items():
        case = pg if postgres else sqlite
        done = [snapshot_once(case, variant) for _ in range(runs)]
        row = Run(statistics.median(r.seconds for r in done), max(r.peak_mb for r in done))
        base = base or row
        lines.append(
            f"{description:<38} {row.seconds:8.3f} {row.peak_mb:8.1f} "
            f"{row.seconds / base.seconds:11.2f}x {row.peak_mb / base.peak_mb:13.2f}x"
        )
    return lines


if __name__ == "__main__":
    main()
