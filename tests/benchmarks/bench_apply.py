"""Time `qplan apply` on N small circuits against hand-written Braket loops, cold processes.

    python tests/benchmarks/bench_apply.py [--n 1000] [--runs 3] [--parallelism P]
        [--against TREE]

One OpenQASM 3 program on 2 qubits (`input float theta; ry(theta) q[0]; cnot q[0], q[1];`),
100 shots, swept over N values of theta (`linspace: [0, 3.14159, N]`), run three ways on
Braket's local state-vector simulator, each as a fresh process (interpreter start and
imports included), in a temporary folder:

  qplan apply    `python -m qplan apply manifest.yaml` with a fresh state (`.qplan` deleted
                 before every run) on the local provider (`local/braket_sv`); afterwards the
                 state must hold N rows `succeeded`;
  plain loop     a script calling `LocalSimulator("braket_sv").run(Program(...,
                 inputs={"theta": x}), shots=100).result()` for each point in turn;
  run_batch      a script calling `LocalSimulator("braket_sv").run_batch(programs,
                 shots=100, max_parallel=os.cpu_count(), inputs=[{"theta": x}, ...])`.

The three use exactly the same points (read from the manifest by `qplan.load`) and each
must return N results of 100 shots. The cases are interleaved run by run and the medians
of `--runs` runs compared. Also timed: `qplan apply` again on the finished stack (a no-op
that must print "No changes"), `qplan --help` (median of 10 cold runs) and `python -c pass`
(the floor of every cold process). With `--against TREE` (the root of another checkout, an
older commit say), that checkout's `qplan apply` and no-op are timed too, in a folder of
their own, in the same interleaving: before/after figures that share the machine's drift.

Project targets: qplan apply / plain loop <= 1.0, qplan apply / run_batch <= 1.2,
`qplan --help` < 0.3 s. A ratio to a target at or below 1.0 meets it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SHOTS = 100
AGAINST_FRESH = "--against: qplan apply (fresh)"
AGAINST_NOOP = "--against: qplan apply (no-op)"
HELP_RUNS = 10
HELP_TARGET = 0.3  # seconds
LOOP_TARGET = 1.0  # qplan / plain loop
BATCH_TARGET = 1.2  # qplan / run_batch
PROGRAM = """\
OPENQASM 3.0;
input float theta;
qubit[2] q;
bit[2] c;
ry(theta) q[0];
cnot q[0], q[1];
c = measure q;
"""
MANIFEST = """\
version: 1
stack: bench-apply
programs:
  ry:
    format: openqasm3
    source: |
{source}jobs:
  scan:
    target: local/braket_sv
    program: ry
    shots: {shots}
    sweep:
      grid:
        theta: {{linspace: [0, 3.14159, {n}]}}
"""
# The hand-written baselines: what a user would write without qplan. Each prints one JSON
# line, the shot total of every result, so that the parent checks they really ran.
LOOP = """\
import json
import sys

from braket.devices import LocalSimulator
from braket.ir.openqasm import Program

source = open(sys.argv[1]).read()
points = json.load(open(sys.argv[2]))
device = LocalSimulator("braket_sv")
shots = []
for theta in points:
    result = device.run(Program(source=source, inputs={"theta": theta}), shots=%(shots)d).result()
    shots.append(sum(result.measurement_counts.values()))
print(json.dumps(shots))
"""
BATCH = """\
import json
import os
import sys

from braket.devices import LocalSimulator
from braket.ir.openqasm import Program

if __name__ == "__main__":
    source = open(sys.argv[1]).read()
    points = json.load(open(sys.argv[2]))
    device = LocalSimulator("braket_sv")
    batch = device.run_batch(
        [Program(source=source) for _ in points],
        shots=%(shots)d,
        max_parallel=os.cpu_count(),
        inputs=[{"theta": theta} for theta in points],
    )
    print(json.dumps([sum(r.measurement_counts.values()) for r in batch.results()]))
