"""Turn pydantic validation errors into located, readable diagnostics.

pydantic reports ``loc`` tuples that may contain discriminator tags and ``[key]`` markers;
they are mapped back onto the data path so that each message points at the YAML node the
user wrote. Messages say what is expected and what was found, and suggest the closest
known key or choice ("did you mean ...").
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from qplan.errors import Diagnostic
from qplan.manifest import models as m
from qplan.manifest.yamlsource import PathPart, YamlDocument

__all__ = ["Redactor", "describe", "did_you_mean", "validation_diagnostics"]

Redactor = Callable[[Sequence[PathPart]], bool]
"""Says whether the value at a path came from the environment and must not be shown."""

_PATTERN_HINTS = {
    "region": "must be an AWS region like us-east-1",
    "resource_id": "must be an Azure Quantum workspace id: "
    "/subscriptions/ID/resourceGroups/GROUP/providers/Microsoft.Quantum/Workspaces/NAME",
    "entry": "must be an operation name, its namespace included: Sweep.Run, or Run",
    "entry_point": "must be module:function or a module, such as vqe.algorithm:main",
    "type": "must be an ml. instance type, such as ml.m5.large",
    "checkpoint": "must be an s3:// URI, such as s3://bucket/checkpoints",
    "image": "must be an ECR image URI: ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME:TAG",
}


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean "shots"?)`` when a candidate is close to ``word``, else ``""``."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def describe(value: Any, secret: bool = False) -> str:
    """A short rendering of a value for a message; secrets are never shown."""
    if secret:
        return "a value read from the environment"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return repr(shown)
    return repr(value)


def _model_at(path: Sequence[PathPart], data: Any) -> Any:
    """The model that validates the mapping at ``path`` (for "did you mean" suggestions)."""
    n = len(path)
    if n == 0:
        return m.Manifest
    section = path[0]
    if n == 2:
        if section == "providers":
            entry = _get(data, path)
            kind = entry.get("type") if isinstance(entry, dict) else None
            return {
                "local": m.LocalProvider,
                "braket": m.BraketProvider,
                "azure": m.AzureProvider,
                "pasqal": m.PasqalProvider,
            }.get(kind if isinstance(kind, str) else "")
        return {"programs": m.ProgramSpec, "sessions": m.SessionSpec, "jobs": m.JobSpec}.get(
            str(section)
        )
    if section == "jobs" and n == 3:
        return {"retry": m.RetrySpec, "sweep": m.SweepSpec}.get(str(path[2]))
    if section == "jobs" and n == 5 and path[2] == "sweep" and path[3] in ("grid", "zip"):
        return m.AxisSpec
    return None


def _get(data: Any, path: Sequence[PathPart]) -> Any:
    for part in path:
        if isinstance(data, dict) and isinstance(part, str):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data


def _data_path(loc: Sequence[PathPart], data: Any) -> tuple[list[PathPart], bool]:
    """Map a pydantic ``loc`` onto the data: drop union tags; report whether it names a key."""
    path: list[PathPart] = []
    node = data
    is_key = False
    for part in loc:
        if part == "[key]":
            is_key = True
            break
        if isinstance(node, dict):
            if part in node:
                path.append(part)
                node = node[part]
            elif part in m.UNION_TAGS and isinstance(part, str):
                continue
            else:
                path.append(part)  # a missing or unknown key: the last part of the path
                node = None
        elif isinstance(node, list) and isinstance(part, int):
            path.append(part)
            node = node[part] if 0 <= part < len(node) else None
        elif isinstance(part, str) and part in m.UNION_TAGS:
            continue
        else:
            path.append(part)
            node = None
    return path, is_key


def _message(err: dict[str, Any], path: list[PathPart], data: Any, secret: bool) -> str:
    kind: str = err["type"]
    ctx: dict[str, Any] = err.get("ctx") or {}
    value = err.get("input")
    got = f", got {describe(value, secret)}"
    last = path[-1] if path else ""
    if kind == "missing":
        if isinstance(last, int):
            return f"needs {last + 1} items"
        return "is required"
    if kind == "extra_forbidden":
        model = _model_at(path[:-1], data)
        hint = did_you_mean(str(last), model.model_fields) if model is not None else ""
        return f"unknown key{hint}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be an integer{got}"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number{got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false{got}"
    if kind == "string_type":
        return f"must be a string{got}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping{got}"
    if kind in ("list_type", "tuple_type"):
        return f"must be a list{got}"
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}{got}"
    if kind == "greater_than":
        if ctx.get("gt") == 0 and isinstance(value, int):
            return f"must be a positive integer{got}"
        return f"must be greater than {ctx.get('gt')}{got}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}{got}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}{got}"
    if kind == "too_short":
        need = ctx.get("min_length")
        return f"must have at least {need} item{'s' if need != 1 else ''}"
    if kind == "too_long":
        limit = ctx.get("max_length")
        return f"must have at most {limit} item{'s' if limit != 1 else ''}"
    if kind == "string_too_short":
        need = ctx.get("min_length")
        return "must not be empty" if need == 1 else f"must be at least {need} characters{got}"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        hint = _PATTERN_HINTS.get(str(last), f"must match {ctx.get('pattern')}")
        return f"{hint}{got}"
    if kind == "finite_number":
        return "must be a finite number"
    if kind == "qplan_choice":
        choices = ctx.get("choices") or []
        hint = did_you_mean(str(value), choices)
        return f"{err['msg']}{hint}; known: {', '.join(choices)}"
    if kind == "qplan_provider_type":
        shown = value.get("type") if isinstance(value, dict) else value
        return f"{err['msg']}, got {describe(shown, secret)}"
    if kind.startswith("qplan_"):
        if kind in ("qplan_name", "qplan_ident", "qplan_stack", "qplan_target", "qplan_duration"):
            return f"{err['msg']}{got}"
        return str(err["msg"])
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return f"{msg[:1].lower()}{msg[1:]}"


def validation_diagnostics(
    errors: Sequence[Any],
    doc: YamlDocument,
    base: Sequence[PathPart],
    data: Any,
    redact: Redactor,
) -> list[Diagnostic]:
    """Diagnostics for pydantic ``errors``, raised when validating ``_get(data, base)``."""
    out: list[Diagnostic] = []
    for err in errors:
        rel, is_key = _data_path(err["loc"], _get(data, base))
        path = [*base, *rel]
        given = err.get("input")
        if err["type"] == "qplan_provider_type" and isinstance(given, dict) and "type" in given:
            path.append("type")  # the offending value, not the whole provider
        secret = redact(path)
        if is_key:
            message = f"invalid name {describe(path[-1])}: {err['msg']}"
            out.append(doc.diagnostic(path, message, key=True))
            continue
        message = _message(err, path, data, secret)
        out.append(doc.diagnostic(path, message, key=err["type"] == "extra_forbidden"))
    return out
