"""Time `qplan apply` on an N-point Pulser sweep against hand-written pasqal-cloud SDK code, on
the Pasqal Cloud emulator.

    python tests/benchmarks/bench_pasqal.py [--points 500] [--latency 0.2] [--poll-interval 1]
        [--run-time 0] [--queue-time 0] [--case-timeout 1800] [--quick]

The service: the wire-compatible Pasqal Cloud emulator (tests/emulators/pasqal), started
once, on loopback, by this process, with --latency (default 200 ms) added to every API call
(the kit's latency rule, `Fault.latency`, on every operation, the results download
included). Every job waits --queue-time (default 0 s) and runs --run-time (default 0 s)
besides its simulation: the emulator builds and simulates each job with pulser-simulation,
one at a time, about 50 ms a job for one atom, so N jobs are about N x 50 ms of simulation
(25 s for 500), the same for every contender. GetBatch answers with the batch's job ids only,
as Pasqal's v2 API does (`batch_jobs_inline=False`): the SDK then lists a batch's jobs with
GetJobs by batch (100 a page) when `batch.ordered_jobs` is read after a refresh.

The work: one Pulser sequence with one declared variable (tests/pulser_programs.py `flip()`:
one atom under a 1 us Rydberg pulse of amplitude theta, so that P(1) = sin^2(theta / 2)),
100 runs (shots) per job on EMU_FREE, at N values of theta (`linspace: [0, pi, N]`, as qplan
expands it; the same points, in the same order, for every contender).

Contenders, each a fresh process (interpreter start and imports included), each against a
freshly reset emulator (no batch, job or call; the latency rule and settings back to the
start):

  qplan apply          `python -m qplan apply qplan.yaml --poll-interval P` in a fresh folder
                       (fresh state), provider `pq: {type: pasqal, project_id: ...}` reaching
                       the emulator through the environment (`pasqal_environ`: PASQAL_TOKEN,
                       PASQAL_ENDPOINT, PASQAL_PROJECT_ID), to its end: every result
                       recorded. --poll-interval 0 runs it with qplan's own default;
  single batch         the plain SDK (`SDK(project_id=, token_provider=, endpoints=)`, the
                       SDK's own HTTP client), `batch = sdk.create_batch(sequence, [{"runs":
                       100, "variables": {"theta": x}} for x in points],
                       device_type="EMU_FREE")`, then `batch.refresh()` every P s (2 s when
                       P is 0, the SDK's first wait) until the batch is neither PENDING nor
                       RUNNING (not `wait=True`, which never gives up), then `job.result`
                       for each job of `batch.ordered_jobs`, in turn;
  batch per point      N `create_batch` calls of one job each, then each batch refreshed as
                       above until it ends, then its job's `result`;
  single batch, 16 readers
                       (a reference, not a target) the single batch, its results read 16 at
                       once (a thread pool), as qplan reads them.

Per contender: wall time from process start to exit; the API calls the emulator answered, by
operation (CreateBatch, GetBatch, GetBatchStatus, GetBatches, GetJobs, GetResultsLink,
DownloadResults, GetDeviceSpecs, and any other), from its call record; the ratio of its wall
time to the single batch's; and a timeline from the call record: the first API call, the
last batch created, the last job ended, the last result downloaded, the exit.

Calls per poll (qplan): qplan observes the jobs in flight with GetJobs filtered by id, 100
ids a call, the calls of one poll at once. So a poll is a burst of GetJobs-by-id calls: a
call that arrives within POLL_GAP (0.25 s, or half the poll interval if less) of the answer to
the previous one belongs to the same poll, which starts at its first call's arrival. The jobs
in flight at poll p, N_p, are those the emulator had created before poll p started and that
qplan could not yet know to be finished: created after the start of poll p-1, or ended at or
after the start of poll p-1 (an upper bound). A poll may make ceil(N_p / 100) calls (one is
the least any poll makes); printed: calls per poll (max, mean, spread), calls_p /
ceil(N_p / 100) (max and mean; target: max <= 1), and the literal GetJobs calls per 100 jobs
in flight, calls_p / (N_p / 100), over the polls with N_p >= 100.

Checks (any failure: exit status 1, the reasons printed at the end):

- every process exits 0 without a Python traceback on stderr;
- every contender returns one result per point, at the points in order (the variables the
  service reports), 100 shots each, outcomes 0 and 1 only, theta = 0 all 0 and theta = pi
  all 1, and every point's count of 1 within 6 standard deviations (+1 shot) of
  100 sin^2(theta / 2);
- every contender's CreateBatch calls are all answered 200: one batch of N jobs (qplan, the
  single batch) or N batches of one job (batch per point); the emulator holds N jobs, all
  DONE;
- qplan: `qplan results --format json` gives N results at the N points (counts checked as
  above), and the state holds N job rows `succeeded` with a result hash.

Targets (verdicts printed, not part of the exit status): qplan apply within 1.2x of the
single batch's wall time, and at most one GetJobs call per 100 jobs in flight per poll.
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

from tests.benchmarks import common  # noqa: E402
from tests.benchmarks.common import (  # noqa: E402
    POLL_GAP,
    SHOTS,
    Benchmark,
    add_case_timeout,
    count_in_flight,
    finish,
    group_polls,
    log,
    print_machine,
    verdict,
)
from tests.emulators.kit import Call, Fault  # noqa: E402
from tests.emulators.pasqal.emulator import PasqalEmulator  # noqa: E402
from tests.emulators.pasqal.fixture import (  # noqa: E402
    PROJECT_ID,
    TOKEN,
    pasqal_environ,
    pasqal_sdk,
)
from tests.emulators.pasqal.settings import PasqalSettings  # noqa: E402
from tests.pulser_programs import flip  # noqa: E402

POINTS = 500
QUICK_POINTS = 60
LATENCY = 0.2  # seconds added to every API call
RUN_TIME = 0.0  # seconds every job runs besides its simulation
QUEUE_TIME = 0.0  # seconds every job waits before it runs
POLL_INTERVAL = 1.0  # qplan's --poll-interval, and the SDK scripts' refresh interval
SDK_DEFAULT_INTERVAL = 2.0  # the SDK scripts' interval with --poll-interval 0 (the SDK's first)
SPEED_TARGET = 1.2  # qplan apply at most 1.2x the single batch's wall time
PER_CALL = 100  # jobs in flight one GetJobs call per poll may cover (ids per call)
READERS = 16  # threads reading results in the reference contender (qplan's pool)
DEVICE = "EMU_FREE"
STACK = "bench-pasqal"
SINGLE = "single batch"
OPERATIONS = (
    "CreateBatch",
    "GetBatch",
    "GetBatchStatus",
    "GetBatches",
    "GetJobs",
    "GetResultsLink",
    "DownloadResults",
    "GetDeviceSpecs",
)
SHORT = {
    "CreateBatch": "Create",
    "GetBatch": "Batch",
    "GetBatchStatus": "BStat",
    "GetBatches": "Search",
    "GetJobs": "Jobs",
    "GetResultsLink": "RLink",
    "DownloadResults": "Dload",
    "GetDeviceSpecs": "Specs",
}
MANIFEST = """\
version: 1
stack: {stack}
providers:
  pq: {{type: pasqal, project_id: "{{{{ env('PASQAL_PROJECT_ID') }}}}"}}
