"""Plans as documents: the ``--json`` output and the saved plan file are one format.

The format is published as ``schemas/plan.schema.json`` (generated from these models).
A saved plan holds no secret: no provider settings and no variable values, only
addresses, actions, the state serial it was made at and a digest of the manifest as
resolved. Applying it reloads the manifest and refuses the plan if either moved.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qplan.errors import QplanError
from qplan.planner.actions import CHANGES, Action
from qplan.planner.plan import Plan, SpecsSource

__all__ = [
    "PLAN_FORMAT",
    "CostDocument",
    "DeviceDocument",
    "InstanceAction",
    "JobCostDocument",
    "PlanDocument",
    "PlanError",
    "ResourceDocument",
    "StalePlan",
    "check_current",
    "load_plan",
    "plan_json_schema_text",
    "save_plan",
    "to_document",
]

PLAN_FORMAT = 1


class PlanError(QplanError):
    """A saved plan cannot be read or used."""


class StalePlan(PlanError):
    """The state or the manifest moved since the plan was made."""


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InstanceAction(_Doc):
    address: str = Field(description="Stable address of the resource, e.g. rabi[theta=0.5]")
    action: Action
    reason: str = Field("", description="Why, when not obvious from the action")


class ResourceDocument(_Doc):
    name: str = Field(description="Job or session name")
    kind: Literal["job", "session", "gone"] = Field(
        description="gone: rows no longer in the manifest, to cancel or forget: those of a "
        "job or session removed from it, or the points dropped from the sweep of a job still "
        "in it (then name and target are that job's)"
    )
    target: str = Field(
        description="PROVIDER/DEVICE; empty for the rows of a removed job or session"
    )
    counts: dict[Action, int] = Field(description="Number of instances per action")
    instances: list[InstanceAction] | None = Field(
        None, description="Every instance and its action (omitted in summaries)"
    )


class DeviceDocument(_Doc):
    target: str = Field(description="PROVIDER/DEVICE whose Pulser sequences were checked")
    source: SpecsSource = Field(
        description="Where the device checked against came from: service (its published "
        "specifications, fetched now), cache (the same, kept in the state), pulser (Pulser's "
        "bundled device standing in for it), sequence (each sequence's own declared device), "
        "unchecked (Pulser is not installed)"
    )
    device: str = Field("", description="Name of the device checked against")
    fetched_at: float | None = Field(
        None, description="When the specifications were fetched (seconds since the epoch)"
    )
    note: str = Field("", description="Why the service's specifications were not used")


class JobCostDocument(_Doc):
    job: str
    target: str = Field(description="PROVIDER/DEVICE as in the manifest")
    instances: int = Field(description="Instances the plan submits")
    tasks: int = Field(description="Provider tasks or jobs they make (a native batch counts once)")
    shots: int = Field(description="Shots submitted in all")
    amount: float | None = Field(
        description="Estimated cost, in the estimate's currency; null: no price is known"
    )
    basis: str = Field(description="How the amount was computed")


class CostDocument(_Doc):
    currency: str = Field(description="ISO 4217 code, e.g. USD")
    total: float = Field(description="Sum of the known amounts")
    unpriced: list[str] = Field(
        default_factory=list, description="Targets that submit something and have no price"
    )
    budget: float | None = Field(
        None, description="The budget an apply of this plan is held to (manifest or --budget)"
    )
    as_of: str = Field(description="Date of the prices")
    sources: list[str] = Field(default_factory=list, description="Where the prices come from")
    assumptions: list[str] = Field(default_factory=list)
    jobs: list[JobCostDocument]


class PlanDocument(_Doc):
    """A qplan plan: what `qplan apply` would do to make the state match the manifest."""

    model_config = ConfigDict(title="qplan plan")

    format_version: Literal[1] = Field(description="Version of this document format")
    stack: str
    manifest: str = Field(description="Path of the manifest the plan was made from")
    state_serial: int = Field(description="Serial of the state the plan was made from")
    manifest_digest: str = Field(description="Digest of the manifest as resolved")
    created_at: float = Field(description="Seconds since the epoch")
    has_changes: bool
    counts: dict[Action, int] = Field(description="Number of resources per action")
    resources: list[ResourceDocument]
    devices: list[DeviceDocument] = Field(
        default_factory=list,
        description="The devices each checked target's Pulser sequences were checked against",
    )
    cost: CostDocument | None = Field(
        None, description="Estimated cost of what the plan submits, from a pricing table"
    )
    targets: list[str] = Field(
        default_factory=list,
        description="A targeted plan: the jobs, instances or sessions it is restricted to "
        "(with what they depend on); empty: the whole manifest",
    )
    left_out: dict[Action, int] = Field(
        default_factory=dict,
        description="A targeted plan: the actions it leaves out, by action",
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="What the planner noticed, e.g. a lock file that does not match the state",
    )


def plan_json_schema_text() -> str:
    schema = PlanDocument.model_json_schema()
    full = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:qplan:schema:plan:v1",
        **schema,
    }
    return json.dumps(full, indent=2) + "\n"


def to_document(
    plan: Plan, *, detailed: bool = True, changes_only: int | None = None
) -> PlanDocument:
    """The plan as a document: with every instance (``detailed``), or with none; or,
    given ``changes_only``, with at most that many instances that change, in plan order
    (a review needs no more: the counts say the rest)."""
    resources = []
    left = changes_only
    for resource in plan.resources:
        counts = resource.counts
        instances = None
        if left is not None or detailed:
            instances = []
            for address, action, reason in resource.items():
                if left is not None:
                    if left <= 0:
                        break
                    if action not in CHANGES:
                        continue
                    left -= 1
                instances.append(InstanceAction(address=address, action=action, reason=reason))
        resources.append(
            ResourceDocument(
                name=resource.name,
                kind=resource.kind,
                target=resource.target,
                counts={a: counts[a] for a in Action if counts[a]},
                instances=instances,
            )
        )
    counts = plan.counts
    return PlanDocument(
        format_version=PLAN_FORMAT,
        stack=plan.stack,
        manifest=plan.manifest,
        state_serial=plan.serial,
        manifest_digest=plan.digest,
        created_at=plan.created_at,
        has_changes=plan.has_changes,
        counts={a: counts[a] for a in Action if counts[a]},
        resources=resources,
        devices=[
            DeviceDocument(
                target=check.target,
                source=check.source,
                device=check.device,
                fetched_at=check.fetched_at,
                note=check.note,
            )
            for check in plan.devices
        ],
        cost=_cost_document(plan),
        targets=list(plan.targets),
        left_out={a: plan.left_out[a] for a in Action if plan.left_out.get(a)},
        warnings=list(plan.warnings),
    )


def _cost_document(plan: Plan) -> CostDocument | None:
    cost = plan.cost
    if cost is None:
        return None
    return CostDocument(
        currency=cost.currency,
        total=round(cost.total, 6),
        unpriced=list(cost.unpriced),
        budget=plan.budget,
        as_of=cost.as_of,
        sources=list(cost.sources),
        assumptions=list(cost.assumptions),
        jobs=[
            JobCostDocument(
                job=job.job,
                target=job.target,
                instances=job.instances,
                tasks=job.tasks,
                shots=job.shots,
                amount=None if job.amount is None else round(job.amount, 6),
                basis=job.basis,
            )
            for job in cost.jobs
        ],
    )


def save_plan(plan: Plan, path: Path) -> None:
    """Write the plan (gzip-compressed when the name ends in .gz), atomically."""
    text = to_document(plan).model_dump_json(indent=None)
    data = gzip.compress(text.encode()) if path.suffix == ".gz" else text.encode()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def load_plan(path: Path) -> PlanDocument:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlanError(f"{path}: cannot read the plan: {exc.strerror}") from None
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return PlanDocument.model_validate(json.loads(raw))
    except (OSError, ValueError, ValidationError):
        raise PlanError(f"{path}: not a qplan plan file") from None


def check_current(saved: PlanDocument, current: Plan, path: Path) -> None:
    """Raise StalePlan unless ``current`` (planned now) is what ``saved`` planned."""
    if saved.stack != current.stack:
        raise StalePlan(f"{path}: the plan is for stack {saved.stack}, not {current.stack}")
    if saved.state_serial != current.serial:
        raise StalePlan(
            f"{path}: saved plan is stale: the state of stack {current.stack} changed since the "
            f"plan was made (serial {saved.state_serial}, now {current.serial}); "
            "run `qplan plan` again"
        )
    if saved.manifest_digest != current.digest:
        raise StalePlan(
            f"{path}: saved plan is stale: the manifest, its programs or its variables changed "
            "since the plan was made; run `qplan plan` again"
        )
