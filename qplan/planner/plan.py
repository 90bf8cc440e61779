"""The planner: a resolved stack and a state snapshot in, a plan out. Pure: no I/O.

A plan lists, for every resource, the action that makes the state match the manifest
(see ``actions``). It records the state serial it was made at, and a digest of the
manifest as resolved, so that a saved plan can be refused when either has moved.

Resources are grouped by job: a job's instances share a target, a program and a policy,
and are planned in one pass that hashes the job-wide part of their fingerprints once.
Memory stays near a hundred bytes per instance, so a million-point sweep plans in well
under a gigabyte.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from qplan.addresses import parse_address, session_address
from qplan.manifest import Job, Stack
from qplan.planner.actions import ACTIONS, CHANGES, SUBMITS, Action, decide, decide_orphan
from qplan.planner.fingerprint import JobFingerprinter
from qplan.state import RowState, Snapshot

if TYPE_CHECKING:
    from qplan.planner.cost import CostEstimate

__all__ = [
    "DeviceCheck",
    "Plan",
    "ResourcePlan",
    "SpecsSource",
    "make_plan",
    "session_address",
    "session_fingerprint",
]

_CODE = {action: i for i, action in enumerate(ACTIONS)}


@dataclass
class ResourcePlan:
    """The plan of one job's instances, one session, or rows gone from the manifest
    (``kind`` job, session or gone).

    Gone rows are those of a job or session removed from the manifest (``target`` empty),
    or the points dropped from the sweep of a job still in it (``name`` and ``target`` are
    that job's). Every row to cancel or forget is in a gone resource, never in a job's.
    """

    name: str
    kind: str
    target: str
    addresses: list[str] = field(default_factory=list)
    codes: bytearray = field(default_factory=bytearray)
    reasons: dict[int, str] = field(default_factory=dict)

    def add(self, address: str, action: Action, reason: str) -> None:
        if reason:
            self.reasons[len(self.addresses)] = reason
        self.addresses.append(address)
        self.codes.append(_CODE[action])

    def items(self) -> Iterator[tuple[str, Action, str]]:
        for i, address in enumerate(self.addresses):
            yield address, ACTIONS[self.codes[i]], self.reasons.get(i, "")

    @property
    def counts(self) -> Counter[Action]:
        raw = Counter(self.codes)
        return Counter({ACTIONS[code]: n for code, n in raw.items()})


class SpecsSource(StrEnum):
    """Where the device that a target's Pulser sequences were checked against came from.

    ==========  ===================================================================
    service     the specifications its provider's service publishes, fetched now
    cache       the same, as kept in the state from an earlier fetch (``fetched_at``)
    pulser      Pulser's bundled device that stands in for it (no specs to be had)
    sequence    each sequence's own declared device (an emulator, no specs to be had)
    unchecked   not checked: Pulser is not installed
    ==========  ===================================================================
    """

    SERVICE = "service"
    CACHE = "cache"
    PULSER = "pulser"
    SEQUENCE = "sequence"
    UNCHECKED = "unchecked"


@dataclass(frozen=True)
class DeviceCheck:
    """The device a target's Pulser instances were checked against at plan time.

    ``device``: its name (empty for ``sequence`` and ``unchecked``); ``fetched_at``: when
    the specifications were fetched from the service (``service``, ``cache``); ``note``:
    why the service's specifications were not used (or why old ones were), empty when they
    were fetched now or kept fresh.
    """

    target: str
    source: SpecsSource
    device: str = ""
    fetched_at: float | None = None
    note: str = ""


@dataclass
class Plan:
    """The plan of a stack. ``devices``: the device checks made before it (by the
    operation that planned, not by ``make_plan``, which calls no provider); they say where
    each checked target's device came from. ``targets``: what a targeted plan was
    restricted to (``planner.selection``), ``left_out`` the actions it left out, by
    action; ``warnings``: what the operation that planned noticed (a lock file that does
    not match the state); ``cost``: its estimate (made by the operation, from a pricing
    table) and the ``budget`` an apply of it is held to."""

    stack: str
    manifest: str
    serial: int
    digest: str
    resources: list[ResourcePlan]
    created_at: float = field(default_factory=time.time)
    devices: list[DeviceCheck] = field(default_factory=list)
    targets: tuple[str, ...] = ()
    left_out: dict[Action, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    cost: CostEstimate | None = None
    budget: float | None = None

    @property
    def counts(self) -> Counter[Action]:
        total: Counter[Action] = Counter()
        for resource in self.resources:
            total.update(resource.counts)
        return total

    @property
    def has_changes(self) -> bool:
        counts = self.counts
        return any(counts[action] for action in CHANGES)


def session_fingerprint(target: str, policy: str) -> str:
    return hashlib.blake2b(f"session/1\0{target}\0{policy}".encode(), digest_size=16).hexdigest()


def _policy(job: Job) -> str:
    """What of a job changes how it runs, not its result (a saved plan is stale when it
    moves); a hybrid job's ``max_runtime`` counts only for hybrid jobs."""
    spec = job.spec
    policy = {
        "retry": spec.retry.model_dump() if spec.retry else None,
        "timeout": spec.timeout,
        "on_failure": spec.on_failure,
        "tags": spec.tags,
        "after": list(job.after),
        "session": job.session,
    }
    if job.hybrid is not None:
        policy["max_runtime"] = job.hybrid.max_runtime
    return json.dumps(policy, sort_keys=True)


def make_plan(stack: Stack, snapshot: Snapshot) -> Plan:
    """Plan ``stack`` against ``snapshot``. Never calls a provider."""
    remaining: dict[str, RowState] = dict(snapshot.rows)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"plan/1\0{stack.name}\0".encode())
    resources: list[ResourcePlan] = []
    needs_session: Counter[str] = Counter()
    for job in stack.jobs.values():
        attempts = job.retry.attempts
        fingerprint = JobFingerprinter(job)
        plan = ResourcePlan(job.name, "job", str(job.target))
        digest.update(f"job\0{job.name}\0{_policy(job)}\0".encode())
        pop = remaining.pop
        add = plan.add
        for address in job.addresses():
            fp = fingerprint(address)
            digest.update(f"{address}\0{fp}\0".encode())
            action, reason = decide(pop(address, None), fp, attempts)
            add(address, action, reason)
        if job.session is not None:
            counts = plan.counts
            needs_session[job.session] += sum(counts[a] for a in SUBMITS)
        resources.append(plan)
    for name, session in stack.sessions.items():
        address = session_address(name)
        fp = session_fingerprint(session.target, session.on_job_failure)
        digest.update(f"session\0{address}\0{fp}\0".encode())
        plan = ResourcePlan(name, "session", session.target)
        plan.add(address, *_decide_session(remaining.pop(address, None), fp, needs_session[name]))
        resources.insert(0, plan)
    gone: dict[tuple[str, str], ResourcePlan] = {}
    for address in sorted(remaining):
        row = remaining[address]
        parsed = parse_address(address)
        name = parsed.name
        kept = None if parsed.session else stack.jobs.get(name)
        if kept is None:
            target, why = "", "no longer in the manifest"
        else:  # the job stays; its sweep changed
            target = str(kept.target)
            why = "no longer in the sweep" if parsed.point else "the job is a sweep now"
        if (name, target) not in gone:
            gone[name, target] = ResourcePlan(name, "gone", target)
        gone[name, target].add(address, *decide_orphan(row, why))
    resources.extend(gone.values())
    return Plan(stack.name, str(stack.path), snapshot.serial, digest.hexdigest(), resources)


def _decide_session(
    row: RowState | None, fingerprint: str, members_to_submit: int
) -> tuple[Action, str]:
    if members_to_submit == 0:
        if row is not None and row.status.in_flight:
            return Action.WAIT, str(row.status)
        return Action.NOOP, "no member to submit"
    need = f"for {members_to_submit} instance{'s' if members_to_submit != 1 else ''}"
    if row is None:
        return Action.CREATE, need
    if row.fingerprint != fingerprint:
        return Action.REPLACE, f"target or failure policy changed; a new session {need}"
    if row.status.in_flight:
        return Action.WAIT, str(row.status)
    return Action.RETRY, f"{row.status}; a new session {need}"