"""


class Bench:
    def __init__(
        self, folder: Path, n: int, parallelism: int | None, tree: Path | None = None
    ) -> None:
        folder.mkdir(exist_ok=True)
        self.folder = folder
        self.n = n
        self.manifest = folder / "manifest.yaml"
        source = "".join(f"      {line}\n" for line in PROGRAM.splitlines())
        self.manifest.write_text(MANIFEST.format(source=source, shots=SHOTS, n=n))
        (folder / "program.qasm").write_text(PROGRAM)
        self.points = self._points()
        (folder / "points.json").write_text(json.dumps(self.points))
        (folder / "loop.py").write_text(LOOP % {"shots": SHOTS})
        (folder / "batch.py").write_text(BATCH % {"shots": SHOTS})
        self.env = {k: v for k, v in os.environ.items() if k not in ("QPLAN_STATE",)}
        if tree is not None:  # another checkout's qplan (--against)
            self.env["PYTHONPATH"] = str(tree)
        self.apply_args = ["--parallelism", str(parallelism)] if parallelism else []

    def _points(self) -> list[float]:
        """The sweep's values of theta, as qplan expands them (same points for every case)."""
        import qplan

        stack = qplan.load(self.manifest)
        points = [float(i.point["theta"]) for i in stack.jobs["scan"].instances()]
        if len(points) != self.n:
            raise SystemExit(f"the manifest expands to {len(points)} points, expected {self.n}")
        return points

    def _run(self, command: list[str], what: str) -> tuple[float, subprocess.CompletedProcess]:
        started = time.perf_counter()
        done = subprocess.run(
            command, cwd=self.folder, env=self.env, capture_output=True, text=True, check=False
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(
                f"{what} exited {done.returncode}: {' '.join(command)}\n{done.stdout}{done.stderr}"
            )
        return elapsed, done

    def qplan_apply(self) -> float:
        shutil.rmtree(self.folder / ".qplan", ignore_errors=True)
        command = [sys.executable, "-m", "qplan", "apply", str(self.manifest), *self.apply_args]
        elapsed, done = self._run(command, "qplan apply")
        succeeded = self._succeeded()
        if succeeded != self.n:
            raise SystemExit(
                f"qplan apply: {succeeded} rows succeeded in the state, expected {self.n}\n"
                f"{done.stdout}{done.stderr}"
            )
        return elapsed

    def qplan_noop(self) -> float:
        command = [sys.executable, "-m", "qplan", "apply", str(self.manifest), *self.apply_args]
        elapsed, done = self._run(command, "qplan apply (no-op)")
        if "No changes" not in done.stdout:
            raise SystemExit(
                f"qplan apply on a finished stack did not say No changes:\n{done.stdout}"
            )
        return elapsed

    def _succeeded(self) -> int:
        db = self.folder / ".qplan" / "state.db"
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            row = conn.execute(
                "SELECT COUNT(*) FROM resources WHERE status = 'succeeded' "
                "AND result_hash IS NOT NULL"
            ).fetchone()
        finally:
            conn.close()
        return int(row[0])

    def check_results(self) -> None:
        """`qplan results --format json`: N results of SHOTS shots at the expected points."""
        command = [sys.executable, "-m", "qplan", "results", str(self.manifest), "--format", "json"]
        _, done = self._run(command, "qplan results")
        results = json.loads(done.stdout)
        thetas = sorted(float(r["point"]["theta"]) for r in results)
        totals = {sum(r["counts"].values()) for r in results}
        if len(results) != self.n or thetas != sorted(self.points) or totals != {SHOTS}:
            same = thetas == sorted(self.points)
            raise SystemExit(
                f"qplan results: {len(results)} results (expected {self.n}), shot totals "
                f"{sorted(totals)} (expected [{SHOTS}]), same points: {same}"
            )

    def script(self, name: str) -> float:
        command = [
            sys.executable,
            str(self.folder / name),
            str(self.folder / "program.qasm"),
            str(self.folder / "points.json"),
        ]
        elapsed, done = self._run(command, name)
        shots = json.loads(done.stdout.strip().splitlines()[-1])
        if len(shots) != self.n or set(shots) != {SHOTS}:
            raise SystemExit(f"{name}: {len(shots)} results, shot totals {sorted(set(shots))}")
        return elapsed

    def loop(self) -> float:
        return self.script("loop.py")

    def batch(self) -> float:
        return self.script("batch.py")

    def help(self) -> float:
        elapsed, done = self._run([sys.executable, "-m", "qplan", "--help"], "qplan --help")
        if "apply" not in done.stdout:
            raise SystemExit(f"qplan --help does not list apply:\n{done.stdout}")
        return elapsed

    def python(self) -> float:
        return self._run([sys.executable, "-c", "pass"], "python -c pass")[0]


def row(name: str, times: list[float], n: int | None) -> str:
    median = statistics.median(times)
    per = f"{median / n * 1e3:10.2f}" if n else f"{'':>10}"
    return f"{name:<34} {median:9.3f} {min(times):8.3f} {max(times):8.3f} {per} {len(times):>5}"


def verdict(value: float, target: float) -> str:
    return "meets the target" if value <= target else "MISSES the target"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000, help="circuits (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=3, help="cold runs per case (default: 3)")
    parser.add_argument(
        "--parallelism",
        type=int,
        default=None,
        help="pass --parallelism to qplan apply (default: qplan's own default)",
    )
    parser.add_argument(
        "--against",
        type=Path,
        default=None,
        metavar="TREE",
        help="also time the qplan of another checkout (its root folder), interleaved with "
        "this one's, and print the ratios of this one to it",
    )
    args = parser.parse_args()
    if args.against is not None and not (args.against / "qplan" / "__init__.py").is_file():
        parser.error(f"--against {args.against}: no qplan package there")
    if args.n < 2 or args.runs < 1:
        parser.error("--n must be at least 2 and --runs at least 1")

    print(
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()} ({platform.python_implementation()})"
    )
    print(
        f"{args.n:,} OpenQASM 3 circuits (2 qubits, ry + cnot), {SHOTS} shots each, "
        f"braket_sv; cold processes, median of {args.runs} runs"
        + (f"; qplan apply --parallelism {args.parallelism}" if args.parallelism else "")
    )
    with tempfile.TemporaryDirectory(prefix="qplan-bench-apply-") as tmp:
        bench = Bench(Path(tmp), args.n, args.parallelism)
        cases: dict[str, Callable[[], float]] = {
            "qplan apply (fresh state)": bench.qplan_apply,
            "qplan apply again (no-op)": bench.qplan_noop,
            "plain loop, run().result()": bench.loop,
            "run_batch, max_parallel=CPUs": bench.batch,
        }
        if args.against is not None:
            other = Bench(Path(tmp) / "against", args.n, args.parallelism, args.against)
            cases[AGAINST_FRESH] = other.qplan_apply
            cases[AGAINST_NOOP] = other.qplan_noop
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):  # interleaved, so that drift hits every case alike
            for name, case in cases.items():
                times[name].append(case())
        bench.check_results()
        help_times = [bench.help() for _ in range(HELP_RUNS)]
        floor = [bench.python() for _ in range(HELP_RUNS)]

    print()
    header = (
        f"{'case':<34} {'median s':>9} {'min s':>8} {'max s':>8} {'ms/circuit':>10} {'runs':>5}"
    )
    print(header)
    print("-" * len(header))
    for name, values in times.items():
        print(row(name, values, None if "no-op" in name else args.n))
    print(row("qplan --help", help_times, None))
    print(row("python -c pass (floor)", floor, None))
    print()
    median = {name: statistics.median(values) for name, values in times.items()}
    qplan_s = median["qplan apply (fresh state)"]
    loop_s = median["plain loop, run().result()"]
    batch_s = median["run_batch, max_parallel=CPUs"]
    help_s = statistics.median(help_times)
    print(
        f"ratio qplan apply / plain loop:  {qplan_s / loop_s:5.2f}   "
        f"(target <= {LOOP_TARGET}: {verdict(qplan_s / loop_s, LOOP_TARGET)})"
    )
    print(
        f"ratio qplan apply / run_batch:   {qplan_s / batch_s:5.2f}   "
        f"(target <= {BATCH_TARGET}: {verdict(qplan_s / batch_s, BATCH_TARGET)})"
    )
    print(
        f"qplan --help / target:           {help_s / HELP_TARGET:5.2f}   "
        f"({help_s:.3f} s; target < {HELP_TARGET} s: {verdict(help_s, HELP_TARGET)})"
    )
    noop = median["qplan apply again (no-op)"]
    print(
        f"no-op re-apply / fresh apply:    {noop / qplan_s:5.2f}   "
        f"({noop:.3f} s for {args.n:,} unchanged instances)"
    )
    print(
        f"ratio plain loop / run_batch:    {loop_s / batch_s:5.2f}   "
        f"(what {os.cpu_count()} processes gain over one)"
    )
    if args.against is not None:
        print(f"against {args.against} (its qplan, same runs, interleaved):")
        print(f"  fresh apply, this / that:      {qplan_s / median[AGAINST_FRESH]:5.2f}")
        print(f"  no-op re-apply, this / that:   {noop / median[AGAINST_NOOP]:5.2f}")


if __name__ == "__main__":
    main()
