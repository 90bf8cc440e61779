"""Time `qplan validate` in a cold process: the quickstart and 100,000-point sweeps.

    python tests/benchmarks/bench_validate.py [--runs 5]

Each case is a fresh `python -m qplan validate` process (imports included), run several
times; the median and the spread are printed. The 100,000-point manifests are generated
in a temporary folder three ways: a grid of generators, an explicit `points:` list in the
YAML itself, and a `points_file:` CSV.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAD = """\
version: 1
stack: bench
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
  scan:
    target: local/braket_sv
    program: rabi
    shots: 100
    sweep:
"""


def generate(folder: Path) -> dict[str, Path]:
    grid = folder / "grid.yaml"
    grid.write_text(
        HEAD + "      grid:\n        theta: {linspace: [0, 3.14159, 1000]}\n"
        "        phi: {linspace: [0, 1, 100]}\n"
    )
    inline = folder / "points.yaml"
    lines = [HEAD + "      points:\n"]
    lines += [f"        - {{theta: {i * 1e-5!r}, phi: {i % 100}}}\n" for i in range(100_000)]
    inline.write_text("".join(lines))
    csv = folder / "points.csv"
    csv.write_text("theta,phi\n" + "".join(f"{i * 1e-5!r},{i % 100}\n" for i in range(100_000)))
    from_file = folder / "points_file.yaml"
    from_file.write_text(HEAD + "      points_file: points.csv\n")
    return {
        "quickstart (6 instances)": REPO / "examples" / "quickstart" / "qplan.yaml",
        "grid, 100,000 points": grid,
        "points_file CSV, 100,000 points": from_file,
        "inline points list, 100,000 points": inline,
    }


def time_once(manifest: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "qplan", "validate", str(manifest)],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"validate failed on {manifest}:\n{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cases = generate(Path(tmp))
        baseline = [time_once_python() for _ in range(args.runs)]
        print(
            f"{'case':<38} {'median':>8} {'min':>8} {'max':>8}   (cold process, {args.runs} runs)"
        )
        print(
            f"{'python -c pass (interpreter start)':<38} {statistics.median(baseline):8.3f} "
            f"{min(baseline):8.3f} {max(baseline):8.3f}"
        )
        medians = {}
        for name, path in cases.items():
            times = [time_once(path) for _ in range(args.runs)]
            medians[name] = statistics.median(times)
            print(f"{name:<38} {medians[name]:8.3f} {min(times):8.3f} {max(times):8.3f}")
        quick = medians["quickstart (6 instances)"]
        for name, value in medians.items():
            print(f"ratio {name} / quickstart: {value / quick:.2f}")


def time_once_python() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
