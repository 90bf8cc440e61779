"""Microsoft's Quantum Development Kit (the ``qdk`` package, the ``qsharp`` successor):
OpenQASM and Q# compiled to QIR for Azure targets, and Q# run on its local simulator.

Each program gets its own ``qdk.Context`` (an isolated interpreter, base profile), made
once and kept for the process: compiling one more point of a sweep then costs a few
tens of milliseconds, not the context's hundred and fifty. qdk's interpreter may only be
used by the thread that made it: every context lives in one thread of this module's,
and the functions below hand their work to it.

OpenQASM written for Braket's simulators (no ``include``, Braket's gate names such as
``cnot``) compiles unchanged: ``stdgates.inc`` is included when the program does not
include it, and the Braket gates it lacks are defined from standard ones. So a sweep
written once runs on the local provider, Braket and Azure.
"""

from __future__ import annotations

import atexit
import gc
import os
import queue
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

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
_HEADER = re.compile(r"^\s*OPENQASM\s+[\d.]+\s*;")
_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)


class CompileError(Exception):
    """The program does not compile (the compiler's message, with its position)."""


@dataclass(frozen=True)
class Compiled:
    """A QIR program (LLVM IR text) and its entry point."""

    qir: str
    entry_point: str


def openqasm_for_qdk(source: str) -> str:
    """``source`` with ``stdgates.inc`` included and Braket's own gate names defined, on
    the line of its ``OPENQASM`` header (or the first line): the compiler's errors then
    name the lines and columns of the program as it was written."""
    code = _COMMENTS.sub(" ", source)
    added: list[str] = []
    if not _INCLUDE.search(code):
        added.append('include "stdgates.inc";')
    for name, definition in _BRAKET_GATES.items():
        used = re.search(rf"(?<![\w.]){name}\s*[(\s]", code)
        defined = re.search(rf"\bgate\s+{name}\b", code)
        if used and not defined:
            added.append(definition)
    if not added:
        return source
    header = _HEADER.match(source)
    if header is None:
        return " ".join(added) + " " + source
    return source[: header.end()] + " " + " ".join(added) + source[header.end() :]


class _Contexts:
    """One context per program, the most recently used kept; used by its thread only."""

    def __init__(self) -> None:
        self._kept: OrderedDict[tuple[str, str], Any] = OrderedDict()

    def get(self, kind: str, source: str) -> Any:
        key = (kind, source)
        context = self._kept.get(key)
        if context is not None:
            self._kept.move_to_end(key)
            return context
        context = _load(kind, source)
        self._kept[key] = context
        if len(self._kept) > CONTEXTS:
            while len(self._kept) > CONTEXTS:
                self._kept.popitem(last=False)
            gc.collect()  # in this thread: contexts hold reference cycles
        return context


_T = TypeVar("_T")


class _Owner:
    """The one thread that makes, uses and drops this process's contexts. A daemon, asked
    to drop them and stop as the interpreter exits (dropped by another thread, qdk's
    native objects complain)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.work: queue.SimpleQueue[tuple[Callable[[_Contexts], Any], Future[Any]] | None]
        self.work = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._serve, name="qplan-qdk", daemon=True)
        self.thread.start()
        atexit.register(self.stop)

    def _serve(self) -> None:
        contexts = _Contexts()
        while (item := self.work.get()) is not None:
            task, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(task(contexts))
            except (KeyboardInterrupt, SystemExit) as exc:
                future.set_exception(exc)
            except BaseException as exc:  # QSharpError, QasmError, pyo3 panics
                # only the message leaves: its traceback holds qdk objects of this thread
                future.set_exception(CompileError(_message(exc)))
            del item, task, future
        del contexts  # dropped here, in their own thread (they hold reference cycles)
        gc.collect()

    def run(self, task: Callable[[_Contexts], _T]) -> _T:
        future: Future[_T] = Future()
        self.work.put((task, future))
        return future.result()

    def stop(self) -> None:
        if self.pid == os.getpid() and self.thread.is_alive():
            self.work.put(None)
            self.thread.join(timeout=10)


_owners: dict[int, _Owner] = {}
_owners_lock = threading.Lock()


def _in_thread(work: Callable[[_Contexts], _T]) -> _T:
    """Run ``work`` in the thread that owns this process's contexts (a forked child makes
    its own). Its errors, a panic of qdk's native code included, are ``CompileError``."""
    pid = os.getpid()
    with _owners_lock:
        owner = _owners.get(pid)
        if owner is None:
            _owners.clear()  # a parent's: its thread does not exist in this process
            owner = _owners[pid] = _Owner()
    return owner.run(work)


def _qdk() -> Any:
    # qdk reports usage unless told not to: qplan never lets it
    os.environ.setdefault("QDK_PYTHON_TELEMETRY", "none")
    import qdk

    return qdk


def _load(kind: str, source: str) -> Any:
    qdk = _qdk()
    context = qdk.Context(target_profile=qdk.TargetProfile.Base)
    error = None
    try:
        if kind == "openqasm":
            context.import_openqasm(
                openqasm_for_qdk(source), name=ENTRY, program_type=qdk.ProgramType.File
            )
        else:
            context.eval(source)
    except Exception as exc:  # QSharpError, QasmError
        error = _message(exc)
    if error is not None:
        del context  # dropped now, in this thread, not with a traceback elsewhere
        gc.collect()
        raise CompileError(error)
    return context


def _message(exc: BaseException) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def compile_openqasm(source: str, inputs: Mapping[str, Any], order: Sequence[str]) -> Compiled:
    """QIR of an OpenQASM program with its ``input`` parameters bound, given in ``order``
    (the order of their declarations)."""
    args = [inputs[name] for name in order]

    def work(contexts: _Contexts) -> Compiled:
        context = contexts.get("openqasm", source)
        program = context.compile(getattr(context.code.qasm_import, ENTRY), *args)
        return Compiled(str(program), f"ENTRYPOINT__{ENTRY}")

    return _in_thread(work)


def compile_qsharp(source: str, expression: str) -> Compiled:
    """QIR of Q# ``source`` run through the entry ``expression`` (``Sweep.Run(3, 1.0)``)."""

    def work(contexts: _Contexts) -> Compiled:
        program = contexts.get("qsharp", source).compile(expression)
        return Compiled(str(program), "ENTRYPOINT__main")

    return _in_thread(work)


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

    def work(contexts: _Contexts) -> dict[str, int]:
        return counts_of(contexts.get("qsharp", source).run(expression, shots))

    return _in_thread(work)
