"""The Azure Quantum emulator's resources: jobs and sessions as the service shows them
(``JobDetails`` and ``SessionDetails``, camelCase), the targets it runs, and the subset of
the list filter (OData) that azure-quantum writes."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "TARGETS",
    "Job",
    "Session",
    "Target",
    "matches_filter",
    "timestamp",
]

JOB_FINAL = frozenset({"Succeeded", "Failed", "Cancelled"})
SESSION_FINAL = frozenset({"Succeeded", "Failed", "TimedOut"})


IONQ_JSON = {"ionq.circuit.v1": "ionq.quantum-results.v1"}
QIR = {"qir.v1": "microsoft.quantum-results.v2"}


@dataclass(frozen=True)
class Target:
    """A target the emulator runs: its provider, and the output format it writes for each
    input format it takes."""

    id: str
    provider: str
    formats: dict[str, str]


TARGETS = {
    t.id: t
    for t in (
        Target("ionq.simulator", "ionq", {**IONQ_JSON, **QIR}),
        Target("ionq.qpu.aria-1", "ionq", {**IONQ_JSON, **QIR}),
        Target("quantinuum.sim.h2-1e", "quantinuum", dict(QIR)),
    )
}


def timestamp(seconds: float | None = None) -> str:
    """RFC 3339 in UTC, as the service writes times."""
    moment = datetime.fromtimestamp(time.time() if seconds is None else seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Job:
    id: str
    details: dict[str, Any]
    created: float = field(default_factory=time.time)

    @property
    def status(self) -> str:
        return str(self.details["status"])

    @property
    def final(self) -> bool:
        return self.status in JOB_FINAL

    def set(self, status: str, **changes: Any) -> None:
        self.details.update(status=status, lastUpdatedTime=timestamp(), **changes)


@dataclass
class Session:
    id: str
    details: dict[str, Any]
    members: list[str] = field(default_factory=list)
    last_activity: float = field(default_factory=time.monotonic)
    failures: int = 0
    closed: bool = False

    @property
    def status(self) -> str:
        return str(self.details["status"])

    @property
    def final(self) -> bool:
        return self.status in SESSION_FINAL

    @property
    def abort(self) -> bool:
        return self.details.get("jobFailurePolicy", "Abort") == "Abort"


# --- the list filter ---------------------------------------------------------------------

_FIELDS = {
    "Name": "name",
    "ItemType": "itemType",
    "JobType": "jobType",
    "ProviderId": "providerId",
    "Target": "target",
    "State": "status",
}
_TERM = re.compile(
    r"^(?:startswith\((?P<sfield>\w+), '(?P<prefix>[^']*)'\)"
    r"|(?P<field>\w+) (?P<op>eq|ge|le) (?P<value>'[^']*'|\S+))$"
)


def _split(text: str, word: str) -> list[str]:
    """``text`` split on `` word `` outside parentheses and quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    token = f" {word} "
    i = 0
    while i < len(text):
        char = text[i]
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(token, i):
            parts.append(text[start:i])
            i += len(token)
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _term(term: str, item: dict[str, Any], created: float) -> bool:
    if term.startswith("(") and term.endswith(")"):
        return any(_term(t, item, created) for t in _split(term[1:-1], "or"))
    found = _TERM.match(term)
    if found is None:
        raise ValueError(f"unsupported filter term {term!r}")
    if found["sfield"]:
        key = _FIELDS.get(found["sfield"])
        if key is None:
            raise ValueError(f"unknown filter field {found['sfield']!r}")
        return str(item.get(key) or "").startswith(found["prefix"])
    name, op, value = found["field"], found["op"], found["value"]
    if name == "CreationTime":
        bound = datetime.fromisoformat(value.strip("'")).replace(tzinfo=UTC).timestamp()
        return created >= bound if op == "ge" else created <= bound + 86400
    key = _FIELDS.get(name)
    if key is None or op != "eq":
        raise ValueError(f"unsupported filter term {term!r}")
    return str(item.get(key)).lower() == value.strip("'").lower()


def matches_filter(text: str | None, item: dict[str, Any], created: float) -> bool:
    """Whether ``item`` passes the list filter ``text`` (None or empty: everything).
    Raises ValueError for what the emulator does not understand."""
    if not text:
        return True
    return all(_term(t, item, created) for t in _split(text, "and"))
