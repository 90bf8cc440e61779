"""Time `qplan apply` on N Braket tasks against hand-written SDK code, on the Braket emulator.

    python tests/benchmarks/bench_braket.py [--tasks 500] [--loop-tasks 60]
        [--max-parallel 10,64] [--qplan-poll-interval 1] [--no-native] [--case-timeout 1800]

The service: moto (S3, STS) and the wire-compatible Braket emulator
(tests/emulators/braket), started on loopback by `braket_stack()` in this process, with
200 ms added to every Braket API call (a latency rule of the emulator kit, `Fault.latency(0.2)`)
and a queue time of 2 s per task (`queue_time=2.0`). The work: one OpenQASM 3 program
(`input float theta; qubit q; bit c; ry(theta) q; c = measure q;`), 100 shots on sv1, at N
values of theta (`linspace: [0, pi, N]`, expanded by `qplan.load`, the same points for every
case). Every case is a fresh process (interpreter start and imports included) inheriting the
environment `braket_stack()` sets (endpoints, fake credentials):

  qplan apply          `python -m qplan apply qplan.yaml` in a fresh folder (fresh state), a
                       `braket` provider whose `s3_bucket` comes from QPLAN_S3_BUCKET, target
                       aws/sv1, default options; then again with `--poll-interval P`
                       (--qplan-poll-interval, default 1; 0 skips it);
  qplan apply, batch: native
                       the same manifest, except `batch: native` in the sweep, in a fresh
                       folder, default options (--no-native skips it): qplan sends the points
                       as ProgramSet tasks (action braket.ir.openqasm.program_set, one
                       executable per point, up to sv1's maximumExecutables, 100, per task:
                       ceil(N / 100) tasks), each point keeping its own state row, whose
                       provider job id is TASK_ARN#k (k: the executable's index);
  run_batch            `AwsDevice(sv1).run_batch([Program(source=...)] * N,
                       s3_destination_folder=(bucket, prefix), shots=100, max_parallel=M,
                       inputs=[{"theta": x}, ...]).results()` (per-task inputs: a list of
                       dicts, one per program, as AwsQuantumTaskBatch zips them), once per M
                       of --max-parallel (default 10, the SDK's default, and 64, qplan's
                       in-flight limit before it became 1000 tasks on Braket);
  submit all, collect  `tasks = [device.run(Program(source=..., inputs={"theta": x}),
                       s3_destination_folder=..., shots=100) for x in points]`, then
                       `[t.result() for t in tasks]`: the other common notebook pattern, on
                       all N;
  plain loop           `device.run(Program(...), s3_destination_folder=..., shots=100)
                       .result()` for each point in turn, blocking on each. Every task waits
                       its 2 s queue, so all N take about 2.6 s x N (about 22 minutes for 500):
                       the loop runs on --loop-tasks points (default 60, spread evenly over the
                       sweep, both ends included; 0 skips it) and its time is EXTRAPOLATED to
                       N as (process start-up, imports and AwsDevice()) + (loop time / points
                       run) x N, clearly labelled so. With --loop-tasks >= N it is measured.

Between cases the emulator is reset (`emulator.reset()`: tasks, client tokens, call log, and
the latency rule and config back to 0.2 s / 2 s), so that each case sees only its own tasks
(qplan lists tasks by device and creation time: the tasks of an earlier case would add pages
to its searches). Before the first case the emulator runs one task (the state-vector
simulator's first run compiles its kernels) and one cold `python -c "import braket.aws,
qplan"` warms the disk cache. Per case: wall time from process start to exit, and the API
calls the emulator answered, by operation (CreateQuantumTask, GetQuantumTask,
SearchQuantumTasks, CancelQuantumTask, GetDevice).

Checks (any failure: exit status 1, with the reasons printed at the end):

- every process exits 0 without a Python traceback on stderr;
- every case returns one result per point run, 100 shots each, outcomes "0"/"1" only,
  theta = 0 gives {"0": 100} and theta = pi gives {"1": 100}, and every point's count of "1"
  is within 6 standard deviations (+1 shot) of 100 sin^2(theta / 2) (the inputs reached the
  right tasks; a false alarm has a probability of about 1e-9 per point);
- qplan (every case): `qplan results --format json` gives N results at the N points (their
  counts checked as above); the state holds N rows `succeeded` with a result hash;
- qplan per point: exactly N CreateQuantumTask calls created a task (answered 2xx and not a
  replay of an earlier clientToken), with N distinct clientTokens, and the emulator holds
  exactly one task per qplan address (tag `qplan-address`);
- qplan, batch: native: exactly ceil(N / 100) CreateQuantumTask calls created a task, with
  as many distinct clientTokens, and the emulator holds no other task and one task per qplan
  key (tag `qplan-key`); each of them is a ProgramSet (GetQuantumTask's actionMetadata:
  actionType braket.ir.openqasm.program_set) and their executableCounts sum to N; every
  point's provider job id is TASK_ARN#k of one of them with k below its executableCount, no
  two points on the same executable;
- the SDK cases: exactly one task created per point run;
- qplan's status calls: at most one status call per 50 in-flight tasks per poll (below).

Status calls per poll, from the call log (for each qplan run, the native one included, where
"tasks" are its ProgramSet tasks, at most ceil(N / 100) in flight, so one call per poll is
the target there; its API calls by operation are in the table): qplan observes its in-flight
tasks with SearchQuantumTasks filtered by device, 100 tasks per page; one poll may make
several searches with different filters (a createdAt window, the window's tasks in flight
only, the tasks just finished by their own window or by ARN) and their pages, one after
another, milliseconds apart, and the next poll starts a poll interval (2 s by default, 1 s
with --poll-interval 1) after it ends. So a poll is a burst of SearchQuantumTasks calls whose
filters name a `deviceArn`: each call that arrives within POLL_GAP (0.25 s, or half the
--poll-interval if less) of the answer to the previous such call belongs to the same poll;
its start is the arrival time of its first call. Searches without a device filter (lookups
by key after an ambiguous create, or by task ARN of an earlier process) and GetQuantumTask
calls are counted apart. The tasks in flight at
poll p, N_p, are those whose CreateQuantumTask had been answered before poll p started and
that qplan could not yet know to be finished: created after the start of poll p-1, or ended
(the emulator's endedAt) at or after the start of poll p-1. A task that ended while poll p-1
was being served is counted as in flight although p-1 may have seen it finish, so N_p is an
upper bound and the ratio below a lower bound: a miss is a real one. A poll may make
ceil(N_p / 50) calls (one call is the least any poll can make); the ratio of a poll is
calls_p / ceil(N_p / 50), and the worst ratio over the polls is reported (target <= 1), with
the number of polls over 1, and for polls with N_p >= 50 the literal calls_p / (N_p / 50).

Speed targets (verdicts printed; not part of the exit status): qplan apply (default options)
at least 10x faster than the plain loop (extrapolated to N if the loop ran on a subset), and
faster than run_batch (for each max_parallel). A ratio to a target at or above 1.0 meets it
(above 1.0 for "faster"). The same ratios and verdicts are printed for the other qplan cases,
and for the native case its speed-up over the per-point qplan apply (no target). The table's
"tasks" and "s/task" count points (the native case runs N points in ceil(N / 100) tasks).
The emulator answers every call after 200 ms but, unlike the service, does not throttle:
run_batch with a large max_parallel creates tasks faster than Braket's CreateQuantumTask quota
(20 per second, bursts of 40) would allow, while qplan keeps under it (18 per second, bursts
of 36). The SDK polls each task every `getTaskPollIntervalMillis` the emulator's GetDevice
advertises (100 ms).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.benchmarks import common  # noqa: E402
from tests.benchmarks.common import (  # noqa: E402
    POLL_GAP,
    SHOTS,
    Benchmark,
    add_case_timeout,
    count_in_flight,
    epoch,
    finish,
    group_polls,
    log,
    print_machine,
    verdict,
)
from tests.emulators.braket.devices import (  # noqa: E402
    PROGRAM_SET_ACTION,
    PROGRAM_SET_MAX_EXECUTABLES,
    PROGRAM_SET_MAX_TOTAL_SHOTS,
)
from tests.emulators.braket.fixture import BraketEmulatorEnv, braket_stack  # noqa: E402
from tests.emulators.kit import Call, Fault  # noqa: E402

API_LATENCY = 0.2  # seconds added to every Braket API call
QUEUE_TIME = 2.0  # seconds every task waits before it runs
LOOP_TARGET = 10.0  # qplan apply at least 10x faster than the plain loop
BATCH_TARGET = 1.0  # qplan apply faster than run_batch
PER_CALL = 50  # in-flight tasks one status call per poll may cover
# points per ProgramSet task with `batch: native`: sv1's maximumExecutables (100), unless its
# maximumTotalShots allows fewer at SHOTS each
BATCH_POINTS = min(PROGRAM_SET_MAX_EXECUTABLES, PROGRAM_SET_MAX_TOTAL_SHOTS // SHOTS)
PREFIX = "bench"
OPERATIONS = (
    "CreateQuantumTask",
    "GetQuantumTask",
    "SearchQuantumTasks",
    "CancelQuantumTask",
    "GetDevice",
)
SHORT = {
    "CreateQuantumTask": "Create",
    "GetQuantumTask": "Get",
    "SearchQuantumTasks": "Search",
    "CancelQuantumTask": "Cancel",
    "GetDevice": "GetDev",
}
PROGRAM = """\
OPENQASM 3.0;
input float theta;
qubit q;
bit c;
ry(theta) q;
c = measure q;
"""
MANIFEST = """\
version: 1
stack: bench-braket
providers:
  aws:
    type: braket
    region: us-east-1
    s3_bucket: "{{{{ env('QPLAN_S3_BUCKET') }}}}"
    s3_prefix: {prefix}
