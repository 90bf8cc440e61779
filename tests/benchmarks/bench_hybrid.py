"""The VQE example's hybrid jobs through qplan against a hand-written `AwsQuantumJob.create`
loop, API calls side by side, on the Braket emulator.

    python tests/benchmarks/bench_hybrid.py [--quick] [--case-timeout 1800]

The service: moto (S3, STS, CloudWatch Logs) and the Braket emulator (tests/emulators/braket),
started on loopback by `braket_stack()` in this process. Hybrid jobs run as processes of the
emulator (at most `job_slots`, 2, at once), their tasks on the emulator's SV1. The work:
examples/braket-hybrid-vqe, copied to a temporary folder, one job per bond length (5), each a
VQE of 12 iterations (9 circuits per iteration, 3 at the end), 2000 shots per circuit. With
--quick: 2 bond lengths (0.7 and 1.2) and 4 iterations. Every contender is a fresh process
inheriting the environment `braket_stack()` sets, with BRAKET_JOBS_ROLE_ARN and
QPLAN_S3_BUCKET (the stack's bucket):

  qplan              `qplan apply qplan.yaml --var target=aws/sv1 --poll-interval 1`, then
                     `qplan results --format json`, `qplan metrics --format csv`, then a
                     second `qplan apply` (the same arguments): it must create no job
                     ("No changes");
  hand-written       the script a user writes without qplan: for each bond length
                     `AwsQuantumJob.create(device=sv1, source_module="vqe",
                     entry_point="vqe.algorithm:main", hyperparameters=..., input_data=
                     {"hamiltonian": "data/h2.json"}, role_arn=..., wait_until_complete=False,
                     job_name="vqe-h2-<bond>-<timestamp>")`, then `job.state()` for every job
                     not yet final, once a second, until all are, then `job.result()` of each;
                     run twice (after a crash, or to make sure): the second run creates as
                     many jobs again.

The emulator is reset (jobs, tasks, calls) before each contender; each row's calls are those
the emulator recorded during that process (by sequence number). Jobs' own calls are in the
record too: the tasks their VQE creates (CreateQuantumTask with the job's jobToken) and the
SDK's polls of those tasks (GetQuantumTask), the same code in both contenders. S3 has no call
record (moto): the table counts the objects that appeared in any bucket during the process,
split into those the client uploaded (source archives and input data: keys not written by the
emulator) and the others (task results, job outputs, checkpoints, written by the emulator or
the jobs).

Checks (any failure: exit status 1, the reasons printed at the end): every process exits 0
without a traceback; qplan's apply creates one job per bond length and its results give, per
bond length, an energy within 0.05 hartree of the exact one (with --quick: an energy); its metrics
give, per job, iterations + 1 energies, the last below the first by at least 0.3 hartree;
the re-apply prints "No changes" and creates no job; each run of the hand-written script
creates one job per bond length, all COMPLETED, with results as above; every task of every
contender was created with a jobToken, that of the job the emulator shows it under.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.benchmarks.common import Benchmark, add_case_timeout, finish, log, print_machine  # noqa: E402
from tests.emulators.braket.fixture import BraketEmulatorEnv, braket_stack  # noqa: E402

EXAMPLE = REPO / "examples" / "braket-hybrid-vqe"
ROLE = "arn:aws:iam::123456789012:role/braket-jobs"
BONDS = [0.5, 0.7, 0.9, 1.2, 1.6]
QUICK_BONDS = [0.7, 1.2]
ITERATIONS = 12
QUICK_ITERATIONS = 4
OPERATIONS = ("CreateJob", "GetJob", "SearchJobs", "CancelJob")
TASK_OPERATIONS = ("GetQuantumTask", "GetDevice")
# The hand-written contender: what a user writes with the SDK alone. Arguments: the bond
# lengths (JSON) and the iterations. Prints one JSON line: each job's name and result.
SCRIPT = """\
import json
import os
import sys
import time

from braket.aws import AwsQuantumJob

bonds = json.loads(sys.argv[1])
iterations = int(sys.argv[2])
sv1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
stamp = time.strftime("%Y%m%d-%H%M%S")
jobs = []
for bond in bonds:
    job = AwsQuantumJob.create(
        device=sv1,
        source_module="vqe",
        entry_point="vqe.algorithm:main",
        hyperparameters={
            "iterations": iterations,
            "stepsize": 1.0,
            "shots": 2000,
            "bond_length": bond,
        },
        input_data={"hamiltonian": "data/h2.json"},
        role_arn=os.environ["BRAKET_JOBS_ROLE_ARN"],
        wait_until_complete=False,
        job_name=f"vqe-h2-{str(bond).replace('.', 'p')}-{stamp}",
        tags={"experiment": "vqe-h2"},
    )
    jobs.append(job)
    print("created", job.arn, file=sys.stderr)

