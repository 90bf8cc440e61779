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

import contextlib
import filecmp
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qplan.errors import QplanError
from qplan.stamps import utc_stamp
from qplan.state.model import Row

__all__ = [
    "LOCK_FORMAT",
    "LockFile",
    "LockFileError",
    "LockHeader",
    "compare",
    "lock_path",
    "read_header",
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
class LockHeader:
    """What the lock file says of the state it was written from: its stack, and the
    state's lineage and serial at the time (None in a file that does not say)."""

    stack: str
    lineage: str | None
    serial: int | None


@dataclass(frozen=True)
class LockFile:
    """A lock file as read: its header, and its entries by address (the values of
    ``FIELDS``, in order)."""

    path: Path
    header: LockHeader
    entries: Mapping[str, tuple[Any, ...]]

    @property
    def stack(self) -> str:
        return self.header.stack


def lock_path(manifest: Path) -> Path:
    """``qplan.yaml`` -> ``qplan.lock``, in the manifest's folder."""
    return manifest.with_suffix(".lock")


def _values(row: Row) -> tuple[Any, ...]:
    """A row's entry: the values of ``FIELDS``, in order."""
    return (
        row.address,
        row.fingerprint,
        row.provider,
        row.target,
        row.provider_job_id,
        str(row.status),
        row.attempt,
        row.result_hash,
        utc_stamp(row.updated_at) if row.status.final else None,
    )


def _instances(rows: Iterable[Row]) -> Iterator[Row]:
    """The instance rows (sessions are not instances: they are how instances ran, and
    their ids change with every new session)."""
    return (row for row in rows if row.kind != "session")


def _lines(
    stack: str, rows: Iterable[Row], lineage: str | None, serial: int | None
) -> Iterator[str]:
    """The lock file's lines: a header (the stack; the state's lineage and serial it was
    written at), then one instance per line, sorted by address."""
    entries = sorted(_values(row) for row in _instances(rows))
    yield "{"
    yield f'  "qplan_lock": {LOCK_FORMAT},'
    yield f'  "stack": {json.dumps(stack)},'
    yield f'  "lineage": {json.dumps(lineage)},'
    yield f'  "serial": {json.dumps(serial)},'
    yield (
        '  "note": "What qplan ran for this manifest; written by qplan apply, '
        'checked by qplan lock --check. Do not edit.",'
    )
    if not entries:
        yield '  "instances": []'
    else:
        yield '  "instances": ['
        last = len(entries) - 1
        for i, values in enumerate(entries):
            line = json.dumps(dict(zip(FIELDS, values, strict=True)), ensure_ascii=False)
            yield f"    {line}{',' if i < last else ''}"
        yield "  ]"
    yield "}"


def render_lock(
    stack: str, rows: Iterable[Row], *, lineage: str | None = None, serial: int | None = None
) -> str:
    """The lock file's text (see ``_lines``)."""
    return "".join(line + "\n" for line in _lines(stack, rows, lineage, serial))


def write_lock(
    path: Path,
    stack: str,
    rows: Iterable[Row],
    *,
    lineage: str | None = None,
    serial: int | None = None,
) -> bool:
    """Write the lock file atomically, a line at a time; False when it already said
    exactly this (the file is then left as it was, its time included)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as out:
            out.writelines(line + "\n" for line in _lines(stack, rows, lineage, serial))
        if path.is_file() and filecmp.cmp(tmp, path, shallow=False):
            return False
        tmp.replace(path)
        return True
    except OSError as exc:
        raise LockFileError(f"{path}: cannot write the lock file: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def _header(path: Path, data: Mapping[str, Any]) -> LockHeader:
    if "qplan_lock" not in data:
        raise LockFileError(f"{path}: not a qplan lock file (no qplan_lock)")
    version = data["qplan_lock"]
    if not isinstance(version, int) or version > LOCK_FORMAT:
        raise LockFileError(
            f"{path}: qplan_lock: format {version} is newer than this qplan reads "
            f"({LOCK_FORMAT}); upgrade qplan"
        )
    stack, lineage, serial = data.get("stack"), data.get("lineage"), data.get("serial")
    if not isinstance(stack, str):
        raise LockFileError(f"{path}: stack is required")
    return LockHeader(
        stack,
        lineage if isinstance(lineage, str) else None,
        serial if isinstance(serial, int) and not isinstance(serial, bool) else None,
    )


def _header_lines(handle: Iterable[str]) -> dict[str, Any] | None:
    """The header of a file as qplan writes it (``"key": value,`` lines up to the
    instances); None when it is laid out otherwise."""
    header: dict[str, Any] = {}
    for number, line in enumerate(handle):
        text = line.strip()
        if number == 0:
            if text != "{":
                return None
            continue
        if text.startswith('"instances"'):
            opener = text.replace(" ", "") == '"instances":['
            return header if opener and "qplan_lock" in header else None
        try:
            header.update(json.loads("{" + text.rstrip(",") + "}"))
        except ValueError:
            return None
    return None


def read_header(path: Path) -> LockHeader | None:
    """The lock file's header, read without its instances (a plan reads only this when
    the state has not moved since the file was written); None when there is no file."""
    try:
        with path.open(encoding="utf-8") as handle:
            found = _header_lines(handle)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise LockFileError(f"{path}: cannot read the lock file: {exc}") from None
    if found is None:
        lock = read_lock(path)
        return None if lock is None else lock.header
    return _header(path, found)


def _entry(path: Path, i: int, entry: Any) -> tuple[str, tuple[Any, ...]]:
    if not isinstance(entry, dict) or not isinstance(entry.get("address"), str):
        raise LockFileError(f"{path}: instances[{i}]: an object with an address expected")
    return entry["address"], tuple(entry.get(k) for k in FIELDS)


def read_lock(path: Path) -> LockFile | None:
    """The lock file at ``path``; None when there is none. A file that is not a qplan lock
    file, or of a newer format, raises LockFileError naming it. A file laid out as qplan
    writes it is read a line at a time (a million instances take no JSON tree); any other
    layout of the same JSON is read whole."""
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LockFileError(f"{path}: cannot read the lock file: {exc}") from None
    try:
        with handle:
            header = _header_lines(handle)
            if header is not None:
                found = dict(_streamed(path, handle))
                return LockFile(path, _header(path, header), found)
    except UnicodeDecodeError as exc:
        raise LockFileError(f"{path}: cannot read the lock file: {exc}") from None
    except LockFileError:
        pass  # not one instance a line after all: the whole file says what is wrong
    return _read_whole(path)


def _streamed(path: Path, handle: Iterable[str]) -> Iterator[tuple[str, tuple[Any, ...]]]:
    for i, line in enumerate(handle):
        text = line.strip().rstrip(",")
        if text in ("]", "}", ""):
            continue
        try:
            entry = json.loads(text)
        except ValueError as exc:
            raise LockFileError(f"{path}: instances[{i}]: not JSON: {exc}") from None
        yield _entry(path, i, entry)


def _read_whole(path: Path) -> LockFile:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LockFileError(f"{path}: cannot read the lock file: {exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", 0)
        col = getattr(exc, "colno", 0)
        raise LockFileError(f"{path}:{line}:{col}: not a qplan lock file: {exc}") from None
    if not isinstance(data, dict):
        raise LockFileError(f"{path}: not a qplan lock file (no qplan_lock)")
    header = _header(path, data)
    instances = data.get("instances")
    if not isinstance(instances, list):
        raise LockFileError(f"{path}: stack and instances are required")
    return LockFile(path, header, dict(_entry(path, i, e) for i, e in enumerate(instances)))


def compare(lock: LockFile, stack: str, rows: Iterable[Row], *, limit: int = 5) -> list[str]:
    """How the lock file and the state disagree, one sentence each (at most ``limit``
    addresses named per kind of difference); empty when they agree."""
    if lock.stack != stack:
        return [f"{lock.path.name} is of stack {lock.stack}, not {stack}"]
    missing: list[str] = []
    changed: list[str] = []
    seen: set[str] = set()
    for row in _instances(rows):
        seen.add(row.address)
        recorded = lock.entries.get(row.address)
        if recorded is None:
            missing.append(row.address)
        elif recorded != _values(row):
            changed.append(row.address)
    extra = [address for address in lock.entries if address not in seen]
    out = []
    for addresses, what in (
        (missing, "in the state but not in the lock file"),
        (extra, "in the lock file but not in the state"),
        (changed, "recorded differently (status, job id, result or fingerprint)"),
    ):
        if addresses:
            addresses.sort()
            named = ", ".join(addresses[:limit])
            more = f" and {len(addresses) - limit} more" if len(addresses) > limit else ""
            count = f"{len(addresses)} instance{'s' if len(addresses) != 1 else ''}"
            out.append(f"{count} {what}: {named}{more}")
    return out
