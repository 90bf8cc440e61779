"""Running programs on the local simulators, for emulators whose jobs produce real results.

``run_openqasm`` runs an OpenQASM 3 program on ``braket.default_simulator`` (state vector or
density matrix); emulators of services that take other formats translate to OpenQASM 3 first
(IonQ JSON circuits: ``tests.emulators.ionq``). Simulations are serialised process-wide by
``SIMULATION_LOCK``: the simulator's numba kernels are compiled on first use, and concurrent
compilation from several threads aborts the interpreter. Run simulations on an emulator's
``JobEngine`` pool, never on an HTTP thread.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["SIMULATION_LOCK", "openqasm_error", "run_openqasm"]

SIMULATION_LOCK = threading.Lock()


@functools.cache
def _quiet_density_matrix_simulator_class() -> type:
    """``DensityMatrixSimulator`` without its UserWarning for noise-free circuits: a managed
    density-matrix simulator does not warn, and a warning raised in a worker under ``-W error``
    would fail the job. (The skipped check only rejects noise on simulators without noise
    support.)"""
    from braket.default_simulator import DensityMatrixSimulator

    class QuietDensityMatrixSimulator(DensityMatrixSimulator):  # type: ignore[misc]
        def _validate_ir_instructions_compatibility(
            self, circuit_ir: Any, device_action_type: Any
        ) -> None:
            return None

    return QuietDensityMatrixSimulator


def run_openqasm(
    source: str, inputs: Mapping[str, Any], shots: int, *, simulator: str = "sv"
) -> tuple[Any, Any, int]:
    """Run one program: (the ``GateModelTaskResult``, the ``Program`` run, the simulation time
    in milliseconds). ``simulator``: "sv" (state vector) or "dm" (density matrix). Raises what
    the simulator raises for an invalid program (e.g. an undefined gate)."""
    from braket.default_simulator import StateVectorSimulator
    from braket.ir.openqasm import Program

    if simulator not in ("sv", "dm"):
        raise ValueError(f"simulator must be 'sv' or 'dm', not {simulator!r}")
    program = Program(source=source, inputs=dict(inputs))
    runner = (
        _quiet_density_matrix_simulator_class()() if simulator == "dm" else StateVectorSimulator()
    )
    with SIMULATION_LOCK:
        started = time.monotonic()
        result = runner.run(program, shots=shots)
    return result, program, int((time.monotonic() - started) * 1000)


def openqasm_error(source: str) -> str | None:
    """Why the OpenQASM 3 parser rejects ``source``, or None if it parses."""
    from braket.default_simulator.openqasm.parser.openqasm_parser import parse

    try:
        parse(source)
    except Exception as exc:
        return str(exc) or type(exc).__name__
    return None
