"""A stack's state as a portable document: what ``qplan state pull`` writes and ``qplan
state push`` reads, to move a stack between machines and backends.

The document is one JSON object, in ASCII, keys sorted, one row, event or result a line::

    {
     "created_at": 1714550000.25,
     "events": [
      {"address": "bell", "at": 1714550000.5, "attempt": 1, "detail": null, ...},
      ...
     ],
     "format": "qplan-state",
     "generation": 0,
     "lineage": "3f9c2a...",
     "results": {
      "9b1e...": "eyIwMCI6IDQ4LCAiMTEiOiA1Mn0=",
      ...
     },
     "rows": [
      {"address": "bell", "attempt": 1, "created_at": 1714550000.5, ...},
      ...
     ],
     "serial": 12,
     "stack": "quickstart",
     "version": 1
    }

- ``format`` is always ``qplan-state``; ``version`` is this format's version (1). A reader
  refuses a newer version rather than misread it.
- ``stack``: the stack's name; ``lineage``: its identity, made with its first write and
  kept by every copy; ``serial`` and ``generation``: the state's counters when pulled;
  ``created_at``: when the stack's state began (seconds since the epoch).
- ``rows``: one object per resource, by address, with the state's row fields (``address``,
  ``kind``, ``job``, ``status``, ``fingerprint``, ``attempt``, ``idempotency_key``,
  ``provider``, ``target``, ``provider_job_id``, ``result_hash``, ``error``,
  ``created_at``, ``updated_at``, ``member``, ``dispatch_ref``, ``provider_status``),
  every one present, null where the state has none.
- ``events``: the event log, oldest first (``address``, ``at``, ``serial``,
  ``old_status``, ``new_status``, ``fingerprint``, ``attempt``, ``provider_job_id``,
  ``result_hash``, ``detail``); a store's own event ids are not part of it.
- ``results``: every result a row or an event names, and no other, by its SHA-256 content
  hash (lower-case hex), in standard base64.

The same state gives the same bytes: nothing depends on when, where or from which backend
it was pulled. It holds what the state holds and nothing more: no state location, no URL,
no credential (the state keeps none).

The reader is strict: a document that is not JSON, of another format or a newer version,
with a field missing, unknown or of the wrong type, two rows of one address, a result that
is not base64, whose content does not match its hash, missing while named or present while
named by nothing is refused with a ``StateError`` that names the file and the field.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from qplan.jobstatus import JobStatus
from qplan.state.sql import EVENT_FIELDS, ROW_FIELDS
from qplan.state.store import StateError, content_hash

__all__ = ["FORMAT", "VERSION", "dump", "dumps", "encode", "load_file", "loads", "save"]

FORMAT = "qplan-state"
VERSION = 1

# field -> (kind, nullable). Kinds: str, int, number, status, hash.
_ROW: dict[str, tuple[str, bool]] = {
    "address": ("str", False),
    "kind": ("str", False),
    "job": ("str", False),
    "status": ("status", False),
    "fingerprint": ("str", False),
    "attempt": ("int", False),
    "idempotency_key": ("str", True),
    "provider": ("str", False),
    "target": ("str", False),
    "provider_job_id": ("str", True),
    "result_hash": ("hash", True),
    "error": ("str", True),
    "created_at": ("number", False),
    "updated_at": ("number", False),
    "member": ("int", True),
    "dispatch_ref": ("str", True),
    "provider_status": ("str", True),
}
_EVENT: dict[str, tuple[str, bool]] = {
    "address": ("str", False),
    "at": ("number", False),
    "serial": ("int", False),
    "old_status": ("status", True),
    "new_status": ("status", True),
    "fingerprint": ("str", True),
    "attempt": ("int", True),
    "provider_job_id": ("str", True),
    "result_hash": ("hash", True),
    "detail": ("str", True),
}
_HEAD: dict[str, tuple[str, bool]] = {
    "format": ("str", False),
    "version": ("int", False),
    "stack": ("str", False),
    "lineage": ("str", False),
    "serial": ("int", False),
    "generation": ("int", False),
    "created_at": ("number", False),
}
_TOP = {*_HEAD, "rows", "events", "results"}
_HASH = re.compile(r"[0-9a-f]{64}")
_STATUSES = {s.value for s in JobStatus}

# the row and event fields are the state's own, less the stack (the document's) and event ids
assert list(_ROW) == ROW_FIELDS.split(", ")[1:]
assert list(_EVENT) == EVENT_FIELDS.split(", ")[2:]


# --- writing -------------------------------------------------------------------------------


def encode(state: Mapping[str, Any]) -> dict[str, Any]:
    """The document of ``state`` (``SqlStore.export_stack``'s form: results as bytes) as
    plain JSON values: rows by address, results in base64, numbers normalised."""
    if not state.get("lineage"):
        raise StateError(f"stack {state['stack']} has no state to write")
    rows = sorted(state["rows"], key=lambda r: str(r["address"]))
    return {
        "format": FORMAT,
        "version": VERSION,
        "stack": str(state["stack"]),
        "lineage": str(state["lineage"]),
        "serial": int(state["serial"]),
        "generation": int(state["generation"]),
        "created_at": float(state["created_at"]),
        "rows": [_normal(_ROW, r) for r in rows],
        "events": [_normal(_EVENT, e) for e in state["events"]],
        "results": {
            digest: base64.b64encode(bytes(state["results"][digest])).decode("ascii")
            for digest in sorted(state["results"])
        },
    }


def _normal(fields: Mapping[str, tuple[str, bool]], record: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (kind, _) in fields.items():
        value = record[name]
        if value is not None:
            value = {"int": int, "number": float}.get(kind, str)(value)
        out[name] = value
    return out


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=True, allow_nan=False)


def dump(state: Mapping[str, Any], stream: IO[str]) -> None:
    """Write the document of ``state`` to ``stream``, one row, event or result a line."""
    document = encode(state)
    keys = sorted(document)
    stream.write("{\n")
    for i, key in enumerate(keys):
        value = document[key]
        end = ",\n" if i < len(keys) - 1 else "\n"
        if isinstance(value, list) and value:
            stream.write(f" {_json(key)}: [\n")
            stream.write(",\n".join(f"  {_json(item)}" for item in value))
            stream.write(f"\n ]{end}")
        elif isinstance(value, dict) and value:
            stream.write(f" {_json(key)}: {{\n")
            stream.write(",\n".join(f"  {_json(k)}: {_json(v)}" for k, v in value.items()))
            stream.write(f"\n }}{end}")
        else:
            stream.write(f" {_json(key)}: {_json(value)}{end}")
    stream.write("}\n")


def dumps(state: Mapping[str, Any]) -> str:
    """The document of ``state`` as text (see ``dump``)."""
    import io

    out = io.StringIO()
    dump(state, out)
    return out.getvalue()


def save(state: Mapping[str, Any], path: Path) -> None:
    """Write the document to ``path``, readable by its owner only (results are the user's
    data): through a temporary file renamed over it, so a reader never sees half of one.
    A path that is not a regular file (a pipe, a terminal) is written to directly."""
    text = dumps(state)
    try:
        if path.exists() and not path.is_file():
            with path.open("w", encoding="ascii") as handle:
                handle.write(text)
            return
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii", newline="\n") as handle:
                handle.write(text)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise StateError(f"{path}: cannot write the state document: {exc.strerror}") from None


# --- reading -------------------------------------------------------------------------------


class _Refused(Exception):
    """A problem at ``where`` (a field path, empty for the whole document)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


def load_file(path: Path) -> dict[str, Any]:
    """The state in the document at ``path`` (see ``loads``)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StateError(f"{path}: cannot read the state document: {exc.strerror}") from None
    return loads(data, str(path))


def loads(text: str | bytes, source: str) -> dict[str, Any]:
    """The state in a document, in ``SqlStore.export_stack``'s form (results as bytes),
    checked whole. ``source`` names the document in errors (a file, ``<stdin>``)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StateError(
                f"{source}: not a qplan state document: not UTF-8 text (byte {exc.start})"
            ) from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise StateError(
            f"{source}:{exc.lineno}:{exc.colno}: not a qplan state document: "
            f"invalid JSON: {exc.msg}"
        ) from None
    except _Refused as exc:
        raise StateError(f"{source}: not a qplan state document: {exc.message}") from None
    try:
        return _decode(value)
    except _Refused as exc:
        where = f"{exc.where}: " if exc.where else ""
        raise StateError(f"{source}: {where}{exc.message}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused("", f"the key {key!r} appears twice in one object")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise _Refused("", f"{name} is not a JSON number")


def _decode(document: Any) -> dict[str, Any]:
    """The state in a parsed document (see ``loads``); raises ``_Refused`` at a field."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise _Refused("", f'not a qplan state document (no "format": "{FORMAT}")')
    version: Any = document.get("version")
    if not _is_int(version) or version < 1:
        raise _Refused("version", f"{_show(version)} is not a version of this format")
    if version > VERSION:
        raise _Refused(
            "version",
            f"state document version {version} was written by a newer qplan (this one reads "
            f"version {VERSION}); upgrade qplan",
        )
    _fields("", document, {**_HEAD, "rows": ("list", False), "events": ("list", False),
                           "results": ("object", False)})  # fmt: skip
    for name in ("stack", "lineage"):
        if not document[name]:
            raise _Refused(name, "must not be empty")
    for name in ("serial", "generation"):
        if document[name] < 0:
            raise _Refused(name, f"{document[name]} is negative")
    results: dict[str, bytes] = {}
    for digest, text in document["results"].items():
        where = f"results.{digest[:12]}"
        if not _HASH.fullmatch(digest):
            raise _Refused(where, "a result's key must be its SHA-256 hash in lower-case hex")
        if not isinstance(text, str):
            raise _Refused(where, f"must be base64 text, got {_show(text)}")
        try:
            data = base64.b64decode(text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise _Refused(where, "not valid base64") from None
        if content_hash(data) != digest:
            raise _Refused(where, "its content does not match its hash")
        results[digest] = data
    named: set[str | None] = set()
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, row in enumerate(document["rows"]):
        where = f"rows[{i}]"
        _fields(where, row, _ROW)
        if row["address"] in seen:
            raise _Refused(f"{where}.address", f"{row['address']!r} appears in two rows")
        seen.add(row["address"])
        rows.append(dict(row))
        named.add(row["result_hash"])
    events: list[dict[str, Any]] = []
    for i, event in enumerate(document["events"]):
        where = f"events[{i}]"
        _fields(where, event, _EVENT)
        if event["serial"] > document["serial"]:
            raise _Refused(
                f"{where}.serial",
                f"{event['serial']} is past the document's serial {document['serial']}",
            )
        events.append(dict(event))
        named.add(event["result_hash"])
    for kind, records in (("rows", rows), ("events", events)):
        for i, record in enumerate(records):
            digest = record["result_hash"]
            if digest is not None and digest not in results:
                raise _Refused(
                    f"{kind}[{i}].result_hash",
                    f"names result {digest[:12]}, which the document does not hold",
                )
    unnamed = sorted(set(results) - named)
    if unnamed:
        raise _Refused(f"results.{unnamed[0][:12]}", "no row or event names this result")
    return {
        "stack": document["stack"],
        "lineage": document["lineage"],
        "serial": document["serial"],
        "generation": document["generation"],
        "created_at": float(document["created_at"]),
        "rows": rows,
        "events": events,
        "results": results,
    }


def _fields(where: str, record: Any, fields: Mapping[str, tuple[str, bool]]) -> None:
    prefix = f"{where}." if where else ""
    if not isinstance(record, dict):
        raise _Refused(where, f"must be an object, got {_show(record)}")
    for name in record:
        if name not in fields:
            raise _Refused(f"{prefix}{name}", "unknown field")
    for name, (kind, nullable) in fields.items():
        if name not in record:
            raise _Refused(where, f"missing field {name!r}")
        value = record[name]
        if value is None and nullable:
            continue
        if not _fits(kind, value):
            want = {
                "str": "a string",
                "int": "an integer",
                "number": "a number",
                "status": "a job status (" + ", ".join(sorted(_STATUSES)) + ")",
                "hash": "a SHA-256 hash in lower-case hex",
                "list": "a list",
                "object": "an object",
            }[kind]
            raise _Refused(f"{prefix}{name}", f"must be {want}, got {_show(value)}")


def _fits(kind: str, value: Any) -> bool:
    if kind == "int":
        return _is_int(value)
    if kind == "number":
        return _is_int(value) or isinstance(value, float)
    if kind == "status":
        return isinstance(value, str) and value in _STATUSES
    if kind == "hash":
        return isinstance(value, str) and _HASH.fullmatch(value) is not None
    return isinstance(value, {"str": str, "list": list, "object": dict}[kind])


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, (dict, list)) else type(value).__name__
    text = {"dict": "an object", "list": "a list"}.get(text, text)
    return text if len(text) <= 40 else text[:37] + "..."
