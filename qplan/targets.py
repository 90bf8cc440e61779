"""What each provider type can run: its devices and the program formats each device accepts.

Pure data, no SDK imports: the manifest checks a job's format against it at ``validate``
time, and the provider modules read their devices from it. A device name that a provider
type does not know is an error unless the type accepts open-ended device names (Azure
target ids by vendor prefix, Braket device ARNs).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "FORMATS",
    "PROVIDER_TYPES",
    "REFUSED_PARAMS",
    "DeviceInfo",
    "FormatInfo",
    "FormatKind",
    "ParamKind",
    "ProviderType",
    "TargetParam",
    "device_info",
    "target_params",
]


class FormatKind(StrEnum):
    """How a program's text is read: parsed for parameters, JSON passed through, or bytes;
    ``HYBRID``: a Python source folder or file, packed as a deterministic archive."""

    OPENQASM3 = "openqasm3"
    QSHARP = "qsharp"
    PULSER = "pulser"
    JSON = "json"
    TEXT = "text"
    BINARY = "binary"
    HYBRID = "hybrid"


@dataclass(frozen=True, slots=True)
class FormatInfo:
    name: str
    kind: FormatKind
    description: str

    @property
    def declares_parameters(self) -> bool:
        """Whether qplan reads declared parameters from programs of this format."""
        return self.kind in (FormatKind.OPENQASM3, FormatKind.QSHARP, FormatKind.PULSER)


FORMATS: dict[str, FormatInfo] = {
    f.name: f
    for f in (
        FormatInfo("openqasm3", FormatKind.OPENQASM3, "OpenQASM 3 with `input` parameters"),
        FormatInfo("qsharp", FormatKind.QSHARP, "Q# source, run through its `entry` operation"),
        FormatInfo("pulser", FormatKind.PULSER, "Pulser abstract representation (JSON)"),
        FormatInfo("ionq.circuit.v1", FormatKind.JSON, "IonQ JSON circuit (Azure Quantum)"),
        FormatInfo("honeywell.openqasm.v1", FormatKind.TEXT, "OpenQASM 2 for Quantinuum (Azure)"),
        FormatInfo("rigetti.quil.v1", FormatKind.TEXT, "Quil for Rigetti (Azure Quantum)"),
        FormatInfo("qir.v1", FormatKind.BINARY, "QIR bitcode (Azure Quantum)"),
        FormatInfo("braket.ir.ahs", FormatKind.JSON, "Analog Hamiltonian Simulation program"),
        FormatInfo("pasqal.pulser.v1", FormatKind.JSON, "Pulser sequence for Pasqal (Azure)"),
        FormatInfo(
            "braket.hybrid",
            FormatKind.HYBRID,
            "Amazon Braket hybrid job: a Python folder or file run with its entry point",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One device of a provider type. ``paid`` is False for free simulators and emulators."""

    name: str
    formats: tuple[str, ...]
    paid: bool
    description: str = ""


@dataclass(frozen=True, slots=True)
class ProviderType:
    """``cancel_members``: a member of a native batch can be cancelled alone (a Pasqal
    batch's job); False: its batch is one provider job (a Braket program set), cancelled
    whole."""

    name: str
    devices: dict[str, DeviceInfo]
    open_ended_hint: str = ""
    cancel_members: bool = False

    def lookup(self, device: str) -> DeviceInfo | None:
        known = self.devices.get(device) or self.devices.get(device.lower())
        if known is not None:
            return known
        return _open_ended(self.name, device)


def _devices(*infos: DeviceInfo) -> dict[str, DeviceInfo]:
    return {d.name: d for d in infos}


# A hybrid job's target is the device its tasks go to: every Braket device, and the local
# Braket simulators (where the job itself runs is its provider type's business)
_HYBRID = "braket.hybrid"
_QASM = ("openqasm3",)
_BRAKET_QASM = (*_QASM, _HYBRID)
_BRAKET_AHS = ("braket.ir.ahs", _HYBRID)

PROVIDER_TYPES: dict[str, ProviderType] = {
    "local": ProviderType(
        "local",
        _devices(
            DeviceInfo("braket_sv", _BRAKET_QASM, False, "Braket local state-vector simulator"),
            DeviceInfo("braket_dm", _BRAKET_QASM, False, "Braket local density-matrix simulator"),
            DeviceInfo("qutip", ("pulser",), False, "pulser-simulation (QuTiP) emulator"),
            DeviceInfo("qsharp", ("qsharp",), False, "qdk's Q# simulator"),
        ),
    ),
    "braket": ProviderType(
        "braket",
        _devices(
            DeviceInfo("sv1", _BRAKET_QASM, True, "state-vector simulator"),
            DeviceInfo("dm1", _BRAKET_QASM, True, "density-matrix simulator"),
            DeviceInfo("tn1", _BRAKET_QASM, True, "tensor-network simulator"),
            DeviceInfo("ionq/aria-1", _BRAKET_QASM, True),
            DeviceInfo("ionq/forte-1", _BRAKET_QASM, True),
            DeviceInfo("ionq/forte-enterprise-1", _BRAKET_QASM, True),
            DeviceInfo("iqm/garnet", _BRAKET_QASM, True),
            DeviceInfo("iqm/emerald", _BRAKET_QASM, True),
            DeviceInfo("rigetti/ankaa-3", _BRAKET_QASM, True),
            DeviceInfo("quera/aquila", _BRAKET_AHS, True),
        ),
        "a short name or a device ARN (arn:aws:braket:...)",
    ),
    "azure": ProviderType(
        "azure",
        {},
        "an Azure Quantum target id starting with ionq., quantinuum., rigetti. or pasqal.",
    ),
    "pasqal": ProviderType(
        "pasqal",
        _devices(
            DeviceInfo("EMU_FREE", ("pulser",), False, "free emulator"),
            DeviceInfo("EMU_MPS", ("pulser",), True),
            DeviceInfo("EMU_SV", ("pulser",), True),
            DeviceInfo("EMU_FRESNEL", ("pulser",), True),
            DeviceInfo("FRESNEL", ("pulser",), True),
            DeviceInfo("FRESNEL_CAN1", ("pulser",), True),
        ),
        cancel_members=True,
    ),
}