programs:
  flip: {{format: pulser, path: flip.json}}
jobs:
  scan:
    target: pq/{device}
    program: flip
    shots: {shots}
    sweep:
      grid:
        theta: {{linspace: [0, 3.141592653589793, {n}]}}
"""
# The hand-written contenders, as a user writes them. Arguments: the sequence (Pulser's
# abstract representation), the points (JSON), where the service is (JSON), the refresh
# interval, where to write the results. They write each job's theta (as the service reports
# it) and counts, in the order of the points, and the time of their own phases.
COMMON = """\
import json
import sys
import time
import warnings

from pasqal_cloud import SDK
from pasqal_cloud.authentication import TokenProvider
from pasqal_cloud.endpoints import Endpoints

sequence = open(sys.argv[1]).read()
points = json.load(open(sys.argv[2]))
where = json.load(open(sys.argv[3]))
interval = float(sys.argv[4])


class Token(TokenProvider):
    def get_token(self):
        return where["token"]


with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # SDK: the name the docs use
    sdk = SDK(
        project_id=where["project_id"],
        token_provider=Token(),
        endpoints=Endpoints(core=where["endpoint"], account=where["endpoint"]),
    )
started = time.perf_counter()


def wait(batch):
    batch.refresh()
    while batch.status in ("PENDING", "RUNNING"):
        time.sleep(interval)
        batch.refresh()


