"""Microsoft's Quantum Development Kit (the ``qdk`` package, the ``qsharp`` successor):
OpenQASM and Q# compiled to QIR for Azure targets, and Q# run on its local simulator.

Each program gets its own ``qdk.Context`` (an isolated interpreter, base profile), made
once and kept for the process: compiling one more point of a sweep then costs a few
tens of milliseconds, not the context's hundred and fifty. A context is used by one
thread at a time.

OpenQASM written for Braket's simulators (no ``include``, Braket's gate names such as
``cnot``) compiles unchanged: ``stdgates.inc`` is included when the program does not
include it, and the Braket gates it lacks are defined from standard ones. So a sweep
written once runs on the local provider, Braket and Azure.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CompileError",
    "Compiled",
    "compile_openqasm",
    "compile_qsharp",
    "counts_of",
    "openqasm_for_qdk",
    "run_qsharp",
]

ENTRY = "main"  # the OpenQASM program's operation name (its QIR entry point ENTRYPOINT__main)
CONTEXTS = 64  # programs whose context is kept

# Braket's built-in gates that stdgates.inc does not define, in its terms
_BRAKET_GATES = {
    "cnot": "gate cnot a, b { cx a, b; }",
    "ccnot": "gate ccnot a, b, c { ccx a, b, c; }",
    "phaseshift": "gate phaseshift(l) a { p(l) a; }",
    "cphaseshift": "gate cphaseshift(l) a, b { cp(l) a, b; }",
    "si": "gate si a { sdg a; }",
    "ti": "gate ti a { tdg a; }",
    "v": "gate v a { sx a; }",
    "vi": "gate vi a { inv @ sx a; }",
    "i": "gate i a { id a; }",
}
_INCLUDE = re.compile(r'^\s*include\s+"stdgates\.inc"\s*;', re.MULTILINE)
_HEADER = re.compile(r"^\s*OPENQASM\s+[\d.]+\s*;[^\n]*\n?", re.MULTILINE)
_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)


class CompileError(Exception):
    """The program does not compile (the compiler's message, with its position)."""


@dataclass(frozen=True)
class Compiled:
    """A QIR program (LLVM IR text) and its entry point."""

    qir: str
    entry_point: str


def openqasm_for_qdk(source: str) -> str:
    """``source`` with ``stdgates.inc`` included and Braket's own gate names defined."""
    code = _COMMENTS.sub(" ", source)
    lines: list[str] = []
    if not _INCLUDE.search(code):
        lines.append('include "stdgates.inc";')
    for name, definition in _BRAKET_GATES.items():
        used = re.search(rf"(?<![\w.]){name}\s*[(\s]", code)
        defined = re.search(rf"\bgate\s+{name}\b", code)
        if used and not defined:
            lines.append(definition)
    if not lines:
        return source
    header = _HEADER.match(source)
    added = "\n".join(lines) + "\n"
    if header is None:
        return added + source
    return (
        source[: header.end()]
        + ("" if header.group().endswith("\n") else "\n")
        + added
        + (source[header.end() :])
    )


class _Contexts:
    """One context per program, the most recently used kept; a lock per context."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[str, str], tuple[threading.Lock, Any]] = OrderedDict()

    def get(self, kind: str, source: str) -> tuple[threading.Lock, Any]:
        key = (kind, source)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
                return kept
        context = _load(kind, source)
        with self._lock:
            kept = self._kept.setdefault(key, (threading.Lock(), context))
            while len(self._kept) > CONTEXTS:
                self._kept.popitem(last=False)
        return kept


_contexts = _Contexts()


def _qdk() -> Any:
    # qdk reports usage unless told not to: qplan never lets it
    os.environ.setdefault("QDK_PYTHON_TELEMETRY", "none")
    import qdk

    return qdk


def _load(kind: str, source: str) -> Any:
    qdk = _qdk()
    context = qdk.Context(target_profile=qdk.TargetProfile.Base)
    try:
        if kind == "openqasm":
            context.import_openqasm(
                openqasm_for_qdk(source), name=ENTRY, program_type=qdk.ProgramType.File
            )
        else:
            context.eval(source)
    except Exception as exc:  # QSharpError, QasmError
        raise CompileError(_message(exc)) from None
    return context


def _message(exc: Exception) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def compile_openqasm(source: str, inputs: Mapping[str, Any], order: Sequence[str]) -> Compiled:
    """QIR of an OpenQASM program with its ``input`` parameters bound, given in ``order``
    (the order of their declarations)."""
    lock, context = _contexts.get("openqasm", source)
    args = [inputs[name] for name in order]
    with lock:
        try:
            program = context.compile(getattr(context.code.qasm_import, ENTRY), *args)
        except Exception as exc:
            raise CompileError(_message(exc)) from None
    return Compiled(str(program), f"ENTRYPOINT__{ENTRY}")


def compile_qsharp(source: str, expression: str) -> Compiled:
    """QIR of Q# ``source`` run through the entry ``expression`` (``Sweep.Run(3, 1.0)``)."""
    lock, context = _contexts.get("qsharp", source)
    with lock:
        try:
            program = context.compile(expression)
        except Exception as exc:
            raise CompileError(_message(exc)) from None
    return Compiled(str(program), "ENTRYPOINT__main")


def _bits(value: Any) -> str:
    """A shot's outcome as a bitstring: results flattened in order (a tuple of registers,
    arrays of results, one result)."""
    if isinstance(value, list | tuple):
        return "".join(_bits(v) for v in value)
    if isinstance(value, bool):
        return "1" if value else "0"
    text = str(value)
    if text in ("One", "1", "Result.One"):
        return "1"
    if text in ("Zero", "0", "Result.Zero"):
        return "0"
    raise ValueError(f"not a measurement result: {value!r}")


def counts_of(shots: Sequence[Any]) -> dict[str, int]:
    """Counts of the shots' outcomes, by bitstring."""
    counts: dict[str, int] = {}
    for shot in shots:
        bits = _bits(shot)
        counts[bits] = counts.get(bits, 0) + 1
    return dict(sorted(counts.items()))


def run_qsharp(source: str, expression: str, shots: int) -> dict[str, int]:
    """Run Q# ``source`` through ``expression`` on qdk's simulator: counts by bitstring."""
    lock, context = _contexts.get("qsharp", source)
    with lock:
        try:
            results = context.run(expression, shots)
        except Exception as exc:
            raise CompileError(_message(exc)) from None
    return counts_of(results)
