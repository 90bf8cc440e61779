"""Crash benchmark on Azure Quantum: SIGKILL `qplan apply` at random moments, resume, and
audit what the service holds.

    python tests/benchmarks/bench_azure_crash.py [--trials 20] [--points 40] [--seed S]

The service: Azurite and the Azure Quantum emulator (tests/emulators/azure), started once,
with 50 ms of latency on every API call and 0.3 s of run time per job. The manifest: one
OpenQASM 3 program swept over POINTS values of theta, half of them in an Azure session
(`on_job_failure: continue`), half outside one, on `ionq.simulator`. An uninterrupted apply is
timed first, in a folder of its own: call it T. Then, per trial, in a fresh folder against
a freshly reset emulator:

  1. 1 to 3 times (drawn at random): start `python -m qplan apply` in a new session and
     SIGKILL its process group at a moment drawn uniformly between 0.2 s and T after its
     start (an apply that ends before its moment does not count: the trial starts again);
  2. `qplan apply` to completion (exit 0);
  3. the audit, against the service itself: the emulator holds exactly one job per address
     (by the address in its metadata), POINTS in all, each Succeeded; each row is
     `succeeded` with that job's id and a stored result; `qplan results` gives POINTS
     results, each of 100 shots; every CreateJob call was answered 201 or 409 (a PUT made
     again, adopted), and those answered 201 are exactly POINTS;
  4. `qplan apply` once more: "No changes", and no CreateJob call.

One line per trial, then a summary; the exit status is 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ["QDK_PYTHON_TELEMETRY"] = "none"  # read when qdk is first imported

from tests.benchmarks.bench_crash import kill_group  # noqa: E402
from tests.benchmarks.common import finish, log, print_machine  # noqa: E402
from tests.emulators.azure.emulator import AzureQuantumEmulator, AzureSettings  # noqa: E402
from tests.emulators.azure.fixture import azure_environ  # noqa: E402
from tests.emulators.azurite import Azurite  # noqa: E402
from tests.emulators.kit import Fault  # noqa: E402

PROGRAM = "OPENQASM 3.0;\ninput float theta;\nqubit q;\nbit c;\nrx(theta) q;\nc = measure q;\n"
MANIFEST = """\
version: 1
stack: crash
providers:
  az: {{type: azure, resource_id: "{{{{ env('AZURE_QUANTUM_RESOURCE_ID') }}}}", location: eastus}}
programs:
  rx: {{format: openqasm3, path: rx.qasm}}
sessions:
  s: {{target: az/ionq.simulator, on_job_failure: continue}}
jobs:
  inside:
    session: s
    program: rx
    shots: 100
    sweep: {{grid: {{theta: {{linspace: [0, 3.141592653589793, {inside}]}}}}}}
  outside:
    target: az/ionq.simulator
    program: rx
    shots: 100
    sweep: {{grid: {{theta: {{linspace: [0.05, 3.0, {outside}]}}}}}}
