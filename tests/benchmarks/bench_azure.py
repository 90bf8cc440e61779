"""Time `qplan apply` on N Azure Quantum jobs against hand-written SDK code, on the Azure
Quantum emulator.

    python tests/benchmarks/bench_azure.py [--jobs 300] [--latency 0.2] [--run-time 0.5]
        [--queue-time 0] [--poll-interval 1] [--case-timeout 1800] [--quick]

The service: Azurite (blobs) and the wire-compatible Azure Quantum emulator
(tests/emulators/azure), started once, on loopback, by this process, with --latency (default
200 ms) added to every Azure Quantum API call (the kit's latency rule, `Fault.latency`, on
every operation) and every job waiting --queue-time (default 0 s), then running --run-time
(default 0.5 s) before it is simulated. The blobs (one input uploaded and one output
downloaded per job, by every contender) go to Azurite without added latency.

The work: a rotation scan, one OpenQASM 3 program (`input float theta; qubit q; bit c;
rx(theta) q; c = measure q;`), 100 shots on ionq.simulator, at N values of theta
(`linspace: [0, pi, N]`, as qplan expands it; the same points for every contender). Why
OpenQASM and not IonQ's JSON circuits: a user scanning an angle writes one program with an
input and a sweep, and qplan sweeps only programs that declare parameters (an
ionq.circuit.v1 program declares none: a scan in IonQ JSON would be N jobs each with its own
circuit file, which nobody writes by hand). Azure runs OpenQASM as QIR: qplan binds theta and
compiles each point with qdk (a few tens of milliseconds a point, in one thread), and the
hand-written contenders do the same with qdk's own API, as Azure's tooling does
(`qdk.openqasm.import_openqasm` once, then `qdk.openqasm.compile(program, theta)` per
point), then `Target.submit`: the same QIR jobs (qir.v1) in every contender.

Contenders, each a fresh process (interpreter start and imports included), each against a
freshly reset emulator (no job, no call, the latency rule and settings back to the start):

  qplan apply          `python -m qplan apply qplan.yaml --poll-interval P` in a fresh folder
                       (fresh state), an `azure` provider reaching the emulator through the
                       environment (`azure_environ`: AZURE_QUANTUM_CONNECTION_STRING with
                       ApiKey and QuantumEndpoint, AZURE_QUANTUM_RESOURCE_ID), to its end: every
                       result recorded. --poll-interval 0 runs it with qplan's own default;
  plain loop           `workspace.get_targets("ionq.simulator")`, then for each point in turn
                       `job = target.submit(compiled, shots=100)`, `job.wait_until_completed()`,
                       `job.get_results()`;
  submit all, wait     every point submitted with `target.submit`, then each job in turn
                       waited for and its results read.

The SDK contenders build their `Workspace` as `tests.emulators.azure.fixture.azure_workspace`
does (every connection parameter, a key credential and the `_quantum_endpoint` keyword: the
one thing a user would not write) and run the azure-quantum SDK unmodified: its
`wait_until_completed` polls GetJob every 0.2 s, growing 1.5x a poll.

Per contender: wall time from process start to exit, and the API calls the emulator
answered by operation (CreateJob, GetJob, ListJobs, ListSessionJobs, GetSasUri,
GetProviderStatus, and any other), from its call record.

List calls per poll (qplan): qplan observes its jobs in bulk, ListJobs filtered by name
prefix and creation time (ListSessionJobs for jobs in sessions), 100 jobs a page, the pages
of one poll one after another. So a poll is a burst of list calls: a call that arrives within
POLL_GAP (0.25 s, or half the poll interval if less) of the answer to the previous list call
belongs to the same poll, which starts at its first call's arrival. The jobs in flight at poll
p, N_p, are those the emulator had created (the job record's creation time) before poll p
started and that qplan could not yet know to be finished: created after the start of poll
p-1, or ended (the job's endExecutionTime) at or after the start of poll p-1. N_p is so an
upper bound, and a ratio below a lower bound. A poll may make ceil(N_p / 100) list calls (one
is the least any poll makes): its ratio is calls_p / ceil(N_p / 100); the max and the mean
over the polls are printed (target: max <= 1), and, over the polls with N_p >= 100, the
literal list calls per 100 jobs in flight, calls_p / (N_p / 100). GetJob calls (qplan reads
by id a job it has never seen, one the listing missed, one that ended since; and before each
create, whether its job exists) are counted apart, by status; those answered 200 are also
counted per poll (from its start to the next poll's), beside the longest pause between two
CreateJob calls.

Checks (any failure: exit status 1, the reasons printed at the end):

- every process exits 0 without a Python traceback on stderr;
- every contender returns one result per point, 100 shots, outcomes 0 and 1 only, theta = 0
  gives all 0 and theta = pi all 1, and every point's count of 1 is within 6 standard
  deviations (+1 shot) of 100 sin^2(theta / 2) (the SDK returns probabilities: counts are
  probability x 100, rounded);
- every contender makes exactly N jobs: N CreateJob calls answered 201, none refused, N jobs
  in the emulator;
- qplan: one job per qplan address (the job's metadata), `qplan results --format json` gives N
  results at the N points, and the state holds N job rows `succeeded` with a result hash;
- qplan: at most one list call per 100 jobs in flight per poll (above).

Speed targets (verdicts printed, not part of the exit status): qplan apply at least 10x
faster than the plain loop, and faster than submit all, wait (a ratio above 1).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
# qdk reports usage unless told not to; it reads this when first imported (by the emulator too)
os.environ["QDK_PYTHON_TELEMETRY"] = "none"

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
from tests.emulators.azure.emulator import (  # noqa: E402
    API_KEY,
    AzureQuantumEmulator,
    AzureSettings,
)
from tests.emulators.azure.fixture import (  # noqa: E402
    LOCATION,
    RESOURCE_GROUP,
    RESOURCE_ID,
    SUBSCRIPTION,
    WORKSPACE,
    azure_environ,
    azure_workspace,
)
from tests.emulators.azurite import Azurite  # noqa: E402
from tests.emulators.kit import Fault  # noqa: E402

JOBS = 300
QUICK_JOBS = 30
LATENCY = 0.2  # seconds added to every Azure Quantum API call
RUN_TIME = 0.5  # seconds every job runs before it is simulated
QUEUE_TIME = 0.0  # seconds every job waits before it runs
POLL_INTERVAL = 1.0  # qplan's --poll-interval
LOOP_TARGET = 10.0  # qplan apply at least 10x faster than the plain loop
SUBMIT_ALL_TARGET = 1.0  # qplan apply faster than submit all, wait
PER_CALL = 100  # jobs in flight one list call per poll may cover (a page)
EMULATOR_WORKERS = 64  # jobs the emulator runs at once (its run time is a sleep)
TARGET = "ionq.simulator"
STACK = "bench-azure"
LIST_OPERATIONS = ("ListJobs", "ListSessionJobs")
OPERATIONS = (
    "CreateJob",
    "GetJob",
    "ListJobs",
    "ListSessionJobs",
    "GetSasUri",
    "GetProviderStatus",
)
SHORT = {
    "CreateJob": "Create",
    "GetJob": "Get",
    "ListJobs": "List",
    "ListSessionJobs": "ListS",
    "GetSasUri": "SasUri",
    "GetProviderStatus": "Status",
}
PROGRAM = """\
OPENQASM 3.0;
include "stdgates.inc";
input float theta;
qubit q;
bit c;
rx(theta) q;
c = measure q;
"""
MANIFEST = """\
version: 1
stack: {stack}
providers:
  az:
    type: azure
    resource_id: "{{{{ env('AZURE_QUANTUM_RESOURCE_ID') }}}}"
    location: {location}
