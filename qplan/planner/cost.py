"""What a plan would cost, and what the providers billed for what ran. Pure: no network;
it reads only the packaged price table (``prices.yaml``) and the files it is given.

Prices come from three layers, later wins, field by field: the shipped table (by provider
type and device), the manifest's ``pricing:``, then a ``--pricing FILE`` (both by target as
the jobs name it, ``aws/sv1``, or by hybrid instance type, ``ml.m5.large``).

An estimate counts, for each job of the plan, the instances it submits (create, retry,
replace), the provider tasks those make (a native batch counts once: its size is the
sweep's ``batch_size``, else the table's for the provider type, the batches assumed full)
and their shots, and prices them:

- ``per_task`` for each task and ``per_shot`` for each shot;
- ``per_minute`` for each task's assumed run time (``runtime_minutes``, at least the
  target's ``min_seconds``), since the time a simulation takes is not known beforehand;
- a hybrid job: ``per_hour`` of its instance type for ``instance_count`` instances for its
  ``max_runtime`` (the longest it may run: an upper bound); the tasks its program creates
  are not counted.

Every approximation used is stated in the estimate's ``assumptions``. A target without a
price is "no price known": its jobs have no amount, and a budget cannot be checked.

What providers billed arrives in a result payload's ``billed`` entry (``BILLED``): a
Braket task's ``task`` ARN, its ``shots`` and, on a simulator, ``execution_ms``; a hybrid
job's ``job`` ARN, its ``billable_seconds``, ``instance_type`` and ``instance_count``.
Members of one program set carry their task's figures: ``spent`` counts each task once.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from qplan.errors import ManifestError
from qplan.manifest import Job, Stack
from qplan.manifest.diagnose import validation_diagnostics
from qplan.manifest.models import PriceKey, PriceSpec
from qplan.manifest.resolve import TargetRef
from qplan.manifest.yamlsource import PathPart, YamlDocument, load_yaml, read_text
from qplan.planner.actions import SUBMITS
from qplan.planner.plan import Plan

__all__ = [
    "BILLED",
    "CostEstimate",
    "JobCost",
    "JobSpend",
    "Price",
    "Pricing",
    "PricingError",
    "estimate",
    "load_pricing",
    "over_budget",
    "spent",
]

BILLED = "billed"
"""The key of a result payload's billed figures."""
TABLE = "prices.yaml"
_PRICE_FIELDS = ("per_task", "per_shot", "per_minute", "runtime_minutes", "min_seconds")
_ADAPTER: TypeAdapter[dict[str, PriceSpec]] = TypeAdapter(dict[PriceKey, PriceSpec])


class PricingError(ManifestError):
    """A pricing file (or the shipped table) is invalid; carries located diagnostics."""


@dataclass(frozen=True)
class Price:
    """What one target costs. ``note``: an approximation the estimate states when it
    uses this price; ``origin``: where its fields last came from (``table``,
    ``manifest`` or a pricing file's name)."""

    free: bool = False
    per_task: float | None = None
    per_shot: float | None = None
    per_minute: float | None = None
    runtime_minutes: float | None = None
    min_seconds: float | None = None
    per_hour: float | None = None
    note: str = ""
    origin: str = "table"

    @property
    def known(self) -> bool:
        """Whether a task on the target has a price (hybrid instances aside)."""
        return self.free or any(
            v is not None for v in (self.per_task, self.per_shot, self.per_minute)
        )

    def over(self, spec: PriceSpec, origin: str) -> Price:
        """This price with ``spec``'s given fields over it: ``free: true`` makes it free;
        any price given makes it paid (the others kept)."""
        if spec.free:
            return Price(free=True, origin=origin)
        given = {
            name: getattr(spec, name)
            for name in (*_PRICE_FIELDS, "per_hour")
            if getattr(spec, name) is not None
        }
        if not given:
            return self
        paid = any(name not in ("runtime_minutes", "min_seconds") for name in given)
        free = self.free and not paid
        return replace(self, free=free, origin=origin, **given)


