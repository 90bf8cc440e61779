"""Pulser sequences as the Pasqal emulator takes and runs them, and the devices it publishes.

A batch carries a sequence in Pulser's abstract representation (JSON text), possibly
parametrized (``declare_variable``) and possibly on a mappable register; each job gives
``variables``, where a mappable register's trap mapping arrives as ``"qubits"``
(``{"q0": 1, "q1": 5}``: a subset of the register's qubit ids to trap ids). A job may instead
carry its own sequence, already built.

``run_job`` builds and simulates one job with pulser-simulation (QuTiP, ``BitStrings`` with one
shot per run) and returns the result file Pasqal serves behind a job's results link:
``{"counter", "raw", "serialised_results"}``. Only declared variables reach ``build`` (Pulser
ignores the others with a warning; here they are ignored quietly, so that a warning never
fails a job under ``-W error``). Simulations hold the kit's ``SIMULATION_LOCK``.

Devices: ``DEVICE_SPECS`` maps each device type to the abstract representation of a Pulser
device named after it. The QPU types (FRESNEL, FRESNEL_CAN1) and EMU_FRESNEL, which mimics
Fresnel, publish Pulser's ``AnalogDevice``. EMU_FREE, EMU_MPS and EMU_SV publish
``AnalogDevice`` with room for larger registers (100 atoms within 50 µm of the centre instead
of 80 within 38 µm) and no layout required: same channels, same limits on pulses, so that
whatever runs on the Fresnel types runs there, as on Pasqal's emulators, which are not bound
to a QPU's calibrated layouts.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

from tests.emulators.kit.simulators import SIMULATION_LOCK

__all__ = [
    "DEVICE_TYPES",
    "InvalidSequence",
    "device_specs",
    "failure_message",
    "max_runs",
    "parse_sequence",
    "run_job",
]

DEVICE_TYPES = ("EMU_FREE", "EMU_MPS", "EMU_SV", "EMU_FRESNEL", "FRESNEL", "FRESNEL_CAN1")
_EMULATED = ("EMU_FREE", "EMU_MPS", "EMU_SV")
_MESSAGE_LIMIT = 2000  # characters of Pulser's message kept in an answer


class InvalidSequence(ValueError):
    """Pulser refused a sequence; the message is Pulser's."""


@functools.cache
def _devices() -> dict[str, Any]:
    from pulser.devices import AnalogDevice

    devices: dict[str, Any] = {}
    for device_type in DEVICE_TYPES:
        if device_type in _EMULATED:
            devices[device_type] = dataclasses.replace(
                AnalogDevice,
                name=device_type,
                max_atom_num=100,
                max_radial_distance=50,
                requires_layout=False,
            )
        else:
            devices[device_type] = dataclasses.replace(AnalogDevice, name=device_type)
    return devices


@functools.cache
def device_specs() -> dict[str, str]:
    """Device type -> the device's abstract representation (JSON text)."""
    return {name: device.to_abstract_repr() for name, device in _devices().items()}


def max_runs(device_type: str) -> int | None:
    """The most runs one job may ask of ``device_type`` (None: no limit)."""
    limit = _devices()[device_type].max_runs
    return None if limit is None else int(limit)


def _pulser_message(exc: Exception) -> str:
    message = str(exc) or type(exc).__name__
    return message if len(message) <= _MESSAGE_LIMIT else message[:_MESSAGE_LIMIT] + "..."


def parse_sequence(text: Any) -> Any:
    """The ``pulser.Sequence`` of an abstract representation; InvalidSequence with Pulser's
    message if it does not deserialize."""
    from pulser import Sequence

    if not isinstance(text, str) or not text:
        raise InvalidSequence("a sequence must be a non-empty string (Pulser's abstract repr)")
    try:
        return Sequence.from_abstract_repr(text)
    except Exception as exc:  # JSON, schema or Pulser's own checks: all refusals
        raise InvalidSequence(_pulser_message(exc)) from None


def _built(sequence: Any, variables: Mapping[str, Any]) -> Any:
    if not (sequence.is_parametrized() or sequence.is_register_mappable()):
        return sequence
    declared = sequence.declared_variables
    arguments = {name: value for name, value in variables.items() if name in declared}
    if "qubits" in variables:
        arguments["qubits"] = variables["qubits"]
    return sequence.build(**arguments)


def run_job(sequence_text: str, variables: Mapping[str, Any], runs: int) -> dict[str, Any]:
    """Build and simulate one job; its result file. Raises what Pulser raises when the job
    cannot be built or run (missing variables, a mapping outside the layout...)."""
    from pulser.backend import BitStrings
    from pulser_simulation import QutipBackendV2, QutipConfig

    built = _built(parse_sequence(sequence_text), variables)
    config = QutipConfig(observables=[BitStrings(num_shots=runs)])
    with SIMULATION_LOCK:
        results = QutipBackendV2(built, config=config).run()
    counter = {bits: int(n) for bits, n in sorted(results.final_bitstrings.items())}
    raw = [bits for bits, n in counter.items() for _ in range(n)]
    return {"counter": counter, "raw": raw, "serialised_results": results.to_abstract_repr()}


def failure_message(exc: Exception) -> str:
    """What a job that could not be built or run shows in ``errors``."""
    return f"{type(exc).__name__}: {_pulser_message(exc)}"
