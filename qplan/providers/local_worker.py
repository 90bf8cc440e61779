"""Runs one program on a local simulator, in a worker process of the local provider.

Results are plain dicts, safe to send between processes:
``{"counts": {bitstring: n}, "raw": {...}}``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

_SIMULATORS: dict[str, Any] = {}
HANG_LIMIT = 3600.0


def _openqasm3(device: str, text: str, shots: int, inputs: dict[str, Any]) -> dict[str, Any]:
    """Braket's local simulators, called directly: the engines that ``LocalSimulator``
    (``braket_sv``, ``braket_dm``) wraps, without its task layer (a fifth of the time)."""
    from braket.default_simulator import DensityMatrixSimulator, StateVectorSimulator
    from braket.ir.openqasm import Program

    simulator = _SIMULATORS.get(device)
    if simulator is None:
        engine = {"braket_sv": StateVectorSimulator, "braket_dm": DensityMatrixSimulator}[device]
        simulator = _SIMULATORS[device] = engine()
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
    import warnings

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


JOURNAL_ENV = "QPLAN_LOCAL_JOURNAL"


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


def run(
    device: str,
    fmt: str,
    text: str,
    shots: int,
    inputs: dict[str, Any],
    fault: str | None,
    cancel_marker: str,
    address: str = "",
    key: str = "",
) -> dict[str, Any]:
    """Run one job; raises on failure (the message becomes the job's error)."""
    _journal("start", address, key)
    result = _run(device, fmt, text, shots, inputs, fault, cancel_marker)
    _journal("end", address, key)
    return result


def _run(
    device: str,
    fmt: str,
    text: str,
    shots: int,
    inputs: dict[str, Any],
    fault: str | None,
    cancel_marker: str,
) -> dict[str, Any]:
    if fault == "fail":
        raise RuntimeError("injected failure (local provider faults)")
    if fault == "hang":
        deadline = time.monotonic() + HANG_LIMIT
        while time.monotonic() < deadline:
            if os.path.exists(cancel_marker):
                raise RuntimeError("cancelled while hanging (local provider faults)")
            time.sleep(0.02)
        raise RuntimeError("hung for an hour (local provider faults)")
    if fmt == "openqasm3":
        return _openqasm3(device, text, shots, inputs)
    if fmt == "pulser":
        return _pulser(text, shots, inputs)
    raise ValueError(f"the local provider cannot run {fmt}")
