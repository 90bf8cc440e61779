"""What an apply did, for the command's summary, ``--json`` and the Python API."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from qplan.executor.model import Instance, Phase
from qplan.planner import Action

__all__ = ["OUTCOMES", "PLANNED_WORDS", "ApplyReport", "progress_counts", "report_of"]

PLANNED_WORDS = {
    Action.CREATE: "created",
    Action.RETRY: "retried",
    Action.REPLACE: "replaced",
    Action.CANCEL: "cancelled",
    Action.FORGET: "forgotten",
    Action.WAIT: "in flight",
}
"""What the summary of an apply calls the instances of each planned action it carried out:
the plan's own words, so that plan and apply count alike."""
OUTCOMES = ("succeeded", "failed", "skipped")


@dataclass
class ApplyReport:
    """``counts``: the planned actions carried out, in the plan's words (``created``,
    ``retried``, ``replaced``, ``cancelled``, ``forgotten``, ``in flight``), then the
    outcomes (``succeeded``, ``failed``, ``skipped``) and ``attempts retried`` (failed
    attempts run again under the retry policy). ``ok``: not interrupted, not halted, and
    no instance ended failed (whatever ``on_failure`` says: ``continue`` decides whether
    other work goes on, not whether the apply succeeded)."""

    counts: Counter[str] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False
    halted: str = ""
    pending: int = 0

    @property
    def ok(self) -> bool:
        return not self.interrupted and not self.halted and not self.failures


def report_of(
    instances: Iterable[Instance],
    *,
    retired: tuple[int, int],
    retried: int,
    halted: str,
    interrupted: bool,
) -> ApplyReport:
    report = ApplyReport(interrupted=interrupted, halted=halted)
    counts = report.counts
    cancelled, forgotten = retired
    counts["cancelled"] += cancelled
    counts["forgotten"] += forgotten
    counts["attempts retried"] += retried
    for instance in instances:
        if instance.planned is Action.NOOP:
            continue
        if instance.planned is Action.WAIT or instance.carried_out:
            counts[PLANNED_WORDS[instance.planned]] += 1
        if instance.phase is Phase.SUCCEEDED:
            counts["succeeded"] += 1
        elif instance.phase is Phase.FAILED:
            counts["failed"] += 1
            report.failures[instance.address] = instance.reason
        elif instance.phase is Phase.SKIPPED:
            counts["skipped"] += 1
            report.skipped[instance.address] = instance.reason
        if not instance.final:
            report.pending += 1
    report.counts = Counter({k: v for k, v in counts.items() if v})
    return report


def progress_counts(instances: Iterable[Instance]) -> Counter[str]:
    """Where the instances this apply looks after stand, by status, for progress lines."""
    counts: Counter[str] = Counter()
    for instance in instances:
        if instance.planned is Action.NOOP:
            continue
        phase = instance.phase
        if phase is Phase.STOPPED:
            counts["cancelled"] += 1
        elif phase is Phase.UNKNOWN:
            counts["submitting"] += 1
        else:
            counts[str(phase)] += 1
    return counts
