"""The driver: the one effectful part of the executor. It runs the core's commands against
the state, the providers, the clock and the event sink, and hands every outcome back.

It is the only code that commits an intent and then calls a provider (for jobs and
sessions alike), and the commands of one decision run in their order, so an intent is
always committed before its dispatch is sent. Dispatches of one provider go several at a
time (``submit_concurrency``), and results are read as many at once; outcomes are handed
back one by one, on this thread.
"""

from __future__ import annotations

import random
import signal
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from qplan.executor import core
from qplan.executor.build import build_view, gone_rows
from qplan.executor.calls import call, send_all
from qplan.executor.cancelling import targets_of_rows
from qplan.executor.clock import Clock, SystemClock
from qplan.executor.commands import (
    AskLimit,
    Cancel,
    CloseSession,
    Command,
    Commit,
    Emit,
    Forget,
    OpenSession,
    Outcome,
    Send,
)
from qplan.executor.decision import Decision
from qplan.executor.events import Event, EventSink, Kind, NullSink
from qplan.executor.ingest import INTERRUPTED
from qplan.executor.model import ProviderView, View
from qplan.executor.procedures import cancel_targets
from qplan.executor.report import ApplyReport, progress_counts, report_of
from qplan.executor.writing import Writer
from qplan.manifest import Stack
from qplan.planner import Action, Plan
from qplan.providers import Provider
from qplan.state import StateStore

__all__ = ["Executor", "Options"]

_T = TypeVar("_T")
_I = TypeVar("_I")
PROGRESS_EVERY = 10.0  # seconds between two progress events, while the counts change
PROGRESS_ANYWAY = 300.0  # seconds after which a progress event comes even if nothing moved


@dataclass(frozen=True)
class Options:
    """``parallelism``: provider jobs in flight at once, over all providers (a native batch
    counts once); None: each provider's own ``max_in_flight``. ``poll_interval``: seconds
    between observations of in-flight jobs, for every provider (default: each provider's
    own). ``no_wait``: submit what is ready and return. ``fail_fast``: stop at the first
    failure without waiting for in-flight jobs. ``observe_only``: submit nothing; only look
    up pending intents and observe in-flight jobs (``qplan status --refresh``)."""

    parallelism: int | None = None
    poll_interval: float | None = None
    no_wait: bool = False
    fail_fast: bool = False
    seed: int | None = None
    handle_sigint: bool = True
    observe_only: bool = False


# commands whose answers let waiting work go at once (see ``Executor._loop``)
_UNBLOCKING = (AskLimit, OpenSession)