states = {job.arn: job.state() for job in jobs}
while any(s not in ("COMPLETED", "FAILED", "CANCELLED") for s in states.values()):
    time.sleep(1)
    for job in jobs:
        if states[job.arn] not in ("COMPLETED", "FAILED", "CANCELLED"):
            states[job.arn] = job.state()

out = []
for job in jobs:
    result = job.result() if states[job.arn] == "COMPLETED" else None
    out.append({"name": job.name, "state": states[job.arn], "result": result})
print(json.dumps(out))
"""


@dataclass
class Row:
    name: str
    wall: float = float("nan")
    jobs: int = 0  # jobs created (CreateJob calls that created one)
    calls: Counter[str] = field(default_factory=Counter)
    tasks_with_token: int = 0
    tasks_without_token: int = 0
    s3_uploaded: int = 0
    s3_other: int = 0


class Bench(Benchmark):
    def __init__(self, folder: Path, env: BraketEmulatorEnv, quick: bool, timeout: float) -> None:
        self.bonds = QUICK_BONDS if quick else BONDS
        super().__init__(folder, len(self.bonds))
        self.quick = quick
        self.iterations = QUICK_ITERATIONS if quick else ITERATIONS
        self.env = env
        self.timeout = timeout
        self.environ = {k: v for k, v in os.environ.items() if k != "QPLAN_STATE"}
        self.environ["BRAKET_JOBS_ROLE_ARN"] = ROLE
        self.environ["QPLAN_S3_BUCKET"] = env.bucket
        self.tolerance = None if quick else 0.05  # 4 iterations do not converge
        self.token_lines: list[str] = []
        self.energy_line = ""
        self.exact = {
            float(k): v["exact"]
            for k, v in json.loads((EXAMPLE / "data" / "h2.json").read_text())[
                "bond_lengths"
            ].items()
        }

    def progress(self, label: str, elapsed: float) -> None:
        jobs = Counter(j["status"] for j in self.env.emulator.hybrid_jobs())
        tasks = len(self.env.emulator.tasks())
        log(f"  [{label}] {elapsed:6.0f} s: jobs {dict(jobs)}, {tasks} tasks")

    def copy(self, name: str) -> Path:
        """The example in a fresh folder (fresh state); --quick: fewer points and iterations."""
        folder = self.folder / name
        shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__", ".qplan"))
        manifest = folder / "qplan.yaml"
        text = manifest.read_text()
        sweep = "bond_length: [0.5, 0.7, 0.9, 1.2, 1.6]"
        hp = "iterations: 12,"
        if sweep not in text or hp not in text:
            raise SystemExit("the example's manifest changed: update bench_hybrid.py")
        text = text.replace(sweep, f"bond_length: {json.dumps(self.bonds)}")
        text = text.replace(hp, f"iterations: {self.iterations},")
        manifest.write_text(text)
        return folder

    # --- the record ---------------------------------------------------------------------

    def mark(self) -> tuple[int, dict[str, str]]:
        """The call record's last sequence number and every S3 object now (key: ETag)."""
        calls = self.env.calls.calls()
        return (calls[-1].seq if calls else 0), self.objects()

    def objects(self) -> dict[str, str]:
        s3 = self.env.s3_client()
        found: dict[str, str] = {}
        try:
            for bucket in s3.list_buckets().get("Buckets", []):
                name = bucket["Name"]
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
                    for item in page.get("Contents", []):
                        found[f"{name}/{item['Key']}"] = item["ETag"]
        finally:
            s3.close()
        return found

    def record(self, row: Row, since: tuple[int, dict[str, str]]) -> None:
        """`row`'s calls, jobs, tasks and S3 objects since the mark `since`."""
        seq, before = since
        calls = [c for c in self.env.calls.calls() if c.seq > seq]
        row.calls = Counter(c.operation for c in calls)
        row.jobs = sum(
            1
            for c in calls
            if c.operation == "CreateJob" and c.status and 200 <= c.status < 300 and not c.replay
        )
        tokens = [
            self.env.emulator.task_job_token(c.task_arn)
            for c in calls
            if c.operation == "CreateQuantumTask" and c.status and 200 <= c.status < 300
        ]
        row.tasks_with_token = sum(1 for t in tokens if t)
        row.tasks_without_token = sum(1 for t in tokens if not t)
        after = self.objects()
        new = [k for k, etag in after.items() if before.get(k) != etag]
        uploaded = [k for k in new if self.uploaded(k)]
        row.s3_uploaded, row.s3_other = len(uploaded), len(new) - len(uploaded)

    @staticmethod
    def uploaded(key: str) -> bool:
        """Whether the client uploaded this object (a source archive or input data), not the
        emulator or a job (task results, job output, checkpoints)."""
        _, _, path = key.partition("/")
        if re.search(r"(^|/)(tasks|output|checkpoints)/", path):
            return False
        if path.endswith(("results.json", "model.tar.gz")):
            return False
        return "source" in path or "/data/" in path or "input" in path or "/src/" in path

    def check_tokens(self, label: str) -> None:
        """Every task was created with a jobToken, that of the job it shows."""
        tasks = self.env.emulator.tasks()
        bad = []
        for task in tasks:
            arn = task["quantumTaskArn"]
            token = self.env.emulator.task_job_token(arn)
            job = task.get("jobArn")
            if not token or not job or token != self.env.emulator.job_token(job):
                bad.append(arn)
        if not tasks:
            self.fail(f"{label}: no task reached the emulator")
        elif bad:
            self.fail(f"{label}: {len(bad)} of {len(tasks)} tasks without their job's token")
        self.token_lines.append(
            f"{label}: {len(tasks) - len(bad)} of {len(tasks)} tasks carried their job's "
            f"jobToken (jobs: {len(self.env.emulator.hybrid_jobs())})"
        )

    # --- checks ---------------------------------------------------------------------------

    def check_energies(self, label: str, results: dict[float, dict[str, Any]]) -> None:
        if sorted(results) != sorted(self.bonds):
            self.fail(f"{label}: results at {sorted(results)}, expected {self.bonds}")
        for bond, saved in results.items():
            energy = float(saved.get("energy", "nan"))
            if self.tolerance is None:
                if math.isnan(energy):  # no energy saved
                    self.fail(f"{label}: no energy at {bond}: {saved}")
                continue
            if not abs(energy - self.exact[bond]) <= self.tolerance:
                self.fail(
                    f"{label}: energy {energy} at {bond}, exact {self.exact[bond]} "
                    f"(tolerance {self.tolerance})"
                )

    def check_jobs(self, label: str, expected: int) -> None:
        statuses = Counter(j["status"] for j in self.env.emulator.hybrid_jobs())
        if statuses != Counter({"COMPLETED": expected}):
            self.fail(f"{label}: jobs {dict(statuses)}, expected {expected} COMPLETED")

    # --- contenders -----------------------------------------------------------------------

    def qplan(self) -> list[Row]:
        folder = self.copy("qplan")
        self.env.emulator.reset()
        command = [
            sys.executable,
            "-m",
            "qplan",
            "apply",
            "qplan.yaml",
            "--var",
            "target=aws/sv1",
            "--poll-interval",
            "1",
        ]
        row = Row("qplan apply")
        log(f"qplan apply: {self.n} jobs ...")
        since = self.mark()
        row.wall, _, stdout, _ = self.run(command, folder, self.environ, "apply", self.timeout)
        self.record(row, since)
        if row.jobs != self.n:
            self.fail(f"qplan apply: {row.jobs} jobs created, expected {self.n}")
        self.check_jobs("qplan apply", self.n)
        self.check_tokens("qplan apply")
        log(f"qplan apply: {row.wall:.1f} s")

        extra = ["--var", "target=aws/sv1"]
        results_cmd = [sys.executable, "-m", "qplan", "results", "qplan.yaml", *extra]
        _, code, out, _ = self.run(
            [*results_cmd, "--format", "json"], folder, self.environ, "results", 600
        )
        if code == 0:
            records = json.loads(out)
            got = {float(r["point"]["bond_length"]): r["result"] for r in records}
            self.check_energies("qplan results", got)
        metrics_cmd = [sys.executable, "-m", "qplan", "metrics", "qplan.yaml", *extra]
        _, code, out, _ = self.run(
            [*metrics_cmd, "--format", "csv"], folder, self.environ, "metrics", 600
        )
        if code == 0:
            rows: dict[str, list[tuple[int, float]]] = {}
            for line in csv.DictReader(io.StringIO(out)):
                if line.get("energy"):
                    rows.setdefault(line["address"], []).append(
                        (int(line["iteration"]), float(line["energy"]))
                    )
            if len(rows) != self.n:
                self.fail(f"qplan metrics: energies of {len(rows)} jobs, expected {self.n}")
            for address, points in rows.items():
                energies = [e for _, e in sorted(points)]
                if len(energies) != self.iterations + 1 or energies[-1] > energies[0] - 0.3:
                    self.fail(f"qplan metrics: {address}: energies {energies} do not fall")
            self.energy_line = "qplan metrics: energy per job, first -> last: " + ", ".join(
                f"{a.split('=')[-1].rstrip(']')}: {sorted(p)[0][1]:.3f} -> {sorted(p)[-1][1]:.3f}"
                for a, p in sorted(rows.items())
            )

        again = Row("qplan apply, again")
        log("qplan apply, again ...")
        since = self.mark()
        again.wall, _, stdout, _ = self.run(command, folder, self.environ, "apply-again", 600)
        self.record(again, since)
        if "No changes" not in stdout:
            self.fail(f"qplan apply, again: no 'No changes' in its output: {stdout[-500:]}")
        if again.jobs:
            self.fail(f"qplan apply, again: {again.jobs} jobs created, expected 0")
        log(f"qplan apply, again: {again.wall:.1f} s")
        return [row, again]

    def script(self) -> list[Row]:
        folder = self.copy("script")
        (folder / "submit.py").write_text(SCRIPT)
        self.env.emulator.reset()
        rows = []
        for run, name in enumerate(("hand-written script", "hand-written script, again")):
            row = Row(name)
            log(f"{name}: {self.n} jobs ...")
            since = self.mark()
            command = [
                sys.executable,
                "submit.py",
                json.dumps(self.bonds),
                str(self.iterations),
            ]
            row.wall, code, stdout, _ = self.run(
                command, folder, self.environ, f"script-{run}", self.timeout
            )
            self.record(row, since)
            if row.jobs != self.n:
                self.fail(f"{name}: {row.jobs} jobs created, expected {self.n}")
            self.check_jobs(name, self.n * (run + 1))
            if code == 0:
                data = json.loads(stdout.strip().splitlines()[-1])
                got = {float(d["result"]["bond_length"]): d["result"] for d in data if d["result"]}
                self.check_energies(name, got)
            rows.append(row)
            log(f"{name}: {row.wall:.1f} s")
        self.check_tokens("hand-written script (both runs)")
        return rows


