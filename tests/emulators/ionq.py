"""IonQ JSON circuits (``ionq.circuit.v1``, gateset ``qis``) translated to OpenQASM 3, so
that they run on Braket's local simulator. Used by tests and by the Azure emulator."""

from __future__ import annotations

from typing import Any

_ONE_QUBIT = {
    "h": "h",
    "x": "x",
    "y": "y",
    "z": "z",
    "s": "s",
    "si": "sdg",
    "t": "t",
    "ti": "tdg",
    "v": "v",
    "vi": "vi",
}
_ROTATIONS = {"rx", "ry", "rz"}


def _qubits(op: dict[str, Any], key: str) -> list[int]:
    many = op.get(key + "s")
    if many is not None:
        return [int(q) for q in many]
    one = op.get(key)
    return [] if one is None else [int(one)]


def to_openqasm3(circuit: dict[str, Any]) -> str:
    """OpenQASM 3 text measuring every qubit. Raises ValueError for unsupported gates."""
    if circuit.get("gateset", "qis") != "qis":
        raise ValueError(f"unsupported gateset {circuit.get('gateset')!r}")
    n = int(circuit["qubits"])
    lines = ["OPENQASM 3.0;", f"qubit[{n}] q;", f"bit[{n}] c;"]
    for op in circuit["circuit"]:
        gate = op["gate"]
        targets = _qubits(op, "target")
        controls = _qubits(op, "control")
        if gate == "cnot":
            gate = "x"
        if gate == "swap":
            lines.append(f"swap q[{targets[0]}], q[{targets[1]}];")
            continue
        if gate in _ROTATIONS:
            name = f"{gate}({float(op['rotation'])!r})"
        elif gate in _ONE_QUBIT:
            name = _ONE_QUBIT[gate]
        else:
            raise ValueError(f"unsupported gate {gate!r}")
        prefix = "ctrl @ " * len(controls)
        operands = ", ".join(f"q[{i}]" for i in [*controls, *targets])
        lines.append(f"{prefix}{name} {operands};")
    lines.append("c = measure q;")
    return "\n".join(lines) + "\n"
