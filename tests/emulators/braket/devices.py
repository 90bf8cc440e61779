"""The devices the Braket emulator serves: the three on-demand simulators SV1, DM1 and TN1.

``GetDevice`` returns ``deviceCapabilities`` as a JSON *string* (the model marks the member
``jsonvalue``) in the ``braket.device_schema.simulators.gate_model_simulator_device_capabilities``
v1 schema, which ``AwsDevice`` parses with ``BraketSchemaBase.parse_raw_schema``. The document is
built from the capabilities that ``braket.default_simulator`` publishes for its own local
simulators, with the service block (shots range, price, poll interval) and the paradigm
(qubit count) of the managed simulators, and only the actions the emulator can run:
``braket.ir.openqasm.program`` on every device, and ``braket.ir.openqasm.program_set``
(``OpenQASMProgramSetDeviceActionProperties``: ``maximumExecutables``
``PROGRAM_SET_MAX_EXECUTABLES``, ``maximumTotalShots`` ``PROGRAM_SET_MAX_TOTAL_SHOTS``) on SV1
and DM1 only, so that clients can exercise their fallback on TN1.

SV1 and TN1 run on ``StateVectorSimulator`` and DM1 on ``DensityMatrixSimulator``
(there is no local tensor-network simulator; TN1 keeps its own qubit count and shots range).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = [
    "DEVICES",
    "OPENQASM_ACTION",
    "PROGRAM_SET_ACTION",
    "PROGRAM_SET_MAX_EXECUTABLES",
    "PROGRAM_SET_MAX_TOTAL_SHOTS",
    "DeviceSpec",
    "capabilities_json",
    "device_by_arn",
]

OPENQASM_ACTION = "braket.ir.openqasm.program"
PROGRAM_SET_ACTION = "braket.ir.openqasm.program_set"
PROGRAM_SET_MAX_EXECUTABLES = 100  # maximumExecutables of the program set action
PROGRAM_SET_MAX_TOTAL_SHOTS = 200_000  # maximumTotalShots of the program set action
_UPDATED_AT = "2024-01-01T00:00:00+00:00"


@dataclass(frozen=True)
class DeviceSpec:
    """One emulated device: identity as ``GetDevice`` shows it and what it runs on."""

    arn: str
    name: str
    simulator: str  # "sv" (StateVectorSimulator) or "dm" (DensityMatrixSimulator)
    qubit_count: int
    shots_min: int
    shots_max: int
    price_per_minute: float
    program_sets: bool = False  # advertises and runs PROGRAM_SET_ACTION
    provider_name: str = "Amazon Braket"
    device_type: str = "SIMULATOR"

    @property
    def actions(self) -> tuple[str, ...]:
        """The action types the device advertises (and CreateQuantumTask accepts)."""
        return (OPENQASM_ACTION, PROGRAM_SET_ACTION) if self.program_sets else (OPENQASM_ACTION,)


DEVICES: dict[str, DeviceSpec] = {
    spec.arn: spec
    for spec in (
        DeviceSpec(
            arn="arn:aws:braket:::device/quantum-simulator/amazon/sv1",
            name="SV1",
            simulator="sv",
            qubit_count=34,
            shots_min=0,
            shots_max=100_000,
            price_per_minute=0.075,
            program_sets=True,
        ),
        DeviceSpec(
            arn="arn:aws:braket:::device/quantum-simulator/amazon/dm1",
            name="dm1",
            simulator="dm",
            qubit_count=17,
            shots_min=0,
            shots_max=100_000,
            price_per_minute=0.075,
            program_sets=True,
        ),
        DeviceSpec(
            arn="arn:aws:braket:::device/quantum-simulator/amazon/tn1",
            name="TN1",
            simulator="sv",
            qubit_count=50,
            shots_min=0,
            shots_max=1_000,
            price_per_minute=0.275,
        ),
    )
}


def device_by_arn(arn: str) -> DeviceSpec | None:
    """The device with this ARN, or None (the caller answers ResourceNotFoundException)."""
    return DEVICES.get(arn)


def _local_capabilities(simulator: str) -> dict[str, Any]:
    from braket.default_simulator import DensityMatrixSimulator, StateVectorSimulator

    local = DensityMatrixSimulator() if simulator == "dm" else StateVectorSimulator()
    document: dict[str, Any] = json.loads(local.properties.json())
    return document


def _program_set_action() -> dict[str, Any]:
    """The ``braket.ir.openqasm.program_set`` entry of ``deviceCapabilities.action``."""
    from braket.device_schema import OpenQASMProgramSetDeviceActionProperties

    properties = OpenQASMProgramSetDeviceActionProperties(
        actionType=PROGRAM_SET_ACTION,
        version=["1"],
        maximumExecutables=PROGRAM_SET_MAX_EXECUTABLES,
        maximumTotalShots=PROGRAM_SET_MAX_TOTAL_SHOTS,
    )
    entry: dict[str, Any] = json.loads(properties.json(exclude_none=True))
    return entry


@cache
def capabilities_json(arn: str, poll_interval_ms: int) -> str:
    """The ``deviceCapabilities`` string of a device, checked against the SDK's schema."""
    from braket.device_schema.simulators import GateModelSimulatorDeviceCapabilities

    spec = DEVICES[arn]
    document = _local_capabilities(spec.simulator)
    document["braketSchemaHeader"] = {
        "name": "braket.device_schema.simulators.gate_model_simulator_device_capabilities",
        "version": "1",
    }
    document["service"] = {
        "braketSchemaHeader": {
            "name": "braket.device_schema.device_service_properties",
            "version": "1",
        },
        "executionWindows": [
            {"executionDay": "Everyday", "windowStartHour": "00:00", "windowEndHour": "23:59:59"}
        ],
        "shotsRange": [spec.shots_min, spec.shots_max],
        "deviceCost": {"price": spec.price_per_minute, "unit": "minute"},
        "deviceDocumentation": {
            "imageUrl": "",
            "summary": f"{spec.name} (emulated on braket.default_simulator)",
            "externalDocumentationUrl": "",
        },
        "deviceLocation": "us-east-1",
        "updatedAt": _UPDATED_AT,
        "getTaskPollIntervalMillis": poll_interval_ms,
    }
    actions = {OPENQASM_ACTION: document["action"][OPENQASM_ACTION]}
    if spec.program_sets:
        actions[PROGRAM_SET_ACTION] = _program_set_action()
    document["action"] = actions
    document["paradigm"] = {
        "braketSchemaHeader": {
            "name": "braket.device_schema.simulators.gate_model_simulator_paradigm_properties",
            "version": "1",
        },
        "qubitCount": spec.qubit_count,
    }
    text = json.dumps(document)
    GateModelSimulatorDeviceCapabilities.parse_raw(text)  # what AwsDevice will parse
    return text
