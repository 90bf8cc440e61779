"""What the GitOps features cost on big sweeps: the lock file and the Markdown plan.

    python tests/benchmarks/bench_gitops.py [--sizes 100000,1000000] [--runs 3]

For each size, bench_plan's case is built (one job `scan` swept over SIZE points, a real
SQLite state where every second point has succeeded; setup, not timed). Then, each a cold
`python -m qplan` process measured for wall time and its own peak RSS (median of RUNS):

- `plan`, with no lock file next to the manifest (the plan as before, with its estimate);
- `lock`: the lock file written from the state (its size is printed too);
- `plan` with that lock file present: the plan reads its header and, the state being the
  one it was written at, nothing more; the ratio to the plain plan is what a committed
  lock file costs each plan;
- `lock --check`: every line compared with the state (what CI runs after an apply);
- `plan --format markdown`: the pull request's comment (its size is printed too).

`apply` writes the lock file from the state at its end: the `lock` row is that cost.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.benchmarks.bench_plan import Case, Run, generate, plan_once  # noqa: E402


def lock_once(case: Case, *extra: str) -> Run:
    """One cold `qplan lock` process: it writes the lock file from the state, or with
    `--check` compares every line of it with the state."""
    command = [sys.executable, "-m", "qplan", "lock", str(case.manifest), *extra]
    env = {k: v for k, v in os.environ.items() if k != "QPLAN_STATE"}
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"qplan lock on {case.size} points failed")
    return Run(elapsed, usage.ru_maxrss * 1024 / 1e6)


def median(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.seconds for r in runs), statistics.median(r.peak_mb for r in runs)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100000,1000000", help="points per case")
    parser.add_argument("--runs", type=int, default=3, help="cold runs per figure")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"# {platform.machine()} {platform.system()} {platform.release()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"median of {args.runs} cold processes"
    )
    print()
    print(
        "| points | plan s | plan MB | lock s | lock MB | lock file MB | plan with lock s | "
        "ratio | plan with lock MB | lock --check s | lock --check MB | markdown plan s | "
        "markdown MB | comment KB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="qplan-bench-gitops-") as root:
        for size in sizes:
            (case,) = generate(Path(root) / f"s{size}", size)
            scratch = Path(root) / f"scratch{size}"
            scratch.mkdir()
            lock = case.manifest.with_suffix(".lock")
            plain = median([plan_once(case, scratch) for _ in range(args.runs)])
            written = median([lock_once(case) for _ in range(args.runs)])
            mb = lock.stat().st_size / 1e6
            with_lock = median([plan_once(case, scratch) for _ in range(args.runs)])
            checked = median([lock_once(case, "--check") for _ in range(args.runs)])
            if "does not match" in (scratch / "stdout.txt").read_text():
                raise SystemExit("the lock file written from the state does not match it")
            lock.unlink()
            markdown = median(
                [plan_once(case, scratch, ["--format", "markdown"]) for _ in range(args.runs)]
            )
            comment = (scratch / "stdout.txt").stat().st_size / 1e3
            print(
                f"| {size:,} | {plain.seconds:.2f} | {plain.peak_mb:.0f} | "
                f"{written.seconds:.2f} | {written.peak_mb:.0f} | {mb:.1f} | "
                f"{with_lock.seconds:.2f} | {with_lock.seconds / plain.seconds:.2f}x | "
                f"{with_lock.peak_mb:.0f} | {checked.seconds:.2f} | {checked.peak_mb:.0f} | "
                f"{markdown.seconds:.2f} | {markdown.peak_mb:.0f} | "
                f"{comment:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