# --- the report -----------------------------------------------------------------------------


def print_table(rows: list[Row]) -> None:
    ops = [*OPERATIONS, "CreateQuantumTask", *TASK_OPERATIONS]
    short = {
        "CreateJob": "CreateJob",
        "GetJob": "GetJob",
        "SearchJobs": "SearchJobs",
        "CancelJob": "CancelJob",
        "GetQuantumTask": "GetTask",
        "GetDevice": "GetDevice",
    }
    head = (
        f"{'contender':<28} {'wall s':>7} {'jobs':>5} "
        + " ".join(f"{short[o]:>10}" for o in OPERATIONS)
        + f" {'CreateTask':>10} {'(job/none)':>10} "
        + " ".join(f"{short[o]:>10}" for o in TASK_OPERATIONS)
        + f" {'other':>6} {'S3 up':>6} {'S3 svc':>6}"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        other = sum(v for k, v in row.calls.items() if k not in ops)
        print(
            f"{row.name:<28} {row.wall:7.1f} {row.jobs:>5} "
            + " ".join(f"{row.calls.get(o, 0):>10}" for o in OPERATIONS)
            + f" {row.calls.get('CreateQuantumTask', 0):>10}"
            + f" {f'{row.tasks_with_token}/{row.tasks_without_token}':>10} "
            + " ".join(f"{row.calls.get(o, 0):>10}" for o in TASK_OPERATIONS)
            + f" {other:>6} {row.s3_uploaded:>6} {row.s3_other:>6}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 bond lengths and 4 iterations (default: 5, 12)"
    )
    add_case_timeout(parser, "contender")
    args = parser.parse_args()
    import braket._sdk

    print_machine(f"amazon-braket-sdk {braket._sdk.__version__}")
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="qplan-bench-hybrid-") as tmp,
        braket_stack(max_workers=8) as env,
    ):
        bench = Bench(Path(tmp), env, args.quick, args.case_timeout)
        slots = env.config.job_slots
        print(
            f"{bench.n} hybrid jobs (VQE for H2 at bond lengths {bench.bonds}, "
            f"{bench.iterations} iterations, 2000 shots), tasks on sv1 of the Braket emulator, "
            f"{slots} jobs running at once" + (" (--quick)" if args.quick else "")
        )
        rows = bench.qplan()
        rows += bench.script()
        failures = bench.failures
    total = time.perf_counter() - started

    print()
    print_table(rows)
    print()
    print(
        "jobs: CreateJob calls that created a job; CreateTask (job/none): tasks created with "
        "a jobToken / without; GetTask: the jobs' own polls of their tasks (the same VQE in "
        "both); GetDevice: the jobs' and the client's; S3 up: objects the client uploaded "
        "(source, input data); S3 svc: objects the emulator and the jobs wrote (task "
        "results, outputs, checkpoints); S3 from listing the buckets (moto has no call record)"
    )
    for line in bench.token_lines:
        print(line)
    if bench.energy_line:
        print(bench.energy_line)
    finish(failures, total)


if __name__ == "__main__":
    main()