@dataclass(frozen=True)
class Batching:
    """Native batches of a provider type: points per batch at most (``size``, and the
    shots of one batch at most, ``total_shots``); ``by_default``: a sweep with ``batch:
    auto`` goes in native batches."""

    size: int
    total_shots: int | None = None
    by_default: bool = False


@dataclass(frozen=True)
class Pricing:
    """The prices an estimate uses: the shipped table and the overrides over it.

    ``table``: provider type -> (device or pattern, price), in the table's order;
    ``instances``: hybrid instance type -> USD per hour; ``overrides``: (origin, prices by
    target or instance type), in the order they apply (the manifest's, then a file's)."""

    as_of: str
    currency: str
    sources: tuple[str, ...]
    runtime_minutes: float
    table: Mapping[str, tuple[tuple[str, Price], ...]]
    instances: Mapping[str, float]
    batches: Mapping[str, Batching]
    overrides: tuple[tuple[str, Mapping[str, PriceSpec]], ...] = ()

    @property
    def all_sources(self) -> tuple[str, ...]:
        """The price pages, then each override that gives a price."""
        return (*self.sources, *(origin for origin, prices in self.overrides if prices))

    def price(self, target: TargetRef) -> Price | None:
        """The price of a task on ``target``, or None when none is known."""
        found = _table_price(self.table.get(target.provider_type, ()), target)
        for origin, prices in self.overrides:
            spec = prices.get(str(target))
            if spec is not None:
                found = (found or Price()).over(spec, origin)
        return found if found is not None and found.known else None

    def instance_price(self, instance_type: str, target: TargetRef) -> tuple[float, str] | None:
        """USD per hour of one ``instance_type`` instance of a hybrid job on ``target``
        and where it came from, or None. In each layer the target's ``per_hour`` wins over
        the instance type's."""
        found: tuple[float, str] | None = None
        if instance_type in self.instances:
            found = (self.instances[instance_type], "table")
        for origin, prices in self.overrides:
            for key in (instance_type, str(target)):
                spec = prices.get(key)
                if spec is not None and spec.per_hour is not None:
                    found = (spec.per_hour, origin)
        return found

    def batching(self, job: Job) -> Batching | None:
        """How ``job``'s submitted points are grouped: None for one task per point."""
        sweep = job.spec.sweep
        batches = self.batches.get(job.target.provider_type)
        if sweep is None or job.hybrid is not None or batches is None:
            return None
        if job.target.provider_type == "braket" and job.program.format != "openqasm3":
            return None  # program sets hold OpenQASM programs only
        mode = sweep.batch
        if mode == "auto":
            mode = "native" if batches.by_default else "per_point"
        if mode != "native":
            return None
        size = batches.size
        if sweep.batch_size is not None:
            size = sweep.batch_size
        if batches.total_shots and job.shots:
            size = min(size, max(1, batches.total_shots // job.shots))
        return replace(batches, size=max(1, size))


def _short_device(target: TargetRef) -> str:
    """A Braket device ARN as its short name (``.../qpu/ionq/Forte-1`` -> ``ionq/forte-1``);
    every device name compared without case."""
    device = target.device
    if target.provider_type == "braket" and device.startswith("arn:aws:braket:"):
        path = device.partition("device/")[2]
        for prefix in ("qpu/", "quantum-simulator/amazon/"):
            path = path.removeprefix(prefix)
        device = path
    return device.lower()


def _table_price(entries: Sequence[tuple[str, Price]], target: TargetRef) -> Price | None:
    device = _short_device(target)
    for name, price in entries:
        if name.lower() == device:
            return price
    for name, price in entries:
        if any(c in name for c in "*?[") and fnmatch.fnmatchcase(device, name.lower()):
            return price
    return None


# --- loading -------------------------------------------------------------------------------


def _problem(doc: YamlDocument, path: Sequence[PathPart], message: str) -> PricingError:
    return PricingError([doc.diagnostic(path, message)])


def _number(doc: YamlDocument, value: Any, path: Sequence[PathPart]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _problem(doc, path, "must be a non-negative number")
    return float(value)


def _parse_table(doc: YamlDocument) -> Pricing:
    data = doc.data
    if not isinstance(data, dict):
        raise _problem(doc, [], "the price table must be a mapping")
    for key in ("as_of", "currency", "sources", "prices"):
        if key not in data:
            raise _problem(doc, [], f"the price table lacks {key}")
    table: dict[str, tuple[tuple[str, Price], ...]] = {}
    for ptype, devices in (data.get("prices") or {}).items():
        entries: list[tuple[str, Price]] = []
        for name, raw in (devices or {}).items():
            where: list[PathPart] = ["prices", ptype, name]
            if not isinstance(raw, dict):
                raise _problem(doc, where, "must be a mapping of price fields")
            fields = dict(raw)
            note = str(fields.pop("note", "") or "")
            try:
                spec = PriceSpec.model_validate(fields)
            except ValidationError as exc:
                raise PricingError(
                    validation_diagnostics(
                        exc.errors(include_url=False), doc, where, data, lambda _: False
                    )
                ) from None
            entries.append((str(name), replace(Price().over(spec, "table"), note=note)))
        table[str(ptype)] = tuple(entries)
    instances = {
        str(name): _number(doc, (raw or {}).get("per_hour"), ["instances", name, "per_hour"])
        for name, raw in (data.get("instances") or {}).items()
    }
    batches = {
        str(ptype): Batching(
            int(_number(doc, raw.get("size"), ["batches", ptype, "size"])),
            int(raw["total_shots"]) if raw.get("total_shots") else None,
            bool(raw.get("by_default", False)),
        )
        for ptype, raw in (data.get("batches") or {}).items()
    }
    return Pricing(
        as_of=str(data["as_of"]),
        currency=str(data["currency"]),
        sources=tuple(str(s) for s in data["sources"]),
        runtime_minutes=_number(doc, data.get("runtime_minutes", 1), ["runtime_minutes"]),
        table=table,
        instances=instances,
        batches=batches,
    )


@cache
def shipped_pricing() -> Pricing:
    """The price table packaged with qplan."""
    text = files("qplan.planner").joinpath(TABLE).read_text(encoding="utf-8")
    try:
        doc = load_yaml(text, TABLE)
    except ManifestError as exc:
        raise PricingError(exc.diagnostics) from None
    return _parse_table(doc)


def read_prices(path: Path, display: str | None = None) -> dict[str, PriceSpec]:
    """Prices from a file shaped as the manifest's ``pricing:`` (a mapping of targets or
    instance types to price fields). Raises PricingError, located, when it is not."""
    shown = display if display is not None else str(path)
    try:
        doc = load_yaml(read_text(path, shown), shown)
    except ManifestError as exc:
        raise PricingError(exc.diagnostics) from None
    if doc.diagnostics:
        raise PricingError(doc.diagnostics)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise PricingError(
            [
                doc.diagnostic(
                    [], "a pricing file must be a mapping of targets (PROVIDER/DEVICE) to prices"
                )
            ]
        )
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise PricingError(
            validation_diagnostics(exc.errors(include_url=False), doc, [], data, lambda _: False)
        ) from None


def load_pricing(stack: Stack, extra: Path | None = None) -> Pricing:
    """The shipped table, then the manifest's ``pricing:``, then ``extra`` (a
    ``--pricing FILE``): later wins. A bad file raises PricingError (exit code 1)."""
    pricing = shipped_pricing()
    overrides: list[tuple[str, Mapping[str, PriceSpec]]] = []
    if stack.pricing:
        overrides.append(("manifest", stack.pricing))
    if extra is not None:
        overrides.append((str(extra), read_prices(extra)))
    return replace(pricing, overrides=tuple(overrides))


# --- estimates -----------------------------------------------------------------------------


@dataclass(frozen=True)
class JobCost:
    """The estimate of one job: ``instances`` the plan submits (actions create, retry,
    replace), the provider ``tasks`` those make (a native batch counts once), their total
    ``shots``, and the ``amount`` in the estimate's currency (None: no price known for
    ``target``), computed as ``basis`` says."""

    job: str
    target: str
    instances: int
    tasks: int
    shots: int
    amount: float | None
    basis: str


@dataclass(frozen=True)
class CostEstimate:
    """The estimate of a plan: one ``JobCost`` per job of the plan (also those with
    nothing to submit), the table's date (``as_of``), the price pages and overrides it
    used (``sources``), and the approximations it made (``assumptions``)."""

    jobs: tuple[JobCost, ...]
    currency: str
    as_of: str
    sources: tuple[str, ...]
    assumptions: tuple[str, ...]

    @property
    def total(self) -> float:
        """The sum of the known amounts."""
        return math.fsum(j.amount for j in self.jobs if j.amount is not None)

    @property
    def unpriced(self) -> tuple[str, ...]:
        """Targets that something is submitted to and that have no known price, sorted."""
        return tuple(sorted({j.target for j in self.jobs if j.amount is None and j.instances}))


def _money(value: float) -> str:
    """A price as a price list writes it: to the cent at least (0.30), more digits where
    it has them (0.00145)."""
    return f"{value:.2f}" if value == round(value, 2) else f"{value:g}"


def _plain(value: float) -> str:
    return f"{value:g}"


@dataclass
class _Notes:
    """The assumptions an estimate made, each stated once, in order."""

    items: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        if text and text not in self.items:
            self.items.append(text)


def _tasks_and_shots(price: Price, tasks: int, shots: int) -> tuple[float, list[str]]:
    """What ``tasks`` tasks of ``shots`` shots in all cost at ``price``'s per-task and
    per-shot prices, and the basis of each part (an estimate and a bill alike)."""
    amount = 0.0
    parts: list[str] = []
    if price.per_task is not None:
        amount += tasks * price.per_task
        parts.append(f"{_money(price.per_task)}/task")
    if price.per_shot is not None:
        amount += shots * price.per_shot
        parts.append(f"{_money(price.per_shot)}/shot")
    return amount, parts


def _job_cost(job: Job, instances: int, pricing: Pricing, notes: _Notes) -> JobCost:
    """The cost of submitting ``instances`` instances of ``job`` once each."""
    target = str(job.target)
    if job.hybrid is not None:
        return _hybrid_cost(job, instances, pricing, notes)
    shots = instances * job.shots
    batching = pricing.batching(job)
    tasks = instances if batching is None else -(-instances // batching.size)
    if instances == 0:
        return JobCost(job.name, target, 0, 0, 0, 0.0, "nothing to submit")
    if batching is not None:
        notes.add(
            f"native batches ({job.target.provider_type}): {batching.size} points per "
            "batch at most, batches assumed full (override: the sweep's batch_size)"
        )
    price = pricing.price(job.target)
    if price is None:
        return JobCost(job.name, target, instances, tasks, shots, None, "no price known")
    if price.free:
        return JobCost(job.name, target, instances, tasks, shots, 0.0, "free")
    amount, parts = _tasks_and_shots(price, tasks, shots)
    if price.per_minute is not None:
        runtime = price.runtime_minutes or pricing.runtime_minutes
        billed = max(runtime, (price.min_seconds or 0.0) / 60)
        amount += tasks * price.per_minute * billed
        parts.append(f"{_money(price.per_minute)}/min x {_plain(billed)} min/task")
        if price.runtime_minutes is None:
            notes.add(
                f"per-minute targets ({target}): {_plain(runtime)} minute"
                f"{'s' if runtime != 1 else ''} per task assumed (override: runtime_minutes)"
            )
    notes.add(price.note)
    return JobCost(job.name, target, instances, tasks, shots, amount, " + ".join(parts))


def _hybrid_cost(job: Job, instances: int, pricing: Pricing, notes: _Notes) -> JobCost:
    assert job.hybrid is not None
    target = str(job.target)
    if instances == 0:
        return JobCost(job.name, target, 0, 0, 0, 0.0, "nothing to submit")
    if job.target.provider_type == "local":
        return JobCost(job.name, target, instances, instances, 0, 0.0, "free")
    spec = job.hybrid
    notes.add(
        "hybrid jobs: instance time for max_runtime (the longest a job may run: an upper "
        "bound); the tasks a hybrid job creates are not counted"
    )
    found = pricing.instance_price(spec.instance_type, job.target)
    if found is None:
        return JobCost(
            job.name,
            target,
            instances,
            instances,
            0,
            None,
            f"no price known for {spec.instance_type}",
        )
    per_hour, _ = found
    hours = spec.max_runtime / 3600
    amount = instances * spec.instance_count * hours * per_hour
    basis = f"{spec.instance_type} {_money(per_hour)}/h x {_plain(round(hours, 4))} h"
    if spec.instance_count != 1:
        basis += f" x {spec.instance_count} instances"
    return JobCost(job.name, target, instances, instances, 0, amount, basis)


def estimate(stack: Stack, plan: Plan, pricing: Pricing) -> CostEstimate:
    """The estimated cost of applying ``plan`` (of ``stack``): one entry per job resource
    of the plan, in the plan's order."""
    notes = _Notes()
    jobs: list[JobCost] = []
    for resource in plan.resources:
        if resource.kind != "job":
            continue
        job = stack.jobs.get(resource.name)
        if job is None:
            continue
        counts = resource.counts
        submits = sum(counts[action] for action in SUBMITS)
        cost = _job_cost(job, submits, pricing, notes)
        jobs.append(cost)
        if submits and job.retry.attempts > 1 and cost.amount:
            notes.add(
                "each instance submitted once: a failed attempt retried in the same apply "
                f"costs again (up to {job.retry.attempts} attempts for {job.name}, "
                f"{cost.amount * job.retry.attempts:.2f} {pricing.currency} at most)"
            )
    return CostEstimate(
        jobs=tuple(jobs),
        currency=pricing.currency,
        as_of=pricing.as_of,
        sources=pricing.all_sources,
        assumptions=tuple(notes.items),
    )


def over_budget(estimate: CostEstimate, budget: float) -> str | None:
    """None when ``estimate`` is within ``budget``; else why an apply is refused: the
    estimate is higher (its biggest jobs named), or a target it submits to has no price."""
    currency = estimate.currency
    if estimate.unpriced:
        missing: list[str] = []
        for job in estimate.jobs:
            if job.amount is not None or not job.instances:
                continue
            what = job.basis.removeprefix("no price known").removeprefix(" for ")
            name = f"{job.target} (hybrid instance {what})" if what else job.target
            if name not in missing:
                missing.append(name)
        return (
            f"the plan's cost cannot be checked against the budget of {budget:.2f} "
            f"{currency}: no price is known for {', '.join(sorted(missing))}; give one in "
            "the manifest's pricing: (by target, e.g. pq/FRESNEL: {per_task: ..., "
            "per_shot: ...}, or by hybrid instance type, e.g. ml.m5.large: {per_hour: ...}) "
            "or with --pricing FILE"
        )
    total = estimate.total
    if total <= budget:
        return None
    biggest = sorted(
        (j for j in estimate.jobs if j.amount), key=lambda j: (-(j.amount or 0.0), j.job)
    )
    shown = ", ".join(f"{j.job} {j.amount:.2f}" for j in biggest[:3])
    more = f" and {len(biggest) - 3} more" if len(biggest) > 3 else ""
    return (
        f"the plan's estimated cost, {total:.2f} {currency}, exceeds the budget of "
        f"{budget:.2f} {currency} (jobs: {shown}{more})"
    )


# --- billed --------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSpend:
    """What a job's succeeded instances cost: ``estimate``, what the table says they would
    cost (each run once), and what the provider billed: distinct ``tasks`` (or hybrid
    jobs), their ``shots``, ``billable_seconds`` (hybrid instance time) and the
    ``amount`` those come to at the same prices (None: no price known)."""

    job: str
    target: str
    estimate: JobCost
    tasks: int
    shots: int
    billable_seconds: float
    amount: float | None
    basis: str


def spent(job: Job, payloads: Iterable[Mapping[str, Any]], pricing: Pricing) -> JobSpend | None:
    """What ``job``'s succeeded instances (their result ``payloads``) were billed, beside
    their estimate; None when no payload carries billed figures."""
    count = 0
    tasks: dict[str, Mapping[str, Any]] = {}
    for payload in payloads:
        count += 1
        billed = payload.get(BILLED)
        if not isinstance(billed, Mapping):
            continue
        key = billed.get("task") or billed.get("job")
        if isinstance(key, str):
            tasks.setdefault(key, billed)
    if not tasks:
        return None
    guess = _job_cost(job, count, pricing, _Notes())
    shots = sum(int(b.get("shots") or 0) for b in tasks.values())
    seconds = math.fsum(float(b.get("billable_seconds") or 0.0) for b in tasks.values())
    target = str(job.target)
    amount: float | None
    if job.hybrid is not None:
        amount, basis = _hybrid_billed(job, tasks.values(), pricing)
    else:
        amount, basis = _tasks_billed(job, tasks.values(), shots, pricing)
    return JobSpend(job.name, target, guess, len(tasks), shots, seconds, amount, basis)


def _tasks_billed(
    job: Job, billed: Iterable[Mapping[str, Any]], shots: int, pricing: Pricing
) -> tuple[float | None, str]:
    price = pricing.price(job.target)
    if price is None:
        return None, "no price known"
    if price.free:
        return 0.0, "free"
    items = list(billed)
    amount, parts = _tasks_and_shots(price, len(items), shots)
    if price.per_minute is not None:
        floor = (price.min_seconds or 0.0) * 1000
        runtime = price.runtime_minutes or pricing.runtime_minutes
        total_ms = 0.0
        unreported = 0
        for item in items:
            ms = item.get("execution_ms")
            if isinstance(ms, int | float) and not isinstance(ms, bool):
                total_ms += max(float(ms), floor)
            else:
                unreported += 1
                total_ms += max(runtime * 60_000, floor)
        amount += price.per_minute * total_ms / 60_000
        parts.append(f"{_money(price.per_minute)}/min x {_plain(round(total_ms / 1000, 3))} s")
        if unreported:
            parts[-1] += (
                f" ({unreported} task{'s' if unreported != 1 else ''} without a reported run "
                f"time: {_plain(runtime)} min each assumed)"
            )
    return amount, " + ".join(parts)


def _hybrid_billed(
    job: Job, billed: Iterable[Mapping[str, Any]], pricing: Pricing
) -> tuple[float | None, str]:
    if job.target.provider_type == "local":
        return 0.0, "free"
    amount = 0.0
    for item in billed:
        instance = str(
            item.get("instance_type") or (job.hybrid.instance_type if job.hybrid else "")
        )
        found = pricing.instance_price(instance, job.target)
        if found is None:
            return None, f"no price known for {instance}"
        reported = item.get("billable_seconds")
        if reported is None:  # the service had not reported it when the result was read
            return None, "billable time not reported"
        seconds = float(reported)
        count = int(item.get("instance_count") or 1)
        amount += found[0] * count * seconds / 3600
    return amount, "instance time billed"
