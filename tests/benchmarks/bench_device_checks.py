"""Time the device checks of Pulser sweeps on a Pasqal target: in-process and in a cold
`qplan plan`.

    python tests/benchmarks/bench_device_checks.py [--points 500] [--runs 5]

The work: a mappable register of three qubits on a layout of twelve traps, one global
pulse of amplitude `omega`, swept over --points points each with its own amplitude
(`linspace: [1, 12, N]`) and its own trap mapping: the worst case, a build and a register
check per point. The target is `pq/FRESNEL`, checked against Pulser's AnalogDevice with the
QPU rules (what a plan does offline: no Pasqal credentials here).

Cases:

  check_sequences      `qplan.manifest.pulser_devices.check_sequences` on the loaded stack,
                       Pulser imported beforehand: the checks' own time, median of --runs;
  qplan plan (cold)    `python -m qplan plan` in a fresh process (interpreter, imports,
                       load, the checks, the plan), median of --runs; beside it the same
                       plan of the same manifest on `local/qutip`, which is not checked:
                       the difference is what the checks cost a user.
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
sys.path.insert(0, str(REPO))

from tests.pulser_programs import mappable  # noqa: E402


def manifest(target: str, points: int) -> str:
    mappings = ", ".join(
        f"{{q0: {i % 12}, q1: {(i + 1) % 12}, q2: {(i + 2) % 12}}}" for i in range(points)
    )
    return (
        "version: 1\nstack: devices\n"
        "providers:\n  pq: {type: pasqal, project_id: bench}\n"
        "programs:\n  seq: {format: pulser, path: seq.json}\n"
        "jobs:\n  scan:\n"
        f"    target: {target}\n    program: seq\n    shots: 10\n"
        "    sweep:\n      zip:\n"
        f"        omega: {{linspace: [1, 12, {points}]}}\n"
        f"        qubits: [{mappings}]\n"
    )


def in_process(folder: Path, runs: int) -> list[float]:
    from pulser.devices import AnalogDevice

    import qplan
    from qplan.manifest.pulser_devices import TargetDevice, check_sequences

    stack = qplan.load(folder / "fresnel.yaml")
    devices = {"pq/FRESNEL": TargetDevice(AnalogDevice, qpu=True)}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        found = check_sequences(stack, devices)
        times.append(time.perf_counter() - start)
        assert not found, [d.message for d in found]
    return times


def cold_plan(folder: Path, name: str, runs: int) -> list[float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASQAL_")}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "qplan", "plan", name, "--state", str(folder / "none.db")],
            capture_output=True,
            text=True,
            cwd=folder,
            env=env,
            check=False,
        )
        times.append(time.perf_counter() - start)
        if done.returncode not in (0, 2):
            raise SystemExit(f"qplan plan {name} failed:\n{done.stdout}{done.stderr}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, {platform.system()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "seq.json").write_text(mappable(rows=3, qubits=3, duration=500))
        (folder / "fresnel.yaml").write_text(manifest("pq/FRESNEL", args.points))
        (folder / "local.yaml").write_text(manifest("local/qutip", args.points))
        checks = in_process(folder, args.runs)
        fresnel = cold_plan(folder, "fresnel.yaml", args.runs)
        local = cold_plan(folder, "local.yaml", args.runs)

    def line(label: str, times: list[float]) -> str:
        median = statistics.median(times)
        return f"  {label:<34} {median:7.3f} s  (min {min(times):.3f}, max {max(times):.3f})"

    print(f"{args.points} points, each its own amplitude and mapping; median of {args.runs}:")
    print(line("check_sequences (in process)", checks))
    print(line("qplan plan, pq/FRESNEL (checked)", fresnel))
    print(line("qplan plan, local/qutip (unchecked)", local))
    extra = statistics.median(fresnel) - statistics.median(local)
    print(f"  the checks cost a cold plan {extra:+.3f} s (Pulser's import included)")


if __name__ == "__main__":
    main()