def point(job):
    return {"theta": (job.variables or {}).get("theta"), "counts": job.result}


def write(results, submitted, waited):
    done = time.perf_counter()
    times = {"submit_s": submitted - started, "wait_s": waited - submitted, "read_s": done - waited}
    json.dump({"results": results, **times}, open(sys.argv[5], "w"))
"""
SINGLE_BATCH = (
    COMMON
    + """\
jobs = [{"runs": %(shots)d, "variables": {"theta": theta}} for theta in points]
batch = sdk.create_batch(sequence, jobs, device_type="%(device)s")
submitted = time.perf_counter()
wait(batch)
waited = time.perf_counter()
write([point(job) for job in batch.ordered_jobs], submitted, waited)
"""
)
PER_POINT = (
    COMMON
    + """\
batches = [
    sdk.create_batch(
        sequence, [{"runs": %(shots)d, "variables": {"theta": theta}}], device_type="%(device)s"
    )
    for theta in points
]
submitted = time.perf_counter()
for batch in batches:
    wait(batch)
waited = time.perf_counter()
write([point(batch.ordered_jobs[0]) for batch in batches], submitted, waited)
"""
)
READERS_BATCH = (
    COMMON
    + """\
from concurrent.futures import ThreadPoolExecutor

jobs = [{"runs": %(shots)d, "variables": {"theta": theta}} for theta in points]
batch = sdk.create_batch(sequence, jobs, device_type="%(device)s")
submitted = time.perf_counter()
wait(batch)
waited = time.perf_counter()
with ThreadPoolExecutor(%(readers)d) as pool:
    write(list(pool.map(point, batch.ordered_jobs)), submitted, waited)
