"""A job's ``params:``, its target's input parameters, checked against what qplan knows of
the target (``targets.target_params``).

They go to the provider as they are written; qplan only checks them, so that a typo or a
wrong value is an error at ``validate`` time, at its key, and not a job the service
refuses (or runs otherwise) after an hour in its queue. What counts shots (``shots``,
``count``, ``runs``) is refused everywhere: qplan sets it from the job's ``shots``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from qplan.manifest.diagnose import did_you_mean
from qplan.manifest.yamlsource import PathPart
from qplan.targets import REFUSED_PARAMS, ParamKind, TargetParam, target_params

__all__ = ["check_params"]

Report = Callable[[Sequence[PathPart], str], None]
Describe = Callable[[Sequence[PathPart], Any], str]


def check_params(
    params: Mapping[str, Any],
    provider_type: str,
    device: str,
    target: str,
    path: Sequence[PathPart],
    report: Report,
    describe: Describe,
) -> bool:
    """Check ``params`` (at ``path``) for ``device`` of ``provider_type``, named ``target``
    in messages; every problem goes to ``report`` at its key. False if there was one."""
    known = target_params(provider_type, device)
    ok = True
    for name, value in params.items():
        where = [*path, name]
        if name in REFUSED_PARAMS:
            report(where, "qplan sets the shot count itself: use the job's shots, not params")
            ok = False
        elif not known:
            report(
                where,
                f"{target} takes no params ({_owner(provider_type, device)} have none that "
                "qplan knows)",
            )
            ok = False
        elif name not in known:
            hint = did_you_mean(name, known)
            report(
                where,
                f"unknown param {name!r} for {target}{hint}; known: {', '.join(known)}",
            )
            ok = False
        else:
            ok = _check(known[name], value, where, report, describe) and ok
    return ok


def _owner(provider_type: str, device: str) -> str:
    if provider_type == "azure":
        return f"Azure {device.partition('.')[0]} targets"
    return {"local": "the local simulators", "braket": "Braket devices"}.get(
        provider_type, f"{provider_type} devices"
    )


def _check(
    param: TargetParam,
    value: Any,
    path: list[PathPart],
    report: Report,
    describe: Describe,
) -> bool:
    got = f", got {describe(path, value)}"
    kind = param.kind
    if kind is ParamKind.BOOL:
        if isinstance(value, bool):
            return True
        report(path, f"must be true or false{got}")
        return False
    if kind is ParamKind.INT:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return True
        report(path, f"must be a non-negative integer{got}")
        return False
    if kind is ParamKind.CHOICE:
        if isinstance(value, str) and value in param.choices:
            return True
        hint = did_you_mean(value, param.choices) if isinstance(value, str) else ""
        report(path, f"must be one of {', '.join(param.choices)}{hint}{got}")
        return False
    if not isinstance(value, dict):
        report(path, f"must be a mapping{got}")
        return False
    if kind is ParamKind.ANY_MAPPING:
        return True
    fields = {f.name: f for f in param.fields}
    ok = True
    for key, item in value.items():
        field = fields.get(key)
        if field is None:
            hint = did_you_mean(str(key), fields)
            report([*path, key], f"unknown key{hint}; known: {', '.join(fields)}")
            ok = False
        else:
            ok = _check(field, item, [*path, key], report, describe) and ok
    for field in param.fields:
        if field.required and field.name not in value:
            report(path, f"needs {field.name} ({field.description})")
            ok = False
    return ok
