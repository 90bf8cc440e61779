"""The lock file: what ran for a manifest, written next to it to be committed and reviewed.

``qplan.lock`` (the manifest's name with ``.lock``) lists every instance the state holds
for the manifest's stack, one line each, sorted by address: fingerprint, provider,
target, the provider's job id, status, attempt, the digest of the result and when it
finished. It is JSON, so a machine reads it, and one instance per line, so a review's
diff shows what changed and nothing else. It holds nothing secret: no provider settings,
no variable values, no state URL.

The file is a record, never an input: the state stays the truth. ``compare`` says where
the two disagree (the ``plan`` warns, ``qplan lock --check`` fails).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qplan.errors import QplanError
from qplan.state.model import Row

__all__ = [
    "LOCK_FORMAT",
    "LockFile",
    "LockFileError",
    "compare",
    "entries",
    "lock_path",
    "read_lock",
    "render_lock",
    "write_lock",
]

LOCK_FORMAT = 1
FIELDS = (
    "address",
    "fingerprint",
    "provider",
    "target",
    "provider_job_id",
    "status",
    "attempt",
    "result",
    "finished_at",
)
"""An entry's fields, in the order they are written."""


class LockFileError(QplanError):
    """A lock file that cannot be read."""


@dataclass(frozen=True)
class LockFile:
    """A lock file as read: its stack, and its entries by address."""

    path: Path
    stack: str
    entries: Mapping[str, Mapping[str, Any]]


def lock_path(manifest: Path) -> Path:
    """``qplan.yaml`` -> ``qplan.lock``, in the manifest's folder."""
    return manifest.with_suffix(".lock")


def _stamp(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def entries(rows: Iterable[Row]) -> dict[str, dict[str, Any]]:
    """What the lock file says of each instance row (sessions are not instances: they are
    how instances ran, and their ids change with every new session)."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.kind == "session":
            continue
        out[row.address] = {
            "address": row.address,
            "fingerprint": row.fingerprint,
            "provider": row.provider,
            "target": row.target,
            "provider_job_id": row.provider_job_id,
            "status": str(row.status),
            "attempt": row.attempt,
            "result": row.result_hash,
            "finished_at": _stamp(row.updated_at) if row.status.final else None,
        }
    return out


def render_lock(stack: str, rows: Iterable[Row]) -> str:
    """The lock file's text: a header, then one instance per line, sorted by address."""
    found = entries(rows)
    lines = [
        "{",
        f'  "qplan_lock": {LOCK_FORMAT},',
        f'  "stack": {json.dumps(stack)},',
        '  "note": "What qplan ran for this manifest; written by qplan apply, '
        'checked by qplan lock --check. Do not edit.",',
    ]
    if not found:
        lines.append('  "instances": []')
    else:
        lines.append('  "instances": [')
        ordered = [found[address] for address in sorted(found)]
        for i, entry in enumerate(ordered):
            comma = "," if i < len(ordered) - 1 else ""
            text = json.dumps({k: entry[k] for k in FIELDS}, ensure_ascii=False)
            lines.append(f"    {text}{comma}")
        lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_lock(path: Path, stack: str, rows: Iterable[Row]) -> bool:
    """Write the lock file atomically; False when it already said exactly this (the file
    is then left untouched, its time included)."""
    text = render_lock(stack, rows)
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return True


def read_lock(path: Path) -> LockFile | None:
    """The lock file at ``path``; None when there is none. A file that is not a qplan lock
    file, or of a newer format, raises LockFileError naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise LockFileError(f"{path}: cannot read the lock file: {exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", 0)
        col = getattr(exc, "colno", 0)
        raise LockFileError(f"{path}:{line}:{col}: not a qplan lock file: {exc}") from None
    if not isinstance(data, dict) or "qplan_lock" not in data:
        raise LockFileError(f"{path}: not a qplan lock file (no qplan_lock)")
    version = data["qplan_lock"]
    if not isinstance(version, int) or version > LOCK_FORMAT:
        raise LockFileError(
            f"{path}: qplan_lock: format {version} is newer than this qplan reads "
            f"({LOCK_FORMAT}); upgrade qplan"
        )
    stack = data.get("stack")
    instances = data.get("instances")
    if not isinstance(stack, str) or not isinstance(instances, list):
        raise LockFileError(f"{path}: stack and instances are required")
    found: dict[str, Mapping[str, Any]] = {}
    for i, entry in enumerate(instances):
        if not isinstance(entry, dict) or not isinstance(entry.get("address"), str):
            raise LockFileError(f"{path}: instances[{i}]: an object with an address expected")
        found[entry["address"]] = entry
    return LockFile(path, stack, found)


def compare(lock: LockFile, stack: str, rows: Iterable[Row], *, limit: int = 5) -> list[str]:
    """How the lock file and the state disagree, one sentence each (at most ``limit``
    addresses named per kind of difference); empty when they agree."""
    if lock.stack != stack:
        return [f"{lock.path.name} is of stack {lock.stack}, not {stack}"]
    state = entries(rows)
    missing = sorted(set(state) - set(lock.entries))
    extra = sorted(set(lock.entries) - set(state))
    changed = sorted(
        address
        for address in set(state) & set(lock.entries)
        if {k: lock.entries[address].get(k) for k in FIELDS} != state[address]
    )
    out = []
    for addresses, what in (
        (missing, "in the state but not in the lock file"),
        (extra, "in the lock file but not in the state"),
        (changed, "recorded differently (status, job id, result or fingerprint)"),
    ):
        if addresses:
            named = ", ".join(addresses[:limit])
            more = f" and {len(addresses) - limit} more" if len(addresses) > limit else ""
            count = f"{len(addresses)} instance{'s' if len(addresses) != 1 else ''}"
            out.append(f"{count} {what}: {named}{more}")
    return out
