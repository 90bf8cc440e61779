"""Runs one program on a local simulator, in a worker process of the local provider.

Results are plain dicts, safe to send between processes:
``{"counts": {bitstring: n}, "raw": {...}}``.

A worker lives exactly as long as the qplan process that started it: ``init`` watches a
pipe whose only writer is that process, and ends the worker the moment the pipe closes,
whatever killed qplan (SIGKILL included). The fork server then ends too, once no worker
is left. A worker never receives a terminal's Ctrl-C: the fork server is started with
SIGINT blocked, and every worker inherits that; qplan itself decides what an interrupt
stops.

Each run, in order: gives up at once if its cancel marker exists (cancelled before it
started), creates its start marker (a timeout counts from there, not from qplan's own
queue), runs, writes its result durably when asked (``result_file``, atomically, before
the run is reported ended), and only then reports the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

_SIMULATORS: dict[str, Any] = {}
HANG_LIMIT = 3600.0
JOURNAL_ENV = "QPLAN_LOCAL_JOURNAL"

__all__ = ["JOURNAL_ENV", "QsharpError", "Run", "RunCancelled", "init", "run", "write_result"]


class RunCancelled(Exception):
    """The run was cancelled: before it started, or (fault ``hang``) while it waited."""


class QsharpError(Exception):
    """A Q# program did not compile, or failed as it ran (qdk's message)."""


@dataclass(frozen=True)
class Run:
    """One run, as the local provider sends it to a worker. ``expression``: for a Q#
    program, the call of its entry operation that binds the inputs."""

    device: str
    format: str
    program: str
    shots: int
    inputs: dict[str, Any] = field(default_factory=dict)
    expression: str = ""
    fault: str | None = None
    address: str = ""
    key: str = ""
    cancel_marker: str = ""
    start_marker: str = ""
    result_file: str = ""


def init(lifeline: Connection) -> None:
    """Worker initializer: end this worker when the qplan process that owns it is gone."""
    threading.Thread(
        target=_end_with_owner, args=(lifeline,), name="qplan-lifeline", daemon=True
    ).start()


def _end_with_owner(lifeline: Connection) -> None:
    with contextlib.suppress(EOFError, OSError):
        lifeline.recv_bytes()  # nothing is ever sent: this returns when the writer is gone
    os._exit(0)


def _openqasm3(device: str, text: str, shots: int, inputs: dict[str, Any]) -> dict[str, Any]:
    """Braket's local simulators, called directly: the engines that ``LocalSimulator``
    (``braket_sv``, ``braket_dm``) wraps, without its task layer (a fifth of the time)."""
    from braket.default_simulator import DensityMatrixSimulator, StateVectorSimulator
    from braket.ir.openqasm import Program

    simulator = _SIMULATORS.get(device)
    if simulator is None:
        engine = {"braket_sv": StateVectorSimulator, "braket_dm": DensityMatrixSimulator}[device]
        simulator = _SIMULATORS[device] = engine()
    with warnings.catch_warnings():
        # "noise-free circuit on the density matrix simulator": the manifest chose that
        # target on purpose; each worker would print the advice to stderr once more
        warnings.simplefilter("ignore", UserWarning)
        result = simulator.run_openqasm(Program(source=text, inputs=inputs or None), shots=shots)
    counts: dict[str, int] = {}
    for measurement in result.measurements or ():
        bits = "".join(str(b) for b in measurement)
        counts[bits] = counts.get(bits, 0) + 1
    return {
        "counts": dict(sorted(counts.items())),
        "raw": {"measured_qubits": result.measuredQubits},
    }


def _pulser(text: str, shots: int, inputs: dict[str, Any]) -> dict[str, Any]:
    from pulser import Sequence
    from pulser.backend import BitStrings
    from pulser_simulation import QutipBackendV2, QutipConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sequence = Sequence.from_abstract_repr(text)
        built = sequence.build(**inputs) if inputs else sequence
        results = QutipBackendV2(
            built, config=QutipConfig(observables=[BitStrings(num_shots=shots)])
        ).run()
    counts = {str(k): int(v) for k, v in sorted(results.final_bitstrings.items())}
    return {"counts": counts, "raw": {"atom_order": list(built.register.qubit_ids)}}


_OWN_ENTRY_POINT = "entry point cannot have parameters"


def _qsharp(text: str, expression: str, shots: int) -> dict[str, Any]:
    """qdk's simulator, through the program's own context (kept by ``qdk`` for the
    process: the next point of a sweep compiles in milliseconds)."""
    from qplan.providers.qdk import CompileError, run_qsharp

    try:
        counts = run_qsharp(text, expression, shots)
    except CompileError as exc:
        message = str(exc)
        if _OWN_ENTRY_POINT in message:
            message += (
                "\nqdk takes an operation named Main (or marked @EntryPoint()) as the "
                "program's own entry point, which cannot have parameters: rename it "
                "(Run, say) and name it in the program's entry"
            )
        raise QsharpError(message) from None
    return {"counts": counts, "raw": {"expression": expression}}


def _journal(event: str, address: str, key: str) -> None:
    """Append one line to the run journal, if ``QPLAN_LOCAL_JOURNAL`` names a file.
    Lines are short single writes in append mode, so concurrent workers do not mix them."""
    path = os.environ.get(JOURNAL_ENV)
    if not path:
        return
    line = json.dumps(
        {"event": event, "address": address, "key": key, "at": time.time(), "pid": os.getpid()}
    )
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def write_result(path: str, result: dict[str, Any]) -> None:
    """Write ``result`` to ``path`` all at once: a reader finds the whole result or none."""
    partial = f"{path}.{os.getpid()}.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(result, separators=(",", ":")).encode())
    finally:
        os.close(fd)
    os.replace(partial, path)


def run(spec: Run) -> dict[str, Any]:
    """Run one job; raises on failure (the message becomes the job's error), RunCancelled
    when it was cancelled before it started."""
    if spec.cancel_marker and os.path.exists(spec.cancel_marker):
        raise RunCancelled("cancelled before it started")
    if spec.start_marker:
        os.close(os.open(spec.start_marker, os.O_WRONLY | os.O_CREAT, 0o600))
    _journal("start", spec.address, spec.key)
    result = _run(spec)
    if spec.result_file:
        write_result(spec.result_file, result)
    _journal("end", spec.address, spec.key)
    return result


def _run(spec: Run) -> dict[str, Any]:
    if spec.fault == "fail":
        raise RuntimeError("injected failure (local provider faults)")
    if spec.fault == "hang":
        deadline = time.monotonic() + HANG_LIMIT
        while time.monotonic() < deadline:
            if os.path.exists(spec.cancel_marker):
                raise RunCancelled("cancelled while hanging (local provider faults)")
            time.sleep(0.02)
        raise RuntimeError("hung for an hour (local provider faults)")
    if spec.format == "openqasm3":
        return _openqasm3(spec.device, spec.program, spec.shots, spec.inputs)
    if spec.format == "pulser":
        return _pulser(spec.program, spec.shots, spec.inputs)
    if spec.format == "qsharp":
        return _qsharp(spec.program, spec.expression, spec.shots)
    raise ValueError(f"the local provider cannot run {spec.format}")