class Executor:
    def __init__(
        self,
        stack: Stack,
        store: StateStore,
        providers: Mapping[str, Provider],
        plan: Plan,
        options: Options | None = None,
        *,
        clock: Clock | None = None,
        sink: EventSink | None = None,
    ) -> None:
        self.stack = stack
        self.store = store
        self.providers = providers
        self.plan = plan
        self.options = options or Options()
        self.clock = clock or SystemClock()
        self.sink = sink or NullSink()
        self._interrupt = threading.Event()
        self._tally: Counter[str] = Counter()
        self._progress_at = self.clock.now()
        self._progress_counts: Counter[str] = Counter()
        self.view: View | None = None
        self._writer = Writer(store, stack.name, self.sink)

    # --- the run ----------------------------------------------------------------------------

    def run(self) -> ApplyReport:
        retired = (0, 0)
        with self._sigint():
            try:
                retired = self._retire_and_replace()
                self.view = self._build()
                self._prune(self.view)
                self._run(core.start(self.view, self.clock.now()))
                self._loop()
                if self._interrupt.is_set() or (self.view.halt and self.options.fail_fast):
                    self._settle()
            except KeyboardInterrupt:  # a second Ctrl-C: stop at once
                self._interrupt.set()
            if self._interrupt.is_set():
                self._emit(Kind.INTERRUPTED, detail="run `qplan apply` again to resume")
        view = self.view
        ended = view is not None and not self._interrupt.is_set() and not view.halt
        if view is not None and ended and not self.options.no_wait:
            self._run(_finishing(view, self.clock.now()))
        report = report_of(
            self.view.instances.values() if self.view is not None else (),
            retired=retired,
            retried=self._tally[Kind.RETRYING],
            halted=self.view.halt if self.view is not None else "",
            interrupted=self._interrupt.is_set(),
        )
        self.sink.emit(
            Event(Kind.FINISHED, self.clock.now(), detail=report.halted, counts=dict(report.counts))
        )
        return report

    def _build(self) -> View:
        rows = list(self.store.rows(self.stack.name))
        seed = self.options.seed
        jitter = random.Random(seed).random() if seed is not None else random.random()
        return build_view(
            self.stack,
            self.plan,
            rows,
            {name: p.capabilities for name, p in self.providers.items()},
            {name: p.sessions for name, p in self.providers.items()},
            now=self.clock.now(),
            generation=self.store.generation(self.stack.name),
            poll_interval=self.options.poll_interval,
            options={
                "jitter": jitter,
                "parallelism": self.options.parallelism,
                "fail_fast": self.options.fail_fast,
                "no_wait": self.options.no_wait,
                "observe_only": self.options.observe_only,
            },
        )

    def _loop(self) -> None:
        assert self.view is not None
        starved: dict[str, ProviderView] = {}
        again = False
        while not self._interrupt.is_set():
            now = self.clock.now()
            self._run(core.observe(self.view, now))
            now = self.clock.now()
            decision = core.act(self.view, now)
            starved = {n: p for n, p in decision.providers.items() if p.tokens < 1.0}
            self._run(decision)
            self._progress()
            if self._interrupt.is_set() or core.finished(self.view):
                return
            # a batch limit learned, or a session opened, lets work go now: one more pass
            # before sleeping (one only: an answer that unblocks nothing must not spin)
            if not again and any(isinstance(c, _UNBLOCKING) for c in decision.commands):
                again = True
                continue
            again = False
            self.clock.sleep(core.wake(self.view, self.clock.now(), starved))

    @contextmanager
    def _sigint(self) -> Iterator[None]:
        """The first Ctrl-C stops submitting at the next safe point; a second one aborts."""
        if (
            not self.options.handle_sigint
            or threading.current_thread() is not threading.main_thread()
        ):
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            if self._interrupt.is_set():
                raise KeyboardInterrupt
            self._interrupt.set()
            if self.view is not None:
                self.view = replace(self.view, interrupted=True)
            self._emit(
                Kind.INTERRUPTING,
                detail="stopping: nothing new is submitted; Ctrl-C again to stop at once",
            )

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    # --- before and after the loop --------------------------------------------------------

    def _retire_and_replace(self) -> tuple[int, int]:
        """Rows gone from the manifest: cancel what runs, then forget them, except those
        whose provider could not be asked (they stay, for the next apply to cancel).
        Instances whose fingerprint changed while in flight: cancel the old run first.
        Returns (cancelled, forgotten) for the report."""
        rows = list(self.store.rows(self.stack.name))
        durable = {n: p.capabilities.durable_jobs for n, p in self.providers.items()}
        alive = {r.provider: durable.get(r.provider, False) for r in rows}
        gone = gone_rows(self.plan, rows)
        replaced = {
            address
            for resource in self.plan.resources
            for address, action, _ in resource.items()
            if action is Action.REPLACE
        }
        leaving = {r.address for r in gone} | replaced
        kept = {  # jobs instances that stay still wait on (the batch of a member that left)
            r.dispatch_ref or r.provider_job_id
            for r in rows
            if r.address not in leaving and r.status.in_flight
        }
        running = targets_of_rows(gone, alive)
        outcome = cancel_targets(self._execute, running, "no longer in the manifest", kept)
        self._notice_failures(outcome.failed, "left in the state for the next apply")
        forgotten = [r for r in gone if r.provider not in outcome.failed or not r.status.in_flight]
        for row in forgotten:
            self._emit(Kind.FORGOTTEN, row.job, row.address, str(row.status))
        if forgotten:
            self._execute(Forget(tuple(r.address for r in forgotten), "no longer in the manifest"))
        old = targets_of_rows([r for r in rows if r.address in replaced], alive)
        outcome = cancel_targets(
            self._execute, old, "replaced: its fingerprint changed", kept, final=True
        )
        self._notice_failures(outcome.failed, "its old run may still be going")
        cancelled = sum(1 for r in forgotten if r.status.in_flight)
        return cancelled, len(forgotten) - cancelled

    def _prune(self, view: View) -> None:
        """Tell each provider the keys this apply may still ask about. Not in a targeted
        apply: its view leaves out instances whose kept results a later apply needs."""
        if self.plan.targets:
            return
        keys = core.pending_keys(view)
        for name, provider in self.providers.items():
            provider.prune(keys.get(name, set()))

    def _notice_failures(self, failed: Mapping[str, str], consequence: str) -> None:
        for error in failed.values():
            self._emit(Kind.NOTICE, detail=f"{error}: {consequence}")

    def _settle(self) -> None:
        """Before an interrupted (or ``--fail-fast``) apply ends: runs that end with this
        process (local ones) are cancelled, and observed until each has ended, so that
        every run that finished is recorded with its result and the others are recorded
        cancelled, to run again next time. Jobs that outlive the process (cloud ones) keep
        running and are adopted next time. A KeyboardInterrupt (a second Ctrl-C) stops the
        wait at once; the next apply then finds the finished runs by key."""
        assert self.view is not None
        view = self.view
        local = [
            i for i in view.instances.values() if i.at_provider and not view.provider_of(i).durable
        ]
        if not local:
            return
        self._emit(Kind.INTERRUPTING, detail=f"waiting for {len(local)} local run(s) to end")
        decision = Decision()
        asked: dict[str, list[str]] = {}
        for instance in local:
            reason = instance.cancel_reason
            if not reason and not instance.timed_out:
                reason = INTERRUPTED
            decision.put(replace(instance, cancel_reason=reason))
            asked.setdefault(view.job(instance).provider, []).append(instance.job_id or "")
        decision.commands.extend(Cancel(name, tuple(ids)) for name, ids in asked.items())
        self._run(decision)
        while True:
            view = replace(
                self.view,
                providers={
                    n: replace(p, next_observation=float("-inf"))
                    for n, p in self.view.providers.items()
                },
            )
            self.view = view
            self._run(core.observe(view, self.clock.now()))
            if not any(
                i.at_provider and not view.provider_of(i).durable
                for i in self.view.instances.values()
            ):
                return
            self.clock.sleep(min(p.poll_interval for p in self.view.providers.values()))

    # --- running commands -------------------------------------------------------------------

    def _apply(self, decision: Decision) -> None:
        view = self.view
        if view is None:
            return
        changes: dict[str, Any] = {}
        if decision.instances:
            instances = (
                dict(view.instances) if not isinstance(view.instances, dict) else view.instances
            )
            instances.update(decision.instances)
            changes["instances"] = instances
        if decision.sessions:
            changes["sessions"] = {**view.sessions, **decision.sessions}
        if decision.providers:
            changes["providers"] = {**view.providers, **decision.providers}
        if decision.limits:
            changes["limits"] = {**view.limits, **decision.limits}
        if decision.halt and not view.halt:
            changes["halt"] = decision.halt
        if self._interrupt.is_set() and not view.interrupted:
            changes["interrupted"] = True
        if changes:
            self.view = replace(view, **changes).with_live(view, decision.instances)

    def _run(self, decision: Decision) -> None:
        """Apply the decision's records, then run its commands in order, handing back the
        outcome of each (and running what the core makes of it) before the next. Commits
        are held (``Writer``) until the next provider call or the outermost return."""
        self._writer.holding += 1
        try:
            self._apply(decision)
            commands = decision.commands
            i = 0
            while i < len(commands):
                command = commands[i]
                if isinstance(command, Send):  # consecutive sends go concurrently
                    j = i
                    while j < len(commands) and isinstance(commands[j], Send):
                        j += 1
                    sends = [c for c in commands[i:j] if isinstance(c, Send)]
                    self._writer.flush()
                    for sent in send_all(self.providers, sends):
                        assert self.view is not None
                        self._run(core.absorb(self.view, sent, self.clock.now()))
                    i = j
                    continue
                outcome = self._execute(command)
                if outcome is not None and self.view is not None:
                    self._run(core.absorb(self.view, outcome, self.clock.now()))
                i += 1
        finally:
            self._writer.holding -= 1
            if not self._writer.holding:
                self._writer.flush()

    def _execute(self, command: Command) -> Outcome | None:
        """Run one command (sends aside); its outcome, if it has one."""
        if isinstance(command, Commit):
            self._writer.commit(command)
            return None
        if isinstance(command, Emit):
            self._tally[command.event.kind] += 1
            self._writer.emit(command.event)
            return None
        self._writer.flush()
        if isinstance(command, Forget):
            self.store.forget(self.stack.name, command.addresses, command.detail)
            return None
        if isinstance(command, OpenSession | CloseSession):
            name = self.stack.sessions[command.session].target.partition("/")[0]
        else:
            name = command.provider
        return call(self.providers[name], command, self.view)

    # --- events ------------------------------------------------------------------------------

    def _emit(self, kind: str, job: str = "", address: str = "", detail: str = "") -> None:
        self._tally[kind] += 1
        self.sink.emit(Event(kind, self.clock.now(), job, address, detail))

    def _progress(self) -> None:
        """A ``progress`` event with counts by status, every PROGRESS_EVERY seconds while
        they change, and at least every PROGRESS_ANYWAY seconds: logs show an apply move."""
        assert self.view is not None
        now = self.clock.now()
        if now - self._progress_at < PROGRESS_EVERY:
            return
        counts = progress_counts(self.view.instances.values())
        if counts == self._progress_counts and now - self._progress_at < PROGRESS_ANYWAY:
            return
        self._progress_at, self._progress_counts = now, counts
        self.sink.emit(Event(Kind.PROGRESS, now, counts=dict(counts)))


def _finishing(view: View, now: float) -> Decision:
    from qplan.executor.sessions import close_finished

    return close_finished(view, now, finishing=True)