# Q# and OpenQASM 3 go to the gate-based vendors as QIR, compiled by the Azure provider
_COMPILED = ("qir.v1", "qsharp", "openqasm3")
_AZURE_VENDORS: dict[str, tuple[str, ...]] = {
    "ionq": ("ionq.circuit.v1", *_COMPILED),
    "quantinuum": ("honeywell.openqasm.v1", *_COMPILED),
    "rigetti": ("rigetti.quil.v1", *_COMPILED),
    # Pulser's abstract representation goes to Pasqal Cloud (the pasqal provider); Azure's
    # Pasqal targets take their own input format, pasqal.pulser.v1, as it is
    "pasqal": ("pasqal.pulser.v1",),
}


def _open_ended(provider_type: str, device: str) -> DeviceInfo | None:
    if provider_type == "azure":
        vendor, dot, rest = device.partition(".")
        formats = _AZURE_VENDORS.get(vendor)
        if formats is None or not dot or not rest:
            return None
        free = ".sim" in device or device.endswith(".simulator")
        return DeviceInfo(device, formats, not free)
    if provider_type == "braket" and device.startswith("arn:aws:braket:"):
        _, _, path = device.partition("::device/")
        if not path:
            return None
        formats = _BRAKET_AHS if "/quera/" in f"/{path}/" else _BRAKET_QASM
        return DeviceInfo(device, formats, True)
    return None


def device_info(provider_type: str, device: str) -> DeviceInfo | None:
    """The device named ``device`` of ``provider_type``, or None when it does not exist."""
    ptype = PROVIDER_TYPES.get(provider_type)
    return None if ptype is None else ptype.lookup(device)


# --- target input parameters (a job's ``params:``) -----------------------------------------


class ParamKind(StrEnum):
    """The values a target input parameter takes."""

    BOOL = "bool"
    INT = "int"  # a non-negative integer
    CHOICE = "choice"  # one of ``choices``
    MAPPING = "mapping"  # a mapping of the known ``fields``
    ANY_MAPPING = "any mapping"  # a mapping passed on unchecked


@dataclass(frozen=True, slots=True)
class TargetParam:
    """An input parameter a target takes, passed to the provider as written. ``fields``:
    the keys of a ``MAPPING``; ``required``: a field its mapping must have."""

    name: str
    kind: ParamKind
    description: str
    choices: tuple[str, ...] = ()
    fields: tuple[TargetParam, ...] = ()
    required: bool = False


REFUSED_PARAMS = frozenset({"shots", "count", "runs"})
"""Input parameters qplan sets itself, from the job's ``shots``, on every target."""

_IONQ_NOISE_MODELS = ("ideal", "harmony", "aria-1", "aria-2", "forte-1", "forte-enterprise-1")

# What each Azure vendor's targets document as input parameters, less the shot count. A
# small set, each one a setting that changes how the job runs, never what it returns.
_AZURE_PARAMS: dict[str, tuple[TargetParam, ...]] = {
    "ionq": (
        TargetParam(
            "noise",
            ParamKind.MAPPING,
            "simulator: the noise model of an IonQ QPU (or ideal)",
            fields=(
                TargetParam(
                    "model",
                    ParamKind.CHOICE,
                    "the QPU whose noise is simulated",
                    choices=_IONQ_NOISE_MODELS,
                    required=True,
                ),
                TargetParam("seed", ParamKind.INT, "seed of the noisy simulation"),
            ),
        ),
        TargetParam(
            "error_mitigation",
            ParamKind.MAPPING,
            "QPUs: IonQ's error mitigation",
            fields=(
                TargetParam(
                    "debias",
                    ParamKind.BOOL,
                    "debiasing: symmetric variants of the circuit, aggregated",
                    required=True,
                ),
            ),
        ),
    ),
    "quantinuum": (
        TargetParam(
            "error-model",
            ParamKind.BOOL,
            "emulators: false runs without the device's noise model (shot noise only)",
        ),
        TargetParam(
            "simulator",
            ParamKind.CHOICE,
            "emulators: state-vector (the default) or stabilizer (Clifford circuits only)",
            choices=("state-vector", "stabilizer"),
        ),
        TargetParam(
            "error-params",
            ParamKind.ANY_MAPPING,
            "emulators: parameters of the noise model overridden (p1, p2, p_meas, ...)",
        ),
        TargetParam("no-opt", ParamKind.BOOL, "true: the compiler does not optimise the circuit"),
    ),
    "rigetti": (
        TargetParam(
            "skipQuilc",
            ParamKind.BOOL,
            "true: the program is not compiled by quilc (Quil-T programs need it)",
        ),
    ),
    "pasqal": (),
}


def target_params(provider_type: str, device: str) -> dict[str, TargetParam]:
    """The input parameters qplan knows ``device`` of ``provider_type`` to take, by name:
    none for the local simulators, Braket and Pasqal Cloud, a few per Azure vendor."""
    if provider_type != "azure":
        return {}
    vendor = device.partition(".")[0]
    return {param.name: param for param in _AZURE_PARAMS.get(vendor, ())}
