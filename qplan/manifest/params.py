"""Declared program parameters, the coercion of bound values, and canonical value text.

A value bound to a parameter (in ``inputs`` or a sweep) is coerced to the parameter's
kind once, so that equal values have one representation: ``theta: 1`` and ``theta: 1.0``
are the same point, ``rabi[theta=1.0]``. Canonical text is what addresses are made of:
floats in shortest round-trip form (``repr``), ``-0.0`` folded to ``0.0``, strings quoted.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from qplan.manifest.pulser_targets import QubitTargets
    from qplan.manifest.qsharp import QsharpType

__all__ = ["BadMapping", "ParamKind", "Parameter", "format_value"]

ParamKind = Literal["float", "int", "uint", "bool", "bit", "bits", "qubits", "qsharp"]

_KIND_TEXT = {
    "float": "a number",
    "int": "an integer",
    "uint": "a non-negative integer",
    "bool": "true or false",
    "bit": "0, 1, true or false",
}


class BadMapping(ValueError):
    """A ``qubits`` mapping that cannot be used; the message says which qubit or trap, in
    full, so it is reported as it is (not followed by the value given)."""


@dataclass(frozen=True, slots=True)
class Parameter:
    """A parameter a program declares.

    ``size`` is the length of a list value (OpenQASM arrays, Pulser variables of size > 1),
    the width of a ``bit[n]`` input, or the number of qubits for ``qubits``; None for scalars.
    ``qsharp`` is the declared type of a Q# entry operation's argument (kind ``qsharp``).

    ``qubits`` is a Pulser mappable register's: ``qids`` its qubits in declared order,
    ``traps`` the number of traps of its layout, ``targets`` the qubits its sequence
    addresses. A value maps the first N qubits (N >= 1, as Pulser builds a register from a
    subset) to distinct traps, and N covers every qubit the sequence targets literally.
    """

    name: str
    kind: ParamKind
    size: int | None = None
    line: int = 0
    traps: int = 0
    qids: tuple[str, ...] = ()
    qsharp: QsharpType | None = None
    targets: QubitTargets | None = None

    def describe(self) -> str:
        if self.qsharp is not None:
            return self.qsharp.describe()
        if self.kind == "qubits":
            return (
                f"a mapping of qubits to distinct traps (0 to {self.traps - 1}): all of "
                f"{', '.join(self.qids)}, or the first few of them in that order"
            )
        if self.kind == "bits":
            return f"a string of {self.size} bits such as {'0' * (self.size or 1)!r}"
        scalar = _KIND_TEXT[self.kind]
        if self.size is not None:
            return f"a list of {self.size} values, each {scalar}"
        return scalar

    def coerce(self, value: Any) -> Any:
        """The canonical value of ``value`` for this parameter; ValueError says why not."""
        if self.qsharp is not None:
            return self.qsharp.coerce(value)
        if self.kind == "qubits":
            return self._coerce_qubits(value)
        if self.kind == "bits":
            if isinstance(value, str) and len(value) == self.size and set(value) <= {"0", "1"}:
                return value
            raise ValueError(f"must be {self.describe()}")
        if self.size is not None:
            if not isinstance(value, list) or len(value) != self.size:
                raise ValueError(f"must be {self.describe()}")
            return [self._scalar(v) for v in value]
        return self._scalar(value)

    def _scalar(self, value: Any) -> Any:
        kind = self.kind
        if kind == "float":
            if isinstance(value, int | float) and not isinstance(value, bool):
                number = float(value)
                if not math.isfinite(number):
                    raise ValueError("must be a finite number")
                return number + 0.0  # folds -0.0 to 0.0
        elif kind in ("int", "uint"):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, int) and not isinstance(value, bool):
                if kind == "uint" and value < 0:
                    raise ValueError("must be a non-negative integer")
                return value
        elif kind == "bool":
            if isinstance(value, bool):
                return value
        elif kind == "bit":
            if isinstance(value, bool):
                return int(value)
            if value in (0, 1) and not isinstance(value, float):
                return int(value)
        raise ValueError(f"must be {_KIND_TEXT[kind]}")

    def _coerce_qubits(self, value: Any) -> Any:
        if not isinstance(value, dict) or not value:
            raise BadMapping(f"must be {self.describe()}")
        known = ", ".join(self.qids)
        mapped = {str(qid): trap for qid, trap in value.items()}
        for qid in mapped:
            if qid not in self.qids:
                raise BadMapping(f"unknown qubit {qid!r}: the register's qubits are {known}")
        count = len(mapped)
        first = self.qids[:count]
        if set(mapped) != set(first):
            raise BadMapping(
                f"maps {', '.join(q for q in self.qids if q in mapped)}: Pulser builds the "
                f"register from its first qubits in declared order, so {count} qubit"
                f"{'s' if count != 1 else ''} must be {', '.join(first)}"
            )
        least = self.targets.fixed if self.targets is not None else 0
        if count < least:
            raise BadMapping(
                f"maps {count} qubit{'s' if count != 1 else ''}, but the sequence targets "
                f"{self.qids[least - 1]}: map at least {', '.join(self.qids[:least])}"
            )
        traps: dict[str, int] = {}
        seen: dict[int, str] = {}
        for qid in sorted(mapped):
            trap = mapped[qid]
            if isinstance(trap, bool) or not isinstance(trap, int) or not 0 <= trap < self.traps:
                raise BadMapping(f"trap of {qid} must be an integer from 0 to {self.traps - 1}")
            if trap in seen:
                raise BadMapping(f"{seen[trap]} and {qid} are mapped to the same trap, {trap}")
            seen[trap] = qid
            traps[qid] = trap
        return traps


def format_value(value: Any) -> str:
    """Canonical, stable text of a coerced value, used in addresses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value + 0.0)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{json.dumps(str(k))}:{format_value(value[k])}" for k in sorted(value))
            + "}"
        )
    if value is None:
        return "null"
    raise TypeError(f"cannot format {type(value).__name__}")
