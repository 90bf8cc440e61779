"""Crash benchmark: SIGKILL `qplan apply` at random moments, resume, and audit the result.

    python tests/benchmarks/bench_crash.py [--trials 20] [--points 200] [--seed S]
        [--state postgres | --state postgresql://...]

Every trial runs in a fresh folder with a manifest of one job sweeping POINTS values of
theta (a 2-qubit OpenQASM 3 circuit, 100 shots, `local/braket_sv`) and the local provider's
run journal switched on (`QPLAN_LOCAL_JOURNAL=journal.jsonl`: every worker appends a line
when a run starts and when it ends). First, an uninterrupted apply is timed in a folder of
its own (median of two): call it T. Then, per trial:

  1. 1 to 3 times (drawn at random): start `python -m qplan apply` in a new session and
     SIGKILL it, with its whole process group (the forkserver and the pool workers), at a
     moment drawn uniformly between 0.2 s and T after its start (a first apply that ends
     before its moment does not count: the trial starts again). The state is inspected
     after each kill: rows `submitting` (intents whose outcome the next apply must find),
     rows in flight (`queued`/`running`, lost with the process), whether the stack lock was
     left behind (the next apply on this host must see its holder is dead and take it over:
     no `force-unlock` is run);
  2. `qplan apply` to completion (exit 0), after which no lock is left;
  3. the audit: each of the POINTS addresses has exactly one row in `resources`, status
     `succeeded`, a result_hash stored in `results`; exactly ONE `succeeded` event in
     `events`, with that result_hash; no journal `start` of an address after the time of
     its `succeeded` event (no point ran after its result was recorded); the recorded run
     (the row's idempotency key) has an `end` line in the journal, or else a `start` line
     in a trial with a kill (a worker leaves its result, then writes `end`: a kill can
     come in between; such runs are counted, not failed); every row `submitting` after a
     kill ended `succeeded` (recovered);
  4. `qplan apply` once more: exit 0, "No changes", no new journal line, no lock left.

Runs started more than once are of two kinds, counted apart. A run killed before it ended
(a `start` with no `end`) is lost with its process and runs again: expected with the local
provider, counted, not failed. A run that had ENDED and started again is a duplicate run
of a finished point: its result was lost. Each is a failed check: a finished run leaves
its result under its key (`.qplan/stacks/STACK/local-runs`) before its `end` line, and the
next apply records it from there. A
kill-and-resume cycle is a killed apply from its start to its kill, plus the recovery that
follows it (the next apply, up to its own kill or its end); the time to a finished stack
adds up every apply of a trial. Both count qplan's processes only, not the wait for a
killed process group to vanish.

The state is SQLite's file next to the manifest, unless `--state` says PostgreSQL:
`--state postgres` starts a private server for the run (tests/postgres/server.py) and stops
it at the end; `--state postgresql://...` uses that database. Every qplan process then gets
the state's URL in QPLAN_STATE, and every run (the uninterrupted ones and each trial) has a
fresh database of its own (a fresh schema, on a server of the user's). Either way, the checks
read the state through qplan's own store (`qplan.state.open_store`), as qplan does.

One line per trial, then a summary; the exit status is 1 if any check failed, and then the
trial folders are kept and their path is printed (and, on a server of the user's, the
trials' schemas).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.benchmarks.postgres import PostgresState, add_state_option, validate_state  # noqa: E402

if TYPE_CHECKING:
    from qplan.state import StateStore
    from tests.benchmarks.postgres import Fresh

SHOTS = 100
STACK = "crash"
MIN_KILL = 0.2  # seconds after the start of apply
JOURNAL = "journal.jsonl"
MANIFEST = """\
version: 1
stack: {stack}
programs:
  ry:
    format: openqasm3
    source: |
      OPENQASM 3.0;
      input float theta;
      qubit[2] q;
      bit[2] c;
      ry(theta) q[0];
      cnot q[0], q[1];
      c = measure q;
jobs:
  scan:
    target: local/braket_sv
    program: ry
    shots: {shots}
    sweep:
      grid:
        theta: {{linspace: [0, 3.14159, {points}]}}