programs:
  ry:
    format: openqasm3
    source: |
{source}jobs:
  scan:
    target: aws/sv1
    program: ry
    shots: {shots}
    sweep:
      grid:
        theta: {{linspace: [0, 3.141592653589793, {n}]}}
{batch}"""
# The hand-written baselines, as a user writes them in a notebook. Arguments: the program,
# the points (JSON), the device ARN, the bucket, the key prefix [, max_parallel]. Each prints
# one JSON line: the measurement counts of every result, in the order of the points, and
# the time of its own phases.
LOOP = """\
import json
import sys
import time

from braket.aws import AwsDevice
from braket.ir.openqasm import Program

source = open(sys.argv[1]).read()
points = json.load(open(sys.argv[2]))
folder = (sys.argv[4], sys.argv[5])
device = AwsDevice(sys.argv[3])
started = time.perf_counter()
counts = []
for theta in points:
    program = Program(source=source, inputs={"theta": theta})
    result = device.run(program, s3_destination_folder=folder, shots=%(shots)d).result()
    counts.append(dict(result.measurement_counts))
print(json.dumps({"counts": counts, "loop_s": time.perf_counter() - started}))
"""
SUBMIT_ALL = """\
import json
import sys
import time

from braket.aws import AwsDevice
from braket.ir.openqasm import Program