"""


class Folder:
    """A trial's folder: its manifest, its qplan processes, its state."""

    def __init__(self, path: Path, points: int, environ: dict[str, str]) -> None:
        self.path = path
        self.environ = environ
        path.mkdir(parents=True)
        (path / "rx.qasm").write_text(PROGRAM)
        inside = points // 2
        manifest = MANIFEST.format(inside=inside, outside=points - inside)
        (path / "qplan.yaml").write_text(manifest)

    def start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "qplan", "apply", "qplan.yaml", "--poll-interval", "0.3"],
            cwd=self.path,
            env=self.environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def run(self, *args: str) -> tuple[int, str]:
        done = subprocess.run(
            [sys.executable, "-m", "qplan", *args],
            cwd=self.path,
            env=self.environ,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        return done.returncode, done.stdout + done.stderr

    def rows(self) -> dict[str, tuple[str, str | None, str | None]]:
        state = self.path / ".qplan" / "state.db"
        if not state.exists():
            return {}
        with sqlite3.connect(state) as conn:
            try:
                query = (
                    "SELECT address, status, provider_job_id, result_hash FROM resources "
                    "WHERE kind = 'job'"
                )
                return {a: (s, j, r) for a, s, j, r in conn.execute(query)}
            except sqlite3.OperationalError:  # the file exists, its tables not yet
                return {}


def audit(folder: Folder, emulator: AzureQuantumEmulator, points: int) -> list[str]:
    """What is wrong after the trial's final apply (nothing: an empty list)."""
    problems: list[str] = []
    jobs = list(emulator.job_records.values())
    per_address = Counter((j.details.get("metadata") or {}).get("qplan_address") for j in jobs)
    doubled = {a: n for a, n in per_address.items() if n > 1}
    if doubled:
        problems.append(f"{len(doubled)} addresses with several jobs: {sorted(doubled)[:3]}")
    if len(per_address) != points:
        problems.append(f"{len(per_address)} addresses with a job, expected {points}")
    unfinished = [j.id for j in jobs if j.status != "Succeeded"]
    if unfinished:
        problems.append(f"{len(unfinished)} jobs not Succeeded")
    by_address = {(j.details.get("metadata") or {}).get("qplan_address"): j.id for j in jobs}
    rows = folder.rows()
    wrong = [
        a
        for a, (status, job_id, result) in rows.items()
        if status != "succeeded" or job_id != by_address.get(a) or not result
    ]
    if wrong or len(rows) != points:
        problems.append(f"{len(rows)} rows, {len(wrong)} not succeeded with their job's result")
    code, output = folder.run("results", "qplan.yaml", "--format", "json")
    results = json.loads(output) if code == 0 else []
    if len(results) != points or any(sum(r["counts"].values()) != 100 for r in results):
        problems.append(f"`qplan results`: exit {code}, {len(results)} results")
    creates = emulator.calls.calls("CreateJob")
    answers = Counter(c.status for c in creates)
    if set(answers) - {201, 409} or answers[201] != points:
        other = Counter(c.error_code for c in creates if c.status not in (201, 409))
        problems.append(f"CreateJob answers {dict(answers)}, refusals {dict(other)}")
    before = len(emulator.calls.calls("CreateJob"))
    code, output = folder.run("apply", "qplan.yaml")
    if code != 0 or "No changes" not in output or len(emulator.calls.calls("CreateJob")) != before:
        problems.append(f"the apply after: exit {code}, {output.strip()[-200:]}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=20, help="(default: %(default)s)")
    parser.add_argument("--points", type=int, default=40, help="sweep size (default: 40)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    rng = random.Random(seed)
    print_machine("the Azure Quantum emulator with Azurite")
    print(
        f"{args.trials} trials, {args.points} points (half in a session), seed {seed}; "
        "50 ms per API call, 0.3 s per job"
    )
    started = time.perf_counter()
    failures: list[str] = []
    kills = intents_left = 0
    settings = AzureSettings(run_time=0.3)
    with (
        tempfile.TemporaryDirectory(prefix="qplan-bench-azure-crash-") as tmp,
        Azurite() as azurite,
        AzureQuantumEmulator(
            azurite.connection_string, config=settings, faults=[Fault.latency(0.05)]
        ) as emulator,
    ):
        environ = {**os.environ, **azure_environ(emulator)}

        def fresh(name: str) -> Folder:
            emulator.reset()  # its settings and latency back to the ones it started with
            return Folder(Path(tmp) / name, args.points, environ)

        timed = fresh("uninterrupted")
        clock = time.perf_counter()
        code, output = timed.run("apply", "qplan.yaml", "--poll-interval", "0.3")
        full = time.perf_counter() - clock
        if code != 0:
            raise SystemExit(f"the uninterrupted apply failed:\n{output}")
        log(f"uninterrupted apply: {full:.1f} s")
        for trial in range(1, args.trials + 1):
            folder = fresh(f"trial-{trial}")
            planned = rng.randint(1, 3)
            done = left = restarts = 0
            while done < planned:
                moment = rng.uniform(0.2, full)
                proc = folder.start()
                clock = time.monotonic()
                while proc.poll() is None and time.monotonic() - clock < moment:
                    time.sleep(0.01)
                if proc.poll() is not None:  # it ended before its moment: not a kill
                    restarts += 1
                    folder = fresh(f"trial-{trial}-again-{restarts}")
                    done = 0
                    continue
                kill_group(proc)
                done += 1
                left = sum(1 for s, _, _ in folder.rows().values() if s == "submitting")
                intents_left += left
            kills += done
            code, output = folder.run("apply", "qplan.yaml", "--poll-interval", "0.3")
            problems = [f"the resuming apply: exit {code}"] if code != 0 else []
            problems += audit(folder, emulator, args.points)
            adopted = output.count("adopted")
            verdict = "clean" if not problems else "FAILED: " + "; ".join(problems)
            print(
                f"trial {trial:2d}: {done} kill(s), {left} intents left by the last, "
                f"{adopted} adopted on resume: {verdict}"
            )
            failures += [f"trial {trial}: {p}" for p in problems]
    clean = args.trials - len({f.split(":")[0] for f in failures})
    print(
        f"\n{clean} of {args.trials} trials clean; {kills} kills, {intents_left} intents "
        "left by kills and resolved on resume"
    )
    finish(failures, time.perf_counter() - started)


if __name__ == "__main__":
    main()