"""


@dataclass
class Kill:
    at: float  # drawn moment, seconds after the start of apply
    killed: bool = False  # False: apply ended before the moment came
    exit_code: int | None = None
    statuses: Counter[str] = field(default_factory=Counter)
    submitting: set[str] = field(default_factory=set)
    lock_left: bool = False
    cycle: float = 0.0  # this apply to its kill + the next apply


@dataclass
class Trial:
    number: int
    points: int
    kills: list[Kill] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    starts: int = 0
    ends: int = 0
    locks_left: int = 0  # locks left by a kill, taken over by the next apply
    lost_events: int = 0
    recovered: int = 0  # rows submitting after a kill that ended succeeded
    redraws: int = 0  # first applies that ended before their kill: trial started again
    elapsed: float = 0.0  # every apply of the trial, until finished
    reruns: int = 0  # runs started of a point whose run had ended already
    unjournaled: int = 0  # recorded runs killed after leaving their result, before `end`

    @property
    def duplicates(self) -> int:
        return self.starts - self.points

    @property
    def submitting(self) -> int:
        return sum(len(k.submitting) for k in self.kills)


class Runner:
    """One run's folder and state: SQLite's file next to the manifest, or ``fresh``, a
    PostgreSQL database (or schema) of its own."""

    def __init__(self, folder: Path, points: int, fresh: Fresh | None = None) -> None:
        folder.mkdir(parents=True)
        self.folder = folder
        self.manifest = folder / "qplan.yaml"
        self.manifest.write_text(MANIFEST.format(stack=STACK, shots=SHOTS, points=points))
        self.journal = folder / JOURNAL
        self.local = folder / ".qplan"  # SQLite's state, and the local provider's results
        self.fresh = fresh
        self.env = {k: v for k, v in os.environ.items() if k != "QPLAN_STATE"}
        if fresh is not None:
            self.env["QPLAN_STATE"] = fresh.url
        self.env["QPLAN_LOCAL_JOURNAL"] = str(self.journal)
        self.logs = folder / "logs"
        self.logs.mkdir()
        self.count = 0

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "qplan", *args]

    def start(self, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
        self.count += 1
        log = self.logs / f"{self.count:02d}-{args[0]}.txt"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                self.command(*args),
                cwd=self.folder,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: forkserver and workers too
            )
        return proc, log

    def run(self, *args: str, timeout: float = 600.0) -> tuple[int, str]:
        proc, log = self.start(*args)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            return -1, log.read_text() + f"\n[bench: no end after {timeout:.0f} s, killed]"
        return code, log.read_text()

    def journal_lines(self) -> list[dict[str, Any]]:
        if not self.journal.exists():
            return []
        return [json.loads(line) for line in self.journal.read_text().splitlines() if line]

    @contextlib.contextmanager
    def store(self) -> Iterator[StateStore]:
        """The state as qplan left it, opened as qplan's read-only commands open it: a state
        not made yet reads as empty (and is not made)."""
        from qplan.state import open_store

        url = None if self.fresh is None else self.fresh.url
        store = open_store(url, self.manifest, create=False)
        try:
            yield store
        finally:
            store.close()

    def lock_left(self) -> bool:
        with self.store() as store:
            return store.lock_info(STACK) is not None

    def reset(self) -> None:
        """The state and the local results gone, as before the first apply."""
        shutil.rmtree(self.local, ignore_errors=True)
        self.journal.unlink(missing_ok=True)
        if self.fresh is not None:
            self.fresh.reset()
            self.env["QPLAN_STATE"] = self.fresh.url


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process, then its whole group, and wait until the group is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)
    raise SystemExit(f"process group {proc.pid} still alive 30 s after SIGKILL")


def uninterrupted(root: Path, points: int, postgres: PostgresState | None) -> float:
    """One full apply in a fresh folder; checks that it ran every point exactly once."""
    runner = Runner(root, points, None if postgres is None else postgres.fresh(root.name))
    started = time.perf_counter()
    code, output = runner.run("apply", str(runner.manifest))
    elapsed = time.perf_counter() - started
    starts = [j for j in runner.journal_lines() if j["event"] == "start"]
    with runner.store() as store:
        done = sum(1 for row in store.rows(STACK) if row.status.value == "succeeded")
    if code != 0 or len(starts) != points or done != points:
        raise SystemExit(
            f"uninterrupted apply: exit {code}, {len(starts)} runs started, {done} succeeded "
            f"(expected 0, {points}, {points}):\n{output}"
        )
    return elapsed


def inspect_after_kill(runner: Runner, kill: Kill) -> None:
    with runner.store() as store:
        rows = [(r.address, r.status.value) for r in store.rows(STACK) if r.kind == "job"]
        kill.lock_left = store.lock_info(STACK) is not None
    kill.statuses = Counter(status for _, status in rows)
    kill.submitting = {address for address, status in rows if status == "submitting"}


def audit(runner: Runner, trial: Trial, addresses: set[str]) -> None:
    problems = trial.problems
    with runner.store() as store:
        rows = {
            r.address: (r.status.value, r.result_hash, r.idempotency_key)
            for r in store.rows(STACK)
            if r.kind == "job"
        }
        hashes = {h for _, h, _ in rows.values() if h}
        stored = {h for h in hashes if store.result(h) is not None}
        events = store.events(STACK)
    if set(rows) != addresses:
        problems.append(
            f"resources: {len(set(rows) - addresses)} unexpected rows, "
            f"{len(addresses - set(rows))} addresses missing"
        )
    bad = {
        a: r[0] for a, r in rows.items() if r[0] != "succeeded" or not r[1] or r[1] not in stored
    }
    if bad:
        problems.append(
            f"resources: {len(bad)} rows not succeeded with a stored result: {sample(bad)}"
        )

    successes: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for event in events:
        if event["new_status"] == "succeeded":
            successes[event["address"]].append((event["at"], event["result_hash"]))
    counts = {a: len(successes.get(a, [])) for a in addresses}
    wrong = {a: n for a, n in counts.items() if n != 1}
    if wrong:
        problems.append(
            f"events: {len(wrong)} addresses without exactly one success: {sample(wrong)}"
        )
    mismatched = {
        a: (successes[a][-1][1], rows[a][1])
        for a in addresses
        if successes.get(a) and a in rows and successes[a][-1][1] != rows[a][1]
    }
    if mismatched:
        problems.append(f"success event result_hash != row result_hash: {sample(mismatched)}")
    trial.lost_events = sum(1 for e in events if (e["detail"] or "").startswith("lost:"))

    journal = runner.journal_lines()
    starts = [j for j in journal if j["event"] == "start"]
    ends = {j["key"] for j in journal if j["event"] == "end"}
    trial.starts, trial.ends = len(starts), sum(1 for j in journal if j["event"] == "end")
    started = Counter(j["address"] for j in starts)
    never = addresses - set(started)
    if never:
        problems.append(f"journal: {len(never)} addresses never started: {sample(never)}")
    stray = set(started) - addresses
    if stray:
        problems.append(f"journal: runs of unknown addresses: {sample(stray)}")
    ended: set[str] = set()
    rerun: Counter[str] = Counter()
    for line in sorted(journal, key=lambda j: (j["at"], j["event"] == "start")):
        if line["event"] == "end":
            ended.add(line["address"])
        elif line["address"] in ended:
            rerun[line["address"]] += 1
    trial.reruns = sum(rerun.values())
    if rerun:
        problems.append(
            f"journal: {trial.reruns} runs of points whose run had ended: {sample(rerun)}"
        )
    late = []
    for run in starts:
        recorded = successes.get(run["address"])
        if recorded and run["at"] > min(at for at, _ in recorded):
            late.append(
                f"{run['address']} started at {run['at']:.6f} (pid {run['pid']}, key "
                f"{run['key'][:12]}) after its success event at {min(a for a, _ in recorded):.6f}"
            )
    if late:
        problems.append(
            f"journal: {len(late)} runs started after their result was recorded: "
            + "; ".join(late[:3])
        )
    # a run leaves its result, then writes its `end` line: a kill can fall in between, and
    # the result is still that run's own (recorded from where it left it) if it started
    begun = {j["key"] for j in starts}
    killed = any(k.killed for k in trial.kills)
    unmatched = {a: r[2] for a, r in rows.items() if r[0] == "succeeded" and r[2] not in ends}
    trial.unjournaled = sum(1 for key in unmatched.values() if key in begun and killed)
    unexplained = {a: k for a, k in unmatched.items() if k not in begun or not killed}
    if unexplained:
        problems.append(f"recorded key without a journal 'end': {sample(unexplained)}")
    done = {a for a, r in rows.items() if r[0] == "succeeded" and counts.get(a) == 1}
    trial.recovered = sum(len(k.submitting & done) for k in trial.kills)
    lost = {a for k in trial.kills for a in k.submitting} - done
    if lost:
        problems.append(f"{len(lost)} rows submitting after a kill not recovered: {sample(lost)}")


def sample(items: Any, n: int = 3) -> str:
    if isinstance(items, dict):
        shown = ", ".join(f"{k}: {v}" for k, v in list(sorted(items.items()))[:n])
    else:
        shown = ", ".join(sorted(items)[:n])
    return shown + (" ..." if len(items) > n else "")


def trial_run(
    number: int,
    folder: Path,
    points: int,
    full: float,
    rng: random.Random,
    fresh: Fresh | None = None,
) -> Trial:
    """Kill apply 1 to 3 times, resume to the end, audit. Times count qplan processes only:
    the wait for a killed process group to vanish is left out. A first apply that ends
    before its kill moment starts the trial again with a new draw (up to 5 times), so
    that every trial has at least one kill; later ones simply end the killing."""
    import qplan

    runner = Runner(folder, points, fresh)
    trial = Trial(number, points)
    addresses = {i.address for i in qplan.load(runner.manifest).jobs["scan"].instances()}
    planned = rng.randint(1, 3)
    while len(trial.kills) < planned:
        kill = Kill(at=rng.uniform(MIN_KILL, full))
        proc, log = runner.start("apply", str(runner.manifest))
        launched = time.perf_counter()
        try:
            kill.exit_code = proc.wait(timeout=kill.at)
        except subprocess.TimeoutExpired:
            kill.killed = True
        lived = time.perf_counter() - launched
        if kill.killed:
            kill_group(proc)
            kill.exit_code = proc.returncode
        if trial.kills:  # this apply ends the previous kill's cycle
            trial.kills[-1].cycle += lived
        kill.cycle = lived
        trial.elapsed += lived
        inspect_after_kill(runner, kill)
        if not kill.killed and (kill.exit_code != 0 or kill.lock_left):
            trial.problems.append(
                f"apply ended by itself with exit {kill.exit_code}, lock left: {kill.lock_left}: "
                f"{log.read_text().strip()[-500:]!r}"
            )
        if not kill.killed and not trial.kills and not trial.problems and trial.redraws < 5:
            # the first apply ended before its kill: start the trial again, draw again
            trial.redraws += 1
            trial.elapsed = 0.0
            runner.reset()
            continue
        trial.locks_left += kill.lock_left
        trial.kills.append(kill)
        if not kill.killed:
            break  # finished before its kill: nothing left to interrupt
    if trial.kills[-1].killed:
        started = time.perf_counter()
        code, output = runner.run("apply", str(runner.manifest), timeout=max(120.0, 20 * full))
        lived = time.perf_counter() - started
        trial.kills[-1].cycle += lived
        trial.elapsed += lived
        if code != 0:
            trial.problems.append(f"final apply: exit {code}: {output.strip()[-500:]!r}")
        if runner.lock_left():
            trial.problems.append("a lock is left after the final apply")
    audit(runner, trial, addresses)

    before = runner.journal.read_bytes()
    code, output = runner.run("apply", str(runner.manifest))
    if code != 0 or "No changes" not in output:
        trial.problems.append(f"last apply: exit {code}, expected 0 and 'No changes': {output!r}")
    if runner.journal.read_bytes() != before:
        trial.problems.append("last apply started runs (the journal grew)")
    with runner.store() as store:
        left = store.lock_info(STACK)
    if left is not None:
        trial.problems.append(f"a lock is left after the last apply: {left}")
    return trial


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=20, help="(default: %(default)s)")
    parser.add_argument("--points", type=int, default=200, help="sweep size (default: 200)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    add_state_option(parser)
    args = parser.parse_args()
    if args.trials < 1 or args.points < 2:
        parser.error("--trials must be at least 1 and --points at least 2")
    validate_state(parser, args.state)
    if args.state is None:
        run(args, None)
        return
    with PostgresState(args.state) as postgres:
        run(args, postgres)


def run(args: argparse.Namespace, postgres: PostgresState | None) -> None:
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)

    print(
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()} ({platform.python_implementation()})"
    )
    if postgres is not None:
        print(f"state: {postgres.describe()}")
    root = Path(tempfile.mkdtemp(prefix="qplan-bench-crash-"))
    full = statistics.median(
        uninterrupted(root / f"uninterrupted-{i}", args.points, postgres) for i in range(2)
    )
    print(
        f"{args.trials} trials, {args.points} points x {SHOTS} shots on local/braket_sv, seed "
        f"{seed}; uninterrupted apply T = {full:.2f} s (median of 2); kills drawn in "
        f"[{MIN_KILL}, {full:.2f}] s after the start of apply"
    )
    print()
    header = (
        f"{'trial':>5} {'kills':>5} {'kill at s':<17} {'runs':>5} {'dup':>4} {'fin':>4} "
        f"{'submit':>6} {'flight':>6} {'locks':>5} {'total s':>7}  result"
    )
    print(header)
    print("-" * len(header))
    trials = []
    for number in range(1, args.trials + 1):
        folder = root / f"trial-{number:02d}"
        fresh = None if postgres is None else postgres.fresh(folder.name)
        trial = trial_run(number, folder, args.points, full, rng, fresh)
        trials.append(trial)
        moments = ",".join(f"{k.at:.2f}" + ("" if k.killed else "*") for k in trial.kills)
        in_flight = sum(k.statuses["queued"] + k.statuses["running"] for k in trial.kills)
        print(
            f"{number:>5} {sum(k.killed for k in trial.kills):>5} {moments:<17} "
            f"{trial.starts:>5} {trial.duplicates:>4} {trial.reruns:>4} {trial.submitting:>6} "
            f"{in_flight:>6} "
            f"{trial.locks_left:>5} {trial.elapsed:7.2f}  "
            + ("ok" if not trial.problems else "FAILED")
            + (
                f" (started again {trial.redraws}x: first apply ended before its kill)"
                if trial.redraws
                else ""
            )
        )
        for problem in trial.problems:
            print(f"      - {problem}")
    print(
        "(kill at: moments drawn, * = the apply ended before it; runs: journal starts; dup: runs "
        f"- {args.points}; fin: runs of points whose run had ended already; submit: rows "
        "submitting after the kills; flight: rows queued/running "
        "after the kills; locks: locks left by the kills, taken over by the next apply)"
    )

    passed = sum(1 for t in trials if not t.problems)
    kills = [k for t in trials for k in t.kills if k.killed]
    cycles = [k.cycle for k in kills]
    duplicates = sum(t.duplicates for t in trials)
    starts = sum(t.starts for t in trials)
    print()
    print(f"trials passed: {passed} / {len(trials)}")
    print(
        f"kills: {len(kills)} ({sum(1 for t in trials for k in t.kills if not k.killed)} "
        "drawn moments came after a re-apply had ended; "
        f"{sum(t.redraws for t in trials)} trials restarted because their first apply ended "
        "before its kill); locks left by a kill and taken over by the next apply: "
        f"{sum(t.locks_left for t in trials)}"
    )
    print(
        f"runs started: {starts} for {len(trials) * args.points} points: {duplicates} duplicate "
        f"runs ({duplicates / max(1, len(kills)):.1f} per kill; ratio runs / points "
        f"{starts / (len(trials) * args.points):.3f})"
    )
    reruns = sum(t.reruns for t in trials)
    print(
        f"duplicate runs of finished points (a run that had ended, started again): {reruns} "
        f"over {len(kills)} kills"
    )
    print(
        "recorded runs whose worker was killed after leaving its result, before its `end` "
        f"line: {sum(t.unjournaled for t in trials)}"
    )
    submitting = sum(t.submitting for t in trials)
    print(
        f"rows submitting after a kill: {submitting}, recovered (ended with one success): "
        f"{sum(t.recovered for t in trials)}; rows in flight lost: "
        f"{sum(k.statuses['queued'] + k.statuses['running'] for k in kills)} "
        f"({sum(t.lost_events for t in trials)} 'lost' events)"
    )
    if cycles:
        mean = statistics.mean(cycles)
        print(
            f"kill-and-resume cycle: mean {mean:.2f} s, min {min(cycles):.2f}, max "
            f"{max(cycles):.2f} (ratio to an uninterrupted apply: {mean / full:.2f})"
        )
    totals = [t.elapsed for t in trials]
    print(
        f"time to a finished stack with kills: mean {statistics.mean(totals):.2f} s "
        f"(ratio to an uninterrupted apply: {statistics.mean(totals) / full:.2f})"
    )
    if passed != len(trials):
        print(f"trial folders kept in {root}")
        if postgres is not None:
            postgres.keep_failed(f"trial-{t.number:02d}" for t in trials if t.problems)
        sys.exit(1)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