programs:
  rx:
    format: openqasm3
    source: |
{source}jobs:
  scan:
    target: az/{target}
    program: rx
    shots: {shots}
    sweep:
      grid:
        theta: {{linspace: [0, 3.141592653589793, {n}]}}
"""
# The hand-written contenders, as a user writes them. Arguments: the program, the points
# (JSON), the workspace (JSON), where to write the results. They write the results (what
# get_results returns, in the order of the points) and the time of their own phases.
COMMON = """\
import json
import sys
import time

import qdk
import qdk.openqasm
from azure.core.credentials import AzureKeyCredential
from azure.quantum import Workspace

source = open(sys.argv[1]).read()
points = json.load(open(sys.argv[2]))
where = json.load(open(sys.argv[3]))
workspace = Workspace(
    subscription_id=where["subscription_id"],
    resource_group=where["resource_group"],
    name=where["name"],
    location=where["location"],
    credential=AzureKeyCredential(where["key"]),
    _quantum_endpoint=where["endpoint"],
)
qdk.init(target_profile=qdk.TargetProfile.Base)
qdk.openqasm.import_openqasm(source, name="rx_scan", program_type=qdk.ProgramType.File)
target = workspace.get_targets("%(target)s")
started = time.perf_counter()
"""
LOOP = (
    COMMON
    + """\