source = open(sys.argv[1]).read()
points = json.load(open(sys.argv[2]))
folder = (sys.argv[4], sys.argv[5])
device = AwsDevice(sys.argv[3])
started = time.perf_counter()
tasks = [
    device.run(
        Program(source=source, inputs={"theta": theta}),
        s3_destination_folder=folder,
        shots=%(shots)d,
    )
    for theta in points
]
submitted = time.perf_counter()
counts = [dict(task.result().measurement_counts) for task in tasks]
done = time.perf_counter()
times = {"submit_s": submitted - started, "collect_s": done - submitted}
print(json.dumps({"counts": counts, **times}))
"""
BATCH = """\
import json
import sys
import time

from braket.aws import AwsDevice
from braket.ir.openqasm import Program

source = open(sys.argv[1]).read()
points = json.load(open(sys.argv[2]))
folder = (sys.argv[4], sys.argv[5])
device = AwsDevice(sys.argv[3])
started = time.perf_counter()
batch = device.run_batch(
    [Program(source=source) for _ in points],
    s3_destination_folder=folder,
    shots=%(shots)d,
    max_parallel=int(sys.argv[6]),
    inputs=[{"theta": theta} for theta in points],
)
submitted = time.perf_counter()
results = batch.results()
done = time.perf_counter()
counts = [None if r is None else dict(r.measurement_counts) for r in results]
times = {"submit_s": submitted - started, "collect_s": done - submitted}
print(json.dumps({"counts": counts, "unsuccessful": len(batch.unsuccessful), **times}))
"""


class Poll(common.Poll):
    per_call = PER_CALL

    @property
    def ratio(self) -> float:  # a poll with no task in flight is one too many
        return self.calls / self.allowed if self.in_flight else math.inf


@dataclass
class PollStats(common.PollStats):
    other_searches: int
    get_calls: int


@dataclass
class Case(common.Case):
    created: int = 0  # 2xx non-replay creates
    extrapolated: float | None = None  # wall time extrapolated to N (plain loop on a subset)
    executables: list[int] | None = None  # per created ProgramSet task (batch: native)


class Bench(Benchmark):
    def __init__(self, folder: Path, env: BraketEmulatorEnv, n: int) -> None:
        super().__init__(folder, n)
        self.env = env
        self.device = env.device_arn("sv1")
        source = "".join(f"      {line}\n" for line in PROGRAM.splitlines())
        self.manifest_text = MANIFEST.format(
            source=source, shots=SHOTS, n=n, prefix=PREFIX, batch=""
        )
        # the same manifest with the sweep's points sent as ProgramSet tasks
        self.native_manifest_text = MANIFEST.format(
            source=source, shots=SHOTS, n=n, prefix=PREFIX, batch="      batch: native\n"
        )
        (folder / "program.qasm").write_text(PROGRAM)
        (folder / "loop.py").write_text(LOOP % {"shots": SHOTS})
        (folder / "submit_all.py").write_text(SUBMIT_ALL % {"shots": SHOTS})
        (folder / "batch.py").write_text(BATCH % {"shots": SHOTS})
        os.environ.setdefault("QPLAN_S3_BUCKET", env.bucket)
        self.points = self.sweep_points(self.manifest_text)
        self.environ = {k: v for k, v in os.environ.items() if k != "QPLAN_STATE"}
        self.environ["QPLAN_S3_BUCKET"] = env.bucket

    # --- running a process ---------------------------------------------------------------

    def progress(self, label: str, elapsed: float) -> None:
        counts = self.env.calls.counts()
        done = sum(1 for t in self.env.emulator.tasks() if t["status"] == "COMPLETED")
        log(
            f"  [{label}] {elapsed:6.0f} s: {counts.get('CreateQuantumTask', 0)} creates, "
            f"{done} tasks completed, {sum(counts.values())} API calls"
        )

    def reset(self) -> None:
        self.env.emulator.reset()  # tasks, tokens, calls; latency rule and config: 0.2 s / 2 s

    def warm_up(self) -> None:
        """One task through the emulator (the simulator compiles its kernels on first use) and
        one cold import of the SDK and qplan (disk cache), before any timed case."""
        self.env.faults.clear()
        self.env.config.update(queue_time=0.0)
        client = self.env.braket_client()
        action = {
            "braketSchemaHeader": {"name": "braket.ir.openqasm.program", "version": "1"},
            "source": PROGRAM,
            "inputs": {"theta": 0.5},
        }
        arn = client.create_quantum_task(
            clientToken=str(uuid.uuid4()),
            deviceArn=self.device,
            outputS3Bucket=self.env.bucket,
            outputS3KeyPrefix="warm-up",
            shots=SHOTS,
            action=json.dumps(action),
        )["quantumTaskArn"]
        status = self.env.emulator.wait_for_status(arn, timeout=300)
        if status != "COMPLETED":
            raise SystemExit(f"the emulator's warm-up task ended {status}")
        command = [sys.executable, "-c", "import braket.aws, braket.ir.openqasm, qplan.cli"]
        subprocess.run(command, env=self.environ, check=True)
        self.reset()

    def _record_calls(self, case: Case) -> None:
        case.calls = self.env.calls.counts()
        case.created = len(self._created())

    # --- checks -------------------------------------------------------------------------

    def check_created(self, case: Case, expected: int) -> None:
        if case.created != expected:
            self.fail(f"{case.name}: {case.created} tasks created for {expected} points")

    # --- qplan ----------------------------------------------------------------------------

    def qplan(self, name: str, args: list[str], timeout: float, *, native: bool = False) -> Case:
        """`qplan apply` in a fresh folder (fresh state); with `native`, the manifest's sweep
        says `batch: native` (its points go as ProgramSet tasks)."""
        case = Case(name, self.n)
        folder = self.folder / re.sub(r"[^A-Za-z0-9.]+", "-", name).strip("-")
        folder.mkdir()
        manifest = self.native_manifest_text if native else self.manifest_text
        (folder / "qplan.yaml").write_text(manifest)  # a fresh folder: fresh state
        self.reset()
        log(f"{name}: {self.n} tasks ...")
        command = [sys.executable, "-m", "qplan", "apply", "qplan.yaml", *args]
        case.wall, _, stdout, _ = self.run(command, folder, self.environ, "apply", timeout)
        self._record_calls(case)
        gap = POLL_GAP  # polls are at least a poll interval apart: at most half of it
        if "--poll-interval" in args:
            gap = min(gap, float(args[args.index("--poll-interval") + 1]) / 2)
        case.polls = self.status_polls(gap)
        tail = [line for line in stdout.splitlines() if line.startswith("Apply")]
        case.detail = tail[-1] if tail else ""
        executables = self.check_program_sets(case) if native else self.check_per_point(case)
        rows = self.check_state(case, folder)
        if rows is None:
            return case
        if native:
            self.check_executables(case, rows, executables)
        self.check_results(case, folder, self.environ)
        log(f"{name}: {case.wall:.1f} s")
        return case

    def _created(self) -> list[Call]:
        """The CreateQuantumTask calls that created a task (2xx, not a replay)."""
        creates = self.env.calls.calls("CreateQuantumTask")
        return [c for c in creates if 200 <= c.status < 300 and not c.replay]

    def _creates_failure(self, label: str, ok: list[Call], expected: str) -> None:
        creates = self.env.calls.calls("CreateQuantumTask")
        tokens = {c.client_token for c in ok}
        self.fail(
            f"{label}: {len(ok)} CreateQuantumTask calls created a task "
            f"({len(tokens)} distinct clientTokens), expected {expected}; all creates by "
            f"status: {dict(Counter(c.status for c in creates))}, replays: "
            f"{sum(1 for c in creates if c.replay)}"
        )

    def check_per_point(self, case: Case) -> dict[str, int]:
        """Exactly once, one task per point: N created tasks, N distinct clientTokens, one
        task per qplan address. Returns {} (no executables)."""
        label = case.name
        ok = self._created()
        if len(ok) != self.n or len({c.client_token for c in ok}) != self.n:
            self._creates_failure(label, ok, f"{self.n}, one per point")
        per_address = Counter(t["tags"].get("qplan-address") for t in self.env.emulator.tasks())
        twice = {a: k for a, k in per_address.items() if k != 1}
        if len(per_address) != self.n or twice:
            self.fail(
                f"{label}: the emulator holds tasks for {len(per_address)} addresses, "
                f"not exactly one each for {self.n}: {dict(list(twice.items())[:5])}"
            )
        return {}

    def check_program_sets(self, case: Case) -> dict[str, int]:
        """Exactly once, one ProgramSet task per batch: ceil(N / points per task) created
        tasks with distinct clientTokens and qplan keys, each of action program_set (its
        GetQuantumTask actionMetadata), whose executables sum to N. Returns the executables
        of each created task, by ARN."""
        label = case.name
        expected = math.ceil(self.n / BATCH_POINTS)
        ok = self._created()
        if len(ok) != expected or len({c.client_token for c in ok}) != expected:
            self._creates_failure(
                label, ok, f"{expected}, one per {BATCH_POINTS} points (maximumExecutables)"
            )
        tasks = {t["quantumTaskArn"]: t for t in self.env.emulator.tasks()}
        executables: dict[str, int] = {}
        for call in ok:
            metadata = tasks.get(call.task_arn or "", {}).get("actionMetadata", {})
            if metadata.get("actionType") != PROGRAM_SET_ACTION:
                self.fail(f"{label}: task {call.task_arn} has actionMetadata {metadata}")
                continue
            executables[call.task_arn or ""] = int(metadata.get("executableCount", 0))
        case.executables = [executables[c.task_arn or ""] for c in ok if c.task_arn in executables]
        if sum(executables.values()) != self.n:
            self.fail(
                f"{label}: the created ProgramSet tasks hold {sum(executables.values())} "
                f"executables ({case.executables}), expected {self.n}"
            )
        keys = Counter(t["tags"].get("qplan-key") for t in tasks.values())
        twice = {k: v for k, v in keys.items() if v != 1}
        if len(tasks) != len(ok) or twice:
            self.fail(
                f"{label}: the emulator holds {len(tasks)} tasks for {len(ok)} created, "
                f"qplan keys used more than once: {dict(list(twice.items())[:5])}"
            )
        return executables

    def check_executables(
        self, case: Case, rows: list[tuple[str, str, str]], executables: dict[str, int]
    ) -> None:
        """Every point's provider_job_id is ARN#k: k an executable of a created ProgramSet
        task, no two points on the same one."""
        seen: Counter[tuple[str, str]] = Counter()
        bad: list[str] = []
        for address, _, job_id in rows:
            arn, _, index = job_id.partition("#")
            if arn not in executables or not index.isdigit() or int(index) >= executables[arn]:
                bad.append(f"{address}: {job_id!r}")
            seen[(arn, index)] += 1
        shared = sum(1 for k in seen.values() if k > 1)
        if bad or shared:
            self.fail(
                f"{case.name}: {len(bad)} points whose provider_job_id is not ARN#k of an "
                f"executable of a created ProgramSet task (first: {bad[:3]}), {shared} "
                "executables shared by several points"
            )

    def status_polls(self, gap: float) -> PollStats:
        """Group qplan's SearchQuantumTasks calls into polls (bursts of device-filtered
        searches, each within `gap` s of the previous one's answer) and count the tasks in
        flight at each (see the module docstring)."""
        calls = self.env.calls
        created = {c.task_arn: c.wall + c.duration for c in self._created() if c.task_arn}
        ended = {t["quantumTaskArn"]: epoch(t.get("endedAt")) for t in self.env.emulator.tasks()}
        searches = calls.calls("SearchQuantumTasks")
        polled = [c for c in searches if any(f.get("name") == "deviceArn" for f in c.filters or [])]
        polls = group_polls(polled, gap, Poll)
        tasks = [(answered, ended.get(arn, math.inf)) for arn, answered in created.items()]
        count_in_flight(polls, tasks)
        other = len(searches) - len(polled)
        return PollStats(polls, other, calls.counts().get("GetQuantumTask", 0))

    # --- the SDK baselines ----------------------------------------------------------------

    def script(
        self, name: str, script: str, points: list[float], extra: list[str], timeout: float
    ) -> Case:
        case = Case(name, len(points))
        folder = self.folder / f"{Path(script).stem}-{'-'.join(extra) or 'all'}-{len(points)}"
        folder.mkdir()
        self.reset()
        log(f"{name}: {len(points)} tasks ...")
        command = self.contender(
            script, folder, points, self.device, self.env.bucket, f"{PREFIX}/{folder.name}", *extra
        )
        case.wall, code, stdout, _ = self.run(command, folder, self.environ, "script", timeout)
        self._record_calls(case)
        self.check_created(case, len(points))
        data: dict[str, Any] = {}
        if code == 0:
            try:
                data = json.loads(stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                self.fail(f"{name}: no JSON line on stdout: {stdout[-500:]}")
        if data:
            self.check_counts(name, points, data["counts"])
            if data.get("unsuccessful"):
                self.fail(f"{name}: {data['unsuccessful']} unsuccessful tasks in the batch")
            if "submit_s" in data:
                case.detail = (
                    f"submitting {data['submit_s']:.1f} s, collecting {data['collect_s']:.1f} s"
                )
            if "loop_s" in data and len(points) < self.n:
                startup = case.wall - data["loop_s"]
                case.extrapolated = startup + data["loop_s"] / len(points) * self.n
                case.detail = (
                    f"{data['loop_s'] / len(points):.2f} s per task in the loop, "
                    f"{startup:.1f} s start-up"
                )
        log(f"{name}: {case.wall:.1f} s")
        return case

    def loop_points(self, k: int) -> list[float]:
        if k >= self.n:
            return list(self.points)
        return [self.points[round(i * (self.n - 1) / (k - 1))] for i in range(k)]


# --- the report ---------------------------------------------------------------------------


def calls_cells(case: Case) -> str:
    return " ".join(f"{case.calls.get(op, 0):>6}" for op in OPERATIONS)


def print_table(cases: list[Case], n: int) -> None:
    ops = " ".join(f"{SHORT[op]:>6}" for op in OPERATIONS)
    header = f"{'case':<40} {'tasks':>5} {'wall s':>8} {'s/task':>7} {ops}"
    print(header)
    print("-" * len(header))
    for case in cases:
        print(
            f"{case.name:<40} {case.n:>5} {case.wall:8.1f} "
            f"{case.wall / case.n:7.3f} {calls_cells(case)}"
        )
        if case.extrapolated is not None:
            label = f"  EXTRAPOLATED to {n} tasks"
            print(f"{label:<40} {n:>5} {case.extrapolated:8.1f} {case.extrapolated / n:7.3f}")
    print()
    for case in cases:
        if case.detail:
            print(f"{case.name}: {case.detail}")


def print_speed(qplan: Case, others: list[Case], n: int) -> None:
    for other in others:
        if "plain loop" in other.name:
            base = other.extrapolated if other.extrapolated is not None else other.wall
            what = f"{other.name}" + (
                f", EXTRAPOLATED to {n}" if other.extrapolated is not None else ""
            )
            target = LOOP_TARGET
        elif "run_batch" in other.name:
            base, what, target = other.wall, other.name, BATCH_TARGET
        else:
            base, what, target = other.wall, other.name, 0.0
        speedup = base / qplan.wall
        slower = " (qplan is slower)" if speedup < 1.0 else ""
        line = f"  vs {what}: {base:.1f} s; speed-up of qplan {speedup:.2f}x{slower}"
        if target:
            ratio = speedup / target
            strict = target == BATCH_TARGET  # "faster": a tie does not meet it
            sign = ">" if strict else ">="
            line += (
                f"; ratio to the target ({sign} {target:g}x): {ratio:.2f}, "
                f"{verdict(ratio > 1.0 if strict else ratio >= 1.0)}"
            )
        else:
            line += " (no target)"
        print(line)


def print_polls(case: Case) -> None:
    stats = case.polls
    if stats is None or not stats.polls:
        print(f"  {case.name}: no status polls found in the call log")
        return
    polls = stats.polls
    worst = stats.worst
    assert worst is not None
    print(
        f"  {case.name}: {len(polls)} polls, {sum(p.calls for p in polls)} SearchQuantumTasks "
        f"calls in polls, calls per poll: {stats.spread()}"
        f"; in flight per poll: max {max(p.in_flight for p in polls)}"
    )
    print(
        f"    worst calls_p / ceil(N_p/{PER_CALL}): {worst.ratio:5.2f}  "
        f"(poll at +{worst.start - polls[0].start:.1f} s: {worst.calls} calls, "
        f"{worst.in_flight} in flight); polls over 1: {stats.over} of {len(polls)}"
        f"  target <= 1: {'meets' if worst.ratio <= 1.0 else 'MISSES'}"
    )
    timeline = " ".join(f"{p.calls}/{p.in_flight}" for p in polls[:80])
    print(f"    per poll, calls/in-flight: {timeline}" + (" ..." if len(polls) > 80 else ""))
    literal = max(stats.literal(), default=None)
    print(
        f"    worst calls_p / (N_p/{PER_CALL}) over polls with N_p >= {PER_CALL}: "
        + (f"{literal:5.2f}" if literal is not None else "none such")
        + f"; other searches (no device filter): {stats.other_searches}, "
        f"GetQuantumTask calls: {stats.get_calls}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=500, help="points (default: %(default)s)")
    parser.add_argument(
        "--loop-tasks",
        type=int,
        default=60,
        help="points the sequential plain loop runs, extrapolated to --tasks if fewer "
        "(0: skip it; default: %(default)s)",
    )
    parser.add_argument(
        "--max-parallel",
        default="10,64",
        help="run_batch max_parallel values, comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--qplan-poll-interval",
        type=float,
        default=1.0,
        help="a second qplan apply with this --poll-interval (0: skip; default: %(default)s)",
    )
    parser.add_argument(
        "--no-native",
        action="store_true",
        help="skip the qplan apply whose sweep says `batch: native` (ProgramSet tasks)",
    )
    add_case_timeout(parser, "case")
    args = parser.parse_args()
    max_parallel = [int(v) for v in args.max_parallel.split(",") if v.strip()]
    if args.tasks < 2 or args.loop_tasks == 1 or args.loop_tasks < 0:
        parser.error("--tasks must be at least 2 and --loop-tasks 0 or at least 2")
    import braket._sdk

    print_machine(f"amazon-braket-sdk {braket._sdk.__version__}")
    print(
        f"{args.tasks} OpenQASM 3 tasks (ry(theta) on 1 qubit, theta = linspace(0, pi, "
        f"{args.tasks})), {SHOTS} shots, sv1 on the Braket emulator: {API_LATENCY * 1e3:.0f} ms "
        f"per API call, {QUEUE_TIME:g} s queue per task; each case a fresh process"
    )
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="qplan-bench-braket-") as tmp,
        braket_stack(
            faults=[Fault.latency(API_LATENCY)], queue_time=QUEUE_TIME, max_workers=8
        ) as env,
    ):
        bench = Bench(Path(tmp), env, args.tasks)
        log("warming up the emulator and the disk cache ...")
        bench.warm_up()
        timeout = args.case_timeout
        per_point = bench.qplan("qplan apply (default options)", [], timeout)
        qplan_cases = [per_point]
        if not args.no_native:
            qplan_cases.append(bench.qplan("qplan apply, batch: native", [], timeout, native=True))
        if args.qplan_poll_interval > 0:
            interval = f"{args.qplan_poll_interval:g}"
            qplan_cases.append(
                bench.qplan(
                    f"qplan apply --poll-interval {interval}",
                    ["--poll-interval", interval],
                    timeout,
                )
            )
        baselines = [
            bench.script(
                f"run_batch, max_parallel={m}", "batch.py", bench.points, [str(m)], timeout
            )
            for m in max_parallel
        ]
        baselines.append(
            bench.script("submit all, then collect", "submit_all.py", bench.points, [], timeout)
        )
        if args.loop_tasks:
            points = bench.loop_points(args.loop_tasks)
            name = "plain loop, run().result()" + (
                f" ({len(points)} of {args.tasks})" if len(points) < args.tasks else ""
            )
            baselines.append(bench.script(name, "loop.py", points, [], timeout))
        failures = bench.failures
    total = time.perf_counter() - started

    print()
    print_table([*qplan_cases, *baselines], args.tasks)
    print()
    for case in qplan_cases:
        print(f"{case.name} ({case.wall:.1f} s):")
        # the native case is compared with the per-point one too (no target)
        others = [per_point, *baselines] if case.executables is not None else baselines
        print_speed(case, others, args.tasks)
    print()
    print(f"status calls per poll (at most 1 per {PER_CALL} tasks in flight):")
    for case in qplan_cases:
        print_polls(case)
        stats = case.polls
        if stats is not None and stats.polls and stats.worst and stats.worst.ratio > 1.0:
            failures.append(
                f"{case.name}: up to {stats.worst.ratio:.2f}x the status calls allowed per poll "
                f"({stats.over} of {len(stats.polls)} polls over one call per {PER_CALL} "
                "in-flight tasks)"
            )
    print()
    for case in qplan_cases:
        executables = (
            f", ProgramSet tasks of {'+'.join(map(str, case.executables))} executables"
            if case.executables is not None
            else ""
        )
        print(
            f"{case.name}: {case.created} tasks created by CreateQuantumTask "
            f"({case.calls.get('CreateQuantumTask', 0)} calls){executables}"
        )
    finish(failures, total)


if __name__ == "__main__":
    main()