"""
)


@dataclass
class Poll(common.Poll):
    per_call = PER_CALL


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
    started: float = math.nan  # time.time() when its process was started
    timeline: dict[str, float] = field(default_factory=dict)  # event -> seconds from start


def by_id(call: Call) -> bool:
    """A GetJobs call filtered by job id (qplan's observation), not by batch (the SDK's
    listing of a batch's jobs)."""
    return call.operation == "GetJobs" and "id" in (call.params.get("filters") or {})


def _terminate(signum: int, _frame: Any) -> None:
    log(f"{signal.Signals(signum).name}: stopping every process and server started ...")
    raise SystemExit(128 + signum)  # unwinds: every process and server started is stopped


class Bench(Benchmark):
    def __init__(self, folder: Path, emulator: PasqalEmulator, n: int, interval: float) -> None:
        super().__init__(folder, n)
        self.emulator = emulator
        self.interval = interval
        self.manifest_text = MANIFEST.format(stack=STACK, device=DEVICE, shots=SHOTS, n=n)
        self.sequence = flip()
        (folder / "flip.json").write_text(self.sequence)
        values = {"shots": SHOTS, "device": DEVICE, "readers": READERS}
        (folder / "single.py").write_text(SINGLE_BATCH % values)
        (folder / "per_point.py").write_text(PER_POINT % values)
        (folder / "readers.py").write_text(READERS_BATCH % values)
        where = {"endpoint": emulator.url, "token": TOKEN, "project_id": PROJECT_ID}
        (folder / "where.json").write_text(json.dumps(where))
        # a developer's own Pasqal credentials and state location never reach a contender
        base = {
            k: v
            for k, v in os.environ.items()
            if k != "QPLAN_STATE" and not k.startswith("PASQAL_")
        }
        self.sdk_environ = base
        self.qplan_environ = {**base, **pasqal_environ(emulator)}
        os.environ.setdefault("PASQAL_PROJECT_ID", PROJECT_ID)
        self.points = self.sweep_points(self.manifest_text)

    # --- running a process ---------------------------------------------------------------

    def progress(self, label: str, elapsed: float) -> None:
        counts = self.emulator.calls.counts()
        done = sum(1 for j in self.emulator.store.all_jobs() if j.status == "DONE")
        log(
            f"  [{label}] {elapsed:6.0f} s: {counts.get('CreateBatch', 0)} batches created, "
            f"{done} jobs done, {counts.get('DownloadResults', 0)} results read, "
            f"{sum(counts.values())} API calls"
        )

    def reset(self) -> None:
        self.emulator.reset()  # batches, jobs, calls; the latency rule and settings as started

    def warm_up(self) -> None:
        """One job through the emulator (Pulser and QuTiP load on first use) and one cold
        import of the SDK, Pulser and qplan (disk cache), before any timed contender."""
        self.emulator.faults.clear()
        self.emulator.config.update(queue_time=0.0, run_time=0.0)
        sdk = pasqal_sdk(self.emulator)
        batch = sdk.create_batch(
            self.sequence,
            [{"runs": SHOTS, "variables": {"theta": 1.0}}],
            device_type=DEVICE,
        )
        ended = self.emulator.wait_for_batch(batch.id, timeout=120)
        if ended.status != "DONE":
            raise SystemExit(f"the emulator's warm-up batch ended {ended.status}")
        command = [sys.executable, "-c", "import pasqal_cloud, pulser, qplan.cli"]
        subprocess.run(command, env=self.sdk_environ, check=True)
        self.reset()

    def _record(self, case: Case) -> None:
        """The case's calls by operation and status, and its timeline."""
        case.calls = self.emulator.calls.counts()
        case.statuses = self.emulator.calls.status_counts()
        calls = self.emulator.calls.calls()
        jobs = self.emulator.store.all_jobs()

        def answered(operation: str) -> float:
            return max(
                (c.wall + c.duration for c in calls if c.operation == operation),
                default=math.nan,
            )

        start = case.started
        ends = [j.ended for j in jobs if j.ended is not None]
        starts = [j.started for j in jobs if j.started is not None]
        case.timeline = {
            "first call": min((c.wall for c in calls), default=math.nan) - start,
            "last created": answered("CreateBatch") - start,
            "first job started": min(starts, default=math.nan) - start,
            "last job ended": max(ends, default=math.nan) - start,
            "last result read": answered("DownloadResults") - start,
            "exit": case.wall,
        }

    # --- checks -------------------------------------------------------------------------

    def check_created(self, case: Case, batches: int) -> None:
        """`batches` CreateBatch calls answered 200 and no other, N jobs in all, all DONE."""
        creates = case.statuses.get("CreateBatch", {})
        snapshots = self.emulator.batches()
        sizes = Counter(len(b.jobs) for b in snapshots)
        expected_sizes = Counter({self.n // batches: batches})
        jobs = Counter(j.status for b in snapshots for j in b.jobs)
        if creates != {200: batches} or sizes != expected_sizes:
            self.fail(
                f"{case.name}: CreateBatch calls by status {creates}, batches by size "
                f"{dict(sizes)}; expected {batches} created (200) of {self.n // batches} jobs"
            )
        if jobs != Counter({"DONE": self.n}):
            self.fail(f"{case.name}: jobs by status {dict(jobs)}, expected {self.n} DONE")

    # --- qplan ----------------------------------------------------------------------------

    def qplan(self, timeout: float) -> Case:
        """`qplan apply` in a fresh folder (fresh state)."""
        interval = self.interval
        args = ["--poll-interval", f"{interval:g}"] if interval > 0 else []
        name = "qplan apply" + (f" --poll-interval {interval:g}" if args else "")
        case = Case(name, self.n)
        folder = self.folder / "qplan"
        folder.mkdir()
        (folder / "qplan.yaml").write_text(self.manifest_text)
        (folder / "flip.json").write_text(self.sequence)
        self.reset()
        log(f"{name}: {self.n} points ...")
        command = [sys.executable, "-m", "qplan", "apply", "qplan.yaml", *args]
        case.started = time.time()
        case.wall, _, stdout, _ = self.run(command, folder, self.qplan_environ, "apply", timeout)
        self._record(case)
        gap = min(POLL_GAP, interval / 2) if interval > 0 else POLL_GAP
        case.polls = self.polls(gap)
        tail = [line for line in stdout.splitlines() if line.startswith("Apply")]
        summary = tail[-1].rstrip(".") if tail else "no 'Apply' line on stdout"
        observed = sum(1 for c in self.emulator.calls.calls("GetJobs") if by_id(c))
        listed = case.calls.get("GetJobs", 0) - observed
        calls = self.emulator.calls.calls()
        first = min((c.wall for c in calls if c.operation == "CreateBatch"), default=math.inf)
        before = ", ".join(
            f"{c.operation} at +{c.wall - case.started:.1f} s" for c in calls if c.wall <= first
        )
        case.detail = (
            f"{summary}; calls up to its batch: {before}; GetJobs: {observed} by id, "
            f"{listed} by batch"
        )
        self.check_created(case, 1)
        self.check_state(case, folder)
        self.check_results(case, folder, self.qplan_environ)
        log(f"{name}: {case.wall:.1f} s")
        return case

    def polls(self, gap: float) -> PollStats:
        """qplan's GetJobs-by-id calls grouped into polls, with the jobs in flight at each
        (see the module docstring)."""
        calls = self.emulator.calls.filter(by_id)
        polls = group_polls(calls, gap, Poll)
        jobs = [
            (j.created, math.inf if j.ended is None else j.ended)
            for j in self.emulator.store.all_jobs()
        ]
        count_in_flight(polls, jobs)
        return PollStats(polls, gap)

    # --- the SDK contenders ---------------------------------------------------------------

    def script(self, name: str, script: str, batches: int, timeout: float) -> Case:
        case = Case(name, self.n)
        folder = self.folder / Path(script).stem
        folder.mkdir()
        (folder / "points.json").write_text(json.dumps(self.points))
        self.reset()
        log(f"{name}: {self.n} points ...")
        output = folder / "results.json"
        interval = self.interval if self.interval > 0 else SDK_DEFAULT_INTERVAL
        command = [
            sys.executable,
            str(self.folder / script),
            str(self.folder / "flip.json"),
            str(folder / "points.json"),
            str(self.folder / "where.json"),
            f"{interval:g}",
            str(output),
        ]
        case.started = time.time()
        case.wall, code, _, _ = self.run(command, folder, self.sdk_environ, "script", timeout)
        self._record(case)
        self.check_created(case, batches)
        data: dict[str, Any] = {}
        if code == 0:
            try:
                data = json.loads(output.read_text())
            except (OSError, ValueError):
                self.fail(f"{name}: no results written")
        if data:
            thetas = [r["theta"] for r in data["results"]]
            if thetas != self.points:
                self.fail(f"{name}: the jobs' thetas are not the sweep's points, in order")
            self.check_counts(name, self.points, [r["counts"] for r in data["results"]])
            case.detail = (
                f"submitting {data['submit_s']:.1f} s, waiting {data['wait_s']:.1f} s, "
                f"reading results {data['read_s']:.1f} s (after "
                f"{case.wall - data['submit_s'] - data['wait_s'] - data['read_s']:.1f} s of "
                "start-up: interpreter, imports, SDK)"
            )
        log(f"{name}: {case.wall:.1f} s")
        return case


# --- the report ---------------------------------------------------------------------------


def print_table(cases: list[Case], single: Case) -> None:
    ops = " ".join(f"{SHORT[op]:>6}" for op in OPERATIONS)
    header = f"{'contender':<34} {'points':>6} {'wall s':>8} {'ratio':>6} {ops} {'other':>6}"
    header += f" {'total':>6}"
    print(header)
    print("-" * len(header))
    for case in cases:
        cells = " ".join(f"{case.calls.get(op, 0):>6}" for op in OPERATIONS)
        other = sum(v for k, v in case.calls.items() if k not in OPERATIONS)
        ratio = case.wall / single.wall
        print(
            f"{case.name:<34} {case.n:>6} {case.wall:8.1f} {ratio:5.2f}x {cells} {other:>6} "
            f"{sum(case.calls.values()):>6}"
        )
    print(f"(ratio: wall time / the {SINGLE}'s)")
    print()
    for case in cases:
        others = {k: v for k, v in case.calls.items() if k not in OPERATIONS}
        extra = f"; other calls: {others}" if others else ""
        per_point = sum(case.calls.values()) / case.n
        print(f"{case.name}: {case.detail}{extra}; {per_point:.2f} API calls per point")
    print()
    events = list(cases[0].timeline)
    header = f"{'seconds from process start':<34} " + " ".join(f"{e:>17}" for e in events)
    print(header)
    print("-" * len(header))
    for case in cases:
        cells = " ".join(f"{case.timeline.get(e, math.nan):17.1f}" for e in events)
        print(f"{case.name:<34} {cells}")


def print_speed(qplan: Case, single: Case) -> bool:
    ratio = qplan.wall / single.wall
    met = ratio <= SPEED_TARGET
    print(
        f"{qplan.name} / {single.name}: {qplan.wall:.1f} s / {single.wall:.1f} s = "
        f"{ratio:.2f}x (target <= {SPEED_TARGET:g}x): {verdict(met)}"
    )
    return met


def print_polls(case: Case) -> None:
    stats = case.polls
    if not isinstance(stats, PollStats) or not stats.polls:
        print(f"  {case.name}: no GetJobs-by-id calls in the call record")
        return
    polls = stats.polls
    worst = stats.worst
    assert worst is not None
    calls = [p.calls for p in polls]
    print(
        f"  {case.name}: {len(polls)} polls (calls within {stats.gap:g} s of the previous "
        f"answer grouped), {sum(calls)} GetJobs-by-id calls in them; calls per poll: max "
        f"{max(calls)}, mean {sum(calls) / len(calls):.2f} ({stats.spread()}); jobs in "
        f"flight per poll: max {max(p.in_flight for p in polls)}"
    )
    print(
        f"    calls_p / ceil(N_p/{PER_CALL}): max {worst.ratio:.2f} (poll at "
        f"+{worst.start - polls[0].start:.1f} s: {worst.calls} calls, {worst.in_flight} in "
        f"flight), mean {stats.mean:.2f}; polls over 1: {stats.over} of {len(polls)}; "
        f"target max <= 1: {verdict(stats.met)}"
    )
    literal = stats.literal()
    print(
        f"    GetJobs calls per {PER_CALL} jobs in flight, calls_p / (N_p/{PER_CALL}), over "
        f"the polls with N_p >= {PER_CALL}: "
        + (
            f"max {max(literal):.2f}, mean {sum(literal) / len(literal):.2f} ({len(literal)} polls)"
            if literal
            else "none such"
        )
    )
    starts = [p.start for p in polls]
    gaps = [b - a for a, b in pairwise(starts)]
    if gaps:
        print(
            f"    seconds between poll starts: mean {sum(gaps) / len(gaps):.2f}, min "
            f"{min(gaps):.2f}, max {max(gaps):.2f}"
        )
    timeline = " ".join(f"{p.calls}/{p.in_flight}" for p in polls[:80])
    more = " ..." if len(polls) > 80 else ""
    print(f"    per poll, calls/in flight: {timeline}{more}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--points", type=int, default=None, help=f"points of the sweep (default: {POINTS})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a fast check: {QUICK_POINTS} points unless --points says otherwise",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=LATENCY,
        help="seconds added to every API call (default: %(default)s)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=POLL_INTERVAL,
        help="qplan apply's --poll-interval and the SDK scripts' seconds between refreshes "
        f"(0: qplan's own default, and {SDK_DEFAULT_INTERVAL:g} s; default: %(default)s)",
    )
    parser.add_argument(
        "--run-time",
        type=float,
        default=RUN_TIME,
        help="seconds every job runs besides its simulation (default: %(default)s)",
    )
    parser.add_argument(
        "--queue-time",
        type=float,
        default=QUEUE_TIME,
        help="seconds every job waits before it runs (default: %(default)s)",
    )
    add_case_timeout(parser, "contender")
    args = parser.parse_args()
    n = args.points if args.points is not None else (QUICK_POINTS if args.quick else POINTS)
    if n < 2:
        parser.error("--points must be at least 2")
    if min(args.latency, args.poll_interval, args.run_time, args.queue_time) < 0:
        parser.error("--latency, --poll-interval, --run-time and --queue-time must be >= 0")
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started ignoring it
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)

    from importlib.metadata import version

    print_machine(
        f"pasqal-cloud {version('pasqal-cloud')}, pulser-core {version('pulser-core')}, "
        f"pulser-simulation {version('pulser-simulation')}"
    )
    print(
        f"{n} points of one Pulser sequence (one atom, amplitude theta = linspace(0, pi, {n})),"
        f" {SHOTS} runs each, {DEVICE} on the Pasqal Cloud emulator: "
        f"{args.latency * 1e3:.0f} ms per API call, queue {args.queue_time:g} s and run "
        f"{args.run_time:g} s per job besides its pulser-simulation run (one job at a time); "
        "GetBatch without the jobs (job ids only); each contender a fresh process"
    )
    faults = [Fault.latency(args.latency)] if args.latency > 0 else []
    settings = PasqalSettings(
        queue_time=args.queue_time, run_time=args.run_time, batch_jobs_inline=False
    )
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="qplan-bench-pasqal-") as tmp,
        PasqalEmulator(config=settings, faults=faults) as emulator,
    ):
        bench = Bench(Path(tmp), emulator, n, args.poll_interval)
        log("warming up the emulator and the disk cache ...")
        bench.warm_up()
        timeout = args.case_timeout
        qplan = bench.qplan(timeout)
        single = bench.script(SINGLE, "single.py", 1, timeout)
        per_point = bench.script("batch per point", "per_point.py", n, timeout)
        readers = bench.script(f"{SINGLE}, {READERS} readers (ref.)", "readers.py", 1, timeout)
        failures = bench.failures
    total = time.perf_counter() - started

    print()
    print_table([qplan, single, per_point, readers], single)
    print()
    print_speed(qplan, single)
    print(
        f"  for reference: {qplan.name} / {readers.name}: {qplan.wall / readers.wall:.2f}x; "
        f"{per_point.name} / {single.name}: {per_point.wall / single.wall:.2f}x"
    )
    print()
    print(f"GetJobs calls per poll (at most 1 per {PER_CALL} jobs in flight):")
    print_polls(qplan)
    finish(failures, total)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        log("interrupted: every process and server started was stopped")
        sys.exit(130)
