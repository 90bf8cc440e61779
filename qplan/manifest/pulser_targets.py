"""The qubits a Pulser sequence addresses by index, read from its abstract representation.

A sequence on a mappable register is built with a mapping of some of its qubits to traps
(``qubits: {q0: 1, q1: 5}``). Pulser takes the first N qubits of the register, in declared
order, and refuses the build when an operation addresses a qubit left out: a local
channel's ``target``, a ``phase_shift``'s ``targets``. In the abstract representation these
are qubit indices: literals, or expressions of declared variables. This module reads them
without Pulser, so that a mapping too small for the sequence is an error at ``validate``
time, at the value that maps it.

Expressions are evaluated as Pulser does for what a target can reasonably be (a variable,
an item of one, sums, products, differences, remainders, negations, absolute values); any
other expression is left to Pulser's own check when the instance is built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qplan.manifest.models import JobSpec
from qplan.manifest.params import Parameter
from qplan.manifest.sweep import Sweep, sweep_name_path
from qplan.manifest.yamlsource import PathPart

__all__ = ["QubitTargets", "check_mappings", "read_targets"]


class _Unknown(Exception):
    """An expression this module does not evaluate."""


@dataclass(frozen=True, slots=True)
class QubitTargets:
    """The qubit indices a sequence addresses. ``fixed``: how many leading qubits its
    literal targets need (the highest index plus one; 0 when none); ``variable``: the
    targets that depend on declared variables, as written in the abstract representation."""

    fixed: int = 0
    variable: tuple[Any, ...] = ()

    def needed(self, values: Mapping[str, Any]) -> int | None:
        """How many leading qubits the targets need when the variables take ``values``
        (coerced values, by name): the highest index addressed plus one. None when a
        target cannot be evaluated here (Pulser decides when the instance is built)."""
        most = self.fixed
        for target in self.variable:
            try:
                indices = _indices(_value(target, values))
            except _Unknown:
                return None
            most = max([most, *(i + 1 for i in indices)])
        return most


def read_targets(operations: Any) -> QubitTargets:
    """The targets of ``operations`` (the abstract representation's list); anything that
    is not a well-formed target is ignored here (Pulser reports it)."""
    fixed = 0
    variable: list[Any] = []
    if not isinstance(operations, list):
        return QubitTargets()
    for op in operations:
        if not isinstance(op, dict):
            continue
        if op.get("op") == "target":
            targets: Iterable[Any] = [op.get("target")]
        elif op.get("op") == "phase_shift" and isinstance(op.get("targets"), list):
            targets = op["targets"]
        else:
            continue
        for target in targets:
            try:
                indices = _indices(_value(target, {}))
            except _Unknown:
                if _has_variable(target):
                    variable.append(target)
                continue
            fixed = max([fixed, *(i + 1 for i in indices)])
    return QubitTargets(fixed, tuple(variable))


def _has_variable(expr: Any) -> bool:
    if isinstance(expr, dict):
        return "variable" in expr or any(_has_variable(v) for v in expr.values())
    if isinstance(expr, list):
        return any(_has_variable(v) for v in expr)
    return False


def _indices(value: Any) -> list[int]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        index = int(item) if isinstance(item, float) and item.is_integer() else item
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise _Unknown
        out.append(index)
    return out


_BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "mod": lambda a, b: a % b,
}
_UNARY = {"neg": lambda a: -a, "abs": abs}


def _value(expr: Any, values: Mapping[str, Any]) -> Any:
    """A number or a list of numbers; raises _Unknown."""
    if isinstance(expr, bool):
        raise _Unknown
    if isinstance(expr, int | float):
        return expr
    if isinstance(expr, list):
        return [_scalar(_value(item, values)) for item in expr]
    if not isinstance(expr, dict):
        raise _Unknown
    if "variable" in expr:
        if expr["variable"] not in values:
            raise _Unknown
        value = values[expr["variable"]]
        return list(value) if isinstance(value, list) else [value]  # a variable is an array
    kind = expr.get("expression")
    if kind == "index":
        array = _value(expr.get("lhs"), values)
        index = _value(expr.get("rhs"), values)
        if not isinstance(array, list) or isinstance(index, list) or not isinstance(index, int):
            raise _Unknown
        if not -len(array) <= index < len(array):
            raise _Unknown
        return array[index]
    if kind in _BINARY:
        return _apply(
            _BINARY[kind], _value(expr.get("lhs"), values), _value(expr.get("rhs"), values)
        )
    if kind in _UNARY:
        operand = _value(expr.get("lhs"), values)
        if isinstance(operand, list):
            return [_UNARY[kind](v) for v in operand]
        return _UNARY[kind](operand)
    raise _Unknown


def _scalar(value: Any) -> Any:
    if isinstance(value, list):
        raise _Unknown
    return value


def _apply(op: Any, lhs: Any, rhs: Any) -> Any:
    """``op`` elementwise, a scalar broadcast over a list, as numpy does."""
    try:
        if isinstance(lhs, list) and isinstance(rhs, list):
            if len(lhs) != len(rhs):
                raise _Unknown
            return [op(a, b) for a, b in zip(lhs, rhs, strict=True)]
        if isinstance(lhs, list):
            return [op(a, rhs) for a in lhs]
        if isinstance(rhs, list):
            return [op(lhs, b) for b in rhs]
        return op(lhs, rhs)
    except ArithmeticError:
        raise _Unknown from None


_SHOWN = 5
"""Instances reported by name when many of a job's fail the check."""


def check_mappings(
    name: str,
    spec: JobSpec,
    parameters: Mapping[str, Parameter],
    inputs: Mapping[str, Any],
    sweep: Sweep | None,
    base: list[PathPart],
    report: Callable[[Sequence[PathPart], str], None],
) -> bool:
    """Each instance's ``qubits`` maps every qubit its sequence targets through a
    variable (literal targets are checked with the value itself). False if one does
    not; the first few are reported, at the value that maps the qubits (``base``: the
    job's path)."""
    param = parameters.get("qubits")
    targets = param.targets if param is not None else None
    if param is None or targets is None or not targets.variable:
        return True
    points: Iterator[dict[str, Any]] = iter([{}]) if sweep is None else sweep.points()
    addresses = iter([name]) if sweep is None else sweep.addresses(name)
    bad = 0
    for i, (address, point) in enumerate(zip(addresses, points, strict=True)):
        values = {**inputs, **point}
        needed = targets.needed(values)
        mapped = len(values["qubits"])
        if needed is None or needed <= mapped:
            continue
        bad += 1
        if bad > _SHOWN:
            continue
        if "qubits" not in point:
            where: list[PathPart] = [*base, "inputs", "qubits"]
        else:
            assert sweep is not None and spec.sweep is not None
            where = sweep_name_path(spec, [*base, "sweep"], "qubits")
            if sweep.kind == "points" and spec.sweep.points is not None:
                where = [*base, "sweep", "points", i, "qubits"]
        qids = param.qids
        detail = (
            f"qubit index {needed - 1}, but the register declares {len(qids)} qubits"
            if needed > len(qids)
            else f"{qids[needed - 1]}, which this mapping leaves out "
            f"(it maps {', '.join(qids[:mapped])})"
        )
        report(where, f"{address}: the sequence targets {detail}")
    if bad > _SHOWN:
        report(
            [*base, "sweep"],
            f"... and {bad - _SHOWN} more instances of {name} whose qubits leave out a "
            "targeted qubit",
        )
    return bad == 0