results = []
for theta in points:
    program = qdk.openqasm.compile(qdk.code.qasm_import.rx_scan, theta)
    job = target.submit(program, shots=%(shots)d)
    job.wait_until_completed()
    results.append(job.get_results())
times = {"loop_s": time.perf_counter() - started}
json.dump({"results": results, **times}, open(sys.argv[4], "w"))
"""
)
SUBMIT_ALL = (
    COMMON
    + """\
jobs = []
for theta in points:
    program = qdk.openqasm.compile(qdk.code.qasm_import.rx_scan, theta)
    jobs.append(target.submit(program, shots=%(shots)d))
submitted = time.perf_counter()
results = []
for job in jobs:
    job.wait_until_completed()
    results.append(job.get_results())
done = time.perf_counter()
times = {"submit_s": submitted - started, "wait_s": done - submitted}
json.dump({"results": results, **times}, open(sys.argv[4], "w"))
"""
)


@dataclass
class Poll(common.Poll):
    per_call = PER_CALL
    reads: int = 0  # GetJob calls answered 200 from this poll's start to the next one's


@dataclass
class PollStats(common.PollStats):
    polls: list[Poll]
    gap: float

    @property
    def mean(self) -> float:
        return sum(p.ratio for p in self.polls) / len(self.polls) if self.polls else math.nan

    @property
    def met(self) -> bool:
        worst = self.worst
        return worst is not None and worst.ratio <= 1.0


@dataclass
class Case(common.Case):
    statuses: dict[str, dict[int | None, int]] = field(default_factory=dict)


def sdk_counts(result: Any) -> Any:
    """Counts from what the SDK's `get_results` gives for a QIR job: probabilities by
    outcome (`{"[0]": 0.76, "[1]": 0.24}`), as counts of "0" and "1"."""
    if not isinstance(result, dict):
        return result
    counts: dict[str, int] = {}
    for outcome, probability in result.items():
        bits = "".join(ch for ch in str(outcome) if ch in "01")
        counts[bits] = counts.get(bits, 0) + round(float(probability) * SHOTS)
    return {k: v for k, v in sorted(counts.items()) if v}


def _terminate(signum: int, _frame: Any) -> None:
    log(f"{signal.Signals(signum).name}: stopping every process and server started ...")
    raise SystemExit(128 + signum)  # unwinds: every process and server started is stopped


class Bench(Benchmark):
    def __init__(self, folder: Path, emulator: AzureQuantumEmulator, n: int) -> None:
        super().__init__(folder, n)
        self.emulator = emulator
        source = "".join(f"      {line}\n" for line in PROGRAM.splitlines())
        self.manifest_text = MANIFEST.format(
            stack=STACK, location=LOCATION, source=source, target=TARGET, shots=SHOTS, n=n
        )
        (folder / "program.qasm").write_text(PROGRAM)
        values = {"target": TARGET, "shots": SHOTS}
        (folder / "loop.py").write_text(LOOP % values)
        (folder / "submit_all.py").write_text(SUBMIT_ALL % values)
        where = {
            "subscription_id": SUBSCRIPTION,
            "resource_group": RESOURCE_GROUP,
            "name": WORKSPACE,
            "location": LOCATION,
            "key": API_KEY,
            "endpoint": emulator.url + "/",
        }
        (folder / "workspace.json").write_text(json.dumps(where))
        base = {k: v for k, v in os.environ.items() if k != "QPLAN_STATE"}
        # the SDK contenders name their workspace in code: no connection string around
        for name in ("AZURE_QUANTUM_CONNECTION_STRING", "AZURE_QUANTUM_WORKSPACE_NAME"):
            base.pop(name, None)
        self.sdk_environ = base
        self.qplan_environ = {**base, **azure_environ(emulator)}
        os.environ.setdefault("AZURE_QUANTUM_RESOURCE_ID", RESOURCE_ID)
        self.points = self.sweep_points(self.manifest_text)

    # --- running a process ---------------------------------------------------------------

    def progress(self, label: str, elapsed: float) -> None:
        counts = self.emulator.calls.counts()
        try:
            jobs = list(self.emulator.job_records.values())
        except RuntimeError:  # changed while read
            jobs = []
        done = sum(1 for j in jobs if j.status == "Succeeded")
        log(
            f"  [{label}] {elapsed:6.0f} s: {counts.get('CreateJob', 0)} creates, "
            f"{done} jobs succeeded, {sum(counts.values())} API calls"
        )

    def reset(self) -> None:
        self.emulator.reset()  # jobs, sessions, calls; the latency rule and settings as started

    def warm_up(self) -> None:
        """One QIR job through the emulator (its simulator loads on first use) and one cold
        import of the SDK, qdk and qplan (disk cache), before any timed contender."""
        import qdk
        import qdk.openqasm

        self.emulator.faults.clear()
        self.emulator.config.update(queue_time=0.0, run_time=0.0)
        qdk.init(target_profile=qdk.TargetProfile.Base)
        qdk.openqasm.import_openqasm(PROGRAM, name="warm_up", program_type=qdk.ProgramType.File)
        compiled = qdk.openqasm.compile(qdk.code.qasm_import.warm_up, 1.0)
        job = azure_workspace(self.emulator).get_targets(TARGET).submit(compiled, shots=SHOTS)
        job.wait_until_completed(timeout_secs=300, print_progress=False)
        if job.details.status != "Succeeded":
            raise SystemExit(f"the emulator's warm-up job ended {job.details.status}")
        command = [
            sys.executable,
            "-c",
            "import azure.quantum, azure.storage.blob, qdk.openqasm, qplan.cli",
        ]
        subprocess.run(command, env=self.sdk_environ, check=True)
        self.reset()

    def _record_calls(self, case: Case) -> None:
        case.calls = self.emulator.calls.counts()
        case.statuses = self.emulator.calls.status_counts()

    # --- checks -------------------------------------------------------------------------

    def check_created(self, case: Case) -> None:
        """Exactly N jobs: N CreateJob calls answered 201, none refused, N jobs held."""
        creates = case.statuses.get("CreateJob", {})
        held = len(self.emulator.job_records)
        if creates != {201: self.n} or held != self.n:
            self.fail(
                f"{case.name}: CreateJob calls by status {creates}, {held} jobs in the "
                f"emulator; expected {self.n} created (201), no other"
            )

    def check_addresses(self, case: Case) -> None:
        per_address = Counter(
            (j.details.get("metadata") or {}).get("qplan_address", "")
            for j in self.emulator.job_records.values()
        )
        twice = {a: k for a, k in per_address.items() if k != 1}
        if len(per_address) != self.n or twice:
            self.fail(
                f"{case.name}: the emulator holds jobs for {len(per_address)} addresses, not "
                f"exactly one each for {self.n}: {dict(list(twice.items())[:5])}"
            )

    # --- qplan ----------------------------------------------------------------------------

    def qplan(self, interval: float, timeout: float) -> Case:
        """`qplan apply` in a fresh folder (fresh state)."""
        args = ["--poll-interval", f"{interval:g}"] if interval > 0 else []
        name = "qplan apply" + (f" --poll-interval {interval:g}" if args else "")
        case = Case(name, self.n)
        folder = self.folder / "qplan"
        folder.mkdir()
        (folder / "qplan.yaml").write_text(self.manifest_text)
        self.reset()
        log(f"{name}: {self.n} jobs ...")
        command = [sys.executable, "-m", "qplan", "apply", "qplan.yaml", *args]
        case.wall, _, stdout, _ = self.run(command, folder, self.qplan_environ, "apply", timeout)
        self._record_calls(case)
        gap = min(POLL_GAP, interval / 2) if interval > 0 else POLL_GAP
        case.polls = self.list_polls(gap)
        tail = [line for line in stdout.splitlines() if line.startswith("Apply")]
        gets = case.statuses.get("GetJob", {})
        summary = tail[-1].rstrip(".") if tail else "no 'Apply' line on stdout"
        creates = sorted(c.wall for c in self.emulator.calls.calls("CreateJob"))
        pause = max((b - a for a, b in pairwise(creates)), default=0.0)
        case.detail = (
            f"{summary}; GetJob by status: {dict(sorted(gets.items(), key=str))}; longest "
            f"pause between two CreateJob calls: {pause:.1f} s"
        )
        self.check_created(case)
        self.check_addresses(case)
        self.check_state(case, folder)
        self.check_results(case, folder, self.qplan_environ)
        log(f"{name}: {case.wall:.1f} s")
        return case

    def list_polls(self, gap: float) -> PollStats:
        """qplan's list calls grouped into polls, with the jobs in flight at each (see the
        module docstring)."""
        calls = [c for c in self.emulator.calls.calls() if c.operation in LIST_OPERATIONS]
        polls = group_polls(calls, gap, Poll)
        jobs = [
            (j.created, epoch(j.details.get("endExecutionTime")))
            for j in self.emulator.job_records.values()
        ]
        count_in_flight(polls, jobs)
        reads = sorted(c.wall for c in self.emulator.calls.calls("GetJob", status=200))
        for poll, until in zip(polls, [p.start for p in polls[1:]] + [math.inf], strict=True):
            poll.reads = sum(1 for wall in reads if poll.start <= wall < until)
        return PollStats(polls, gap)

    # --- the SDK contenders ---------------------------------------------------------------

    def script(self, name: str, script: str, timeout: float) -> Case:
        case = Case(name, self.n)
        folder = self.folder / Path(script).stem
        folder.mkdir()
        self.reset()
        log(f"{name}: {self.n} jobs ...")
        output = folder / "results.json"
        workspace = str(self.folder / "workspace.json")
        command = self.contender(script, folder, self.points, workspace, str(output))
        case.wall, code, _, _ = self.run(command, folder, self.sdk_environ, "script", timeout)
        self._record_calls(case)
        self.check_created(case)
        data: dict[str, Any] = {}
        if code == 0:
            try:
                data = json.loads(output.read_text())
            except (OSError, ValueError):
                self.fail(f"{name}: no results written")
        if data:
            counts = [sdk_counts(r) for r in data["results"]]
            self.check_counts(name, self.points, counts)
            if "submit_s" in data:
                case.detail = (
                    f"submitting {data['submit_s']:.1f} s, waiting and reading "
                    f"{data['wait_s']:.1f} s"
                )
            if "loop_s" in data:
                startup = case.wall - data["loop_s"]
                case.detail = (
                    f"{data['loop_s'] / self.n:.2f} s per job in the loop, "
                    f"{startup:.1f} s start-up (imports, workspace, targets)"
                )
        log(f"{name}: {case.wall:.1f} s")
        return case


# --- the report ---------------------------------------------------------------------------


def print_table(cases: list[Case]) -> None:
    ops = " ".join(f"{SHORT[op]:>6}" for op in OPERATIONS)
    header = f"{'contender':<34} {'jobs':>5} {'wall s':>8} {'s/job':>6} {ops} {'other':>6}"
    header += f" {'total':>6}"
    print(header)
    print("-" * len(header))
    for case in cases:
        cells = " ".join(f"{case.calls.get(op, 0):>6}" for op in OPERATIONS)
        other = sum(v for k, v in case.calls.items() if k not in OPERATIONS)
        print(
            f"{case.name:<34} {case.n:>5} {case.wall:8.1f} {case.wall / case.n:6.3f} "
            f"{cells} {other:>6} {sum(case.calls.values()):>6}"
        )
    print()
    for case in cases:
        others = {k: v for k, v in case.calls.items() if k not in OPERATIONS}
        extra = f"; other calls: {others}" if others else ""
        per_job = sum(case.calls.values()) / case.n
        print(f"{case.name}: {case.detail}{extra}; {per_job:.2f} API calls per job")


def print_speed(qplan: Case, loop: Case, submit_all: Case) -> None:
    print(f"{qplan.name}: {qplan.wall:.1f} s")
    ratio = loop.wall / qplan.wall
    print(
        f"  {loop.name} / qplan: {loop.wall:.1f} s / {qplan.wall:.1f} s = {ratio:.2f}x "
        f"(target >= {LOOP_TARGET:g}x): {verdict(ratio >= LOOP_TARGET)}"
    )
    ratio = submit_all.wall / qplan.wall
    print(
        f"  {submit_all.name} / qplan: {submit_all.wall:.1f} s / {qplan.wall:.1f} s = "
        f"{ratio:.2f}x (target > {SUBMIT_ALL_TARGET:g}x, qplan faster): "
        f"{verdict(ratio > SUBMIT_ALL_TARGET)}"
    )


def print_polls(case: Case) -> None:
    stats = case.polls
    if stats is None or not stats.polls:
        print(f"  {case.name}: no list calls in the call record")
        return
    polls = stats.polls
    worst = stats.worst
    assert worst is not None
    print(
        f"  {case.name}: {len(polls)} polls (calls within {stats.gap:g} s of the previous "
        f"answer grouped), {sum(p.calls for p in polls)} list calls in them; calls per poll: "
        f"{stats.spread()}; jobs in flight per poll: max {max(p.in_flight for p in polls)}"
    )
    print(
        f"    calls_p / ceil(N_p/{PER_CALL}): max {worst.ratio:.2f} (poll at "
        f"+{worst.start - polls[0].start:.1f} s: {worst.calls} calls, {worst.in_flight} in "
        f"flight), mean {stats.mean:.2f}; polls over 1: {stats.over} of {len(polls)}; "
        f"target max <= 1: {'meets' if stats.met else 'MISSES'} the target"
    )
    literal = stats.literal()
    print(
        f"    list calls per {PER_CALL} jobs in flight, calls_p / (N_p/{PER_CALL}), over the "
        f"polls with N_p >= {PER_CALL}: "
        + (
            f"max {max(literal):.2f}, mean {sum(literal) / len(literal):.2f} ({len(literal)} polls)"
            if literal
            else "none such"
        )
    )
    reads = [p.reads for p in polls]
    print(
        f"    GetJob reads by id (200) from a poll's start to the next one's: {sum(reads)} in "
        f"all, max {max(reads)}, mean {sum(reads) / len(reads):.1f} per poll"
    )
    timeline = " ".join(f"{p.calls}/{p.in_flight}/{p.reads}" for p in polls[:80])
    more = " ..." if len(polls) > 80 else ""
    print(f"    per poll, list calls/in flight/GetJob reads: {timeline}{more}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--jobs", type=int, default=None, help=f"points, one job each (default: {JOBS})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a fast check: {QUICK_JOBS} jobs unless --jobs says otherwise",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=LATENCY,
        help="seconds added to every API call (default: %(default)s)",
    )
    parser.add_argument(
        "--run-time",
        type=float,
        default=RUN_TIME,
        help="seconds every job runs before it is simulated (default: %(default)s)",
    )
    parser.add_argument(
        "--queue-time",
        type=float,
        default=QUEUE_TIME,
        help="seconds every job waits before it runs (default: %(default)s)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=POLL_INTERVAL,
        help="qplan apply's --poll-interval (0: qplan's own default; default: %(default)s)",
    )
    add_case_timeout(parser, "contender")
    args = parser.parse_args()
    n = args.jobs if args.jobs is not None else (QUICK_JOBS if args.quick else JOBS)
    if n < 2:
        parser.error("--jobs must be at least 2")
    if args.latency < 0 or args.run_time < 0 or args.queue_time < 0 or args.poll_interval < 0:
        parser.error("--latency, --run-time, --queue-time and --poll-interval must be >= 0")
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started ignoring it
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)

    from importlib.metadata import version

    print_machine(f"azure-quantum {version('azure-quantum')}, qdk {version('qdk')}")
    print(
        f"{n} OpenQASM 3 jobs compiled to QIR (rx(theta) on 1 qubit, theta = linspace(0, pi, "
        f"{n})), {SHOTS} shots, {TARGET} on the Azure Quantum emulator: "
        f"{args.latency * 1e3:.0f} ms per API call, queue {args.queue_time:g} s and run "
        f"{args.run_time:g} s per job; each contender a fresh process"
    )
    faults = [Fault.latency(args.latency)] if args.latency > 0 else []
    settings = AzureSettings(queue_time=args.queue_time, run_time=args.run_time)
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="qplan-bench-azure-") as tmp,
        Azurite() as azurite,
        AzureQuantumEmulator(
            azurite.connection_string,
            config=settings,
            faults=faults,
            max_workers=EMULATOR_WORKERS,
        ) as emulator,
    ):
        bench = Bench(Path(tmp), emulator, n)
        log("warming up the emulator and the disk cache ...")
        bench.warm_up()
        timeout = args.case_timeout
        qplan = bench.qplan(args.poll_interval, timeout)
        loop = bench.script("plain loop, submit + wait each", "loop.py", timeout)
        submit_all = bench.script("submit all, then wait each", "submit_all.py", timeout)
        failures = bench.failures
    total = time.perf_counter() - started

    print()
    print_table([qplan, loop, submit_all])
    print()
    print_speed(qplan, loop, submit_all)
    print()
    print(f"list calls per poll (at most 1 per {PER_CALL} jobs in flight):")
    print_polls(qplan)
    stats = qplan.polls
    if stats is not None and stats.polls and not stats.met:
        worst = stats.worst
        assert worst is not None
        failures.append(
            f"{qplan.name}: up to {worst.ratio:.2f}x the list calls allowed per poll "
            f"({stats.over} of {len(stats.polls)} polls over one call per {PER_CALL} jobs in "
            "flight)"
        )
    finish(failures, total)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        log("interrupted: every process and server started was stopped")
        sys.exit(130)
