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
    from qplan.manifest.qsharp import QsharpType

__all__ = ["ParamKind", "Parameter", "format_value"]

ParamKind = Literal["float", "int", "uint", "bool", "bit", "bits", "qubits", "qsharp"]

_KIND_TEXT = {
    "float": "a number",
    "int": "an integer",
    "uint": "a non-negative integer",
    "bool": "true or false",
    "bit": "0, 1, true or false",
}


@dataclass(frozen=True, slots=True)
class Parameter:
    """A parameter a program declares.

    ``size`` is the length of a list value (OpenQASM arrays, Pulser variables of size > 1),
    the width of a ``bit[n]`` input, or the number of qubits for ``qubits``; None for scalars.
    ``traps`` is the number of traps of a Pulser mappable register's layout. ``qsharp`` is
    the declared type of a Q# entry operation's argument (kind ``qsharp``).
    """

    name: str
    kind: ParamKind
    size: int | None = None
    line: int = 0
    traps: int = 0
    qids: tuple[str, ...] = ()
    qsharp: QsharpType | None = None

    def describe(self) -> str:
        if self.qsharp is not None:
            return self.qsharp.describe()
        if self.kind == "qubits":
            return f"a mapping of the {self.size} qubits ({', '.join(self.qids)}) to trap numbers"
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
        if not isinstance(value, dict) or set(value) != set(self.qids):
            raise ValueError(f"must be {self.describe()}")
        traps: dict[str, int] = {}
        for qid in sorted(value):
            trap = value[qid]
            if isinstance(trap, bool) or not isinstance(trap, int) or not 0 <= trap < self.traps:
                raise ValueError(f"trap of {qid} must be an integer from 0 to {self.traps - 1}")
            traps[qid] = trap
        if len(set(traps.values())) != len(traps):
            raise ValueError("two qubits are mapped to the same trap")
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
