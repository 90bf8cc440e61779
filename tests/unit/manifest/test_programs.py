"""Programs: declared parameters read from OpenQASM 3 and Pulser, and binding checks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import qplan
from qplan.manifest.models import ProgramSpec
from qplan.manifest.programs import ProgramProblem, load_program

QASM_ALL = """\
OPENQASM 3.0;
input float theta;
input angle[32] phi;
input int[8] n;
input uint m;
input bool flag;
input bit b;
input bit[3] bits;
input array[float[64], 2] pair;
output bit c;
qubit q;
rx(theta) q;
"""


def test_openqasm3_input_kinds(tmp_path: Path) -> None:
    program = load_program("p", ProgramSpec(format="openqasm3", source=QASM_ALL), tmp_path)
    kinds = {name: (p.kind, p.size) for name, p in program.parameters.items()}
    assert kinds == {
        "theta": ("float", None),
        "phi": ("float", None),
        "n": ("int", None),
        "m": ("uint", None),
        "flag": ("bool", None),
        "b": ("bit", None),
        "bits": ("bits", 3),
        "pair": ("float", 2),
    }
    params = program.parameters
    assert params["pair"].coerce([1, 2]) == [1.0, 2.0]
    assert params["bits"].coerce("101") == "101"
    assert params["b"].coerce(True) == 1
    for name, bad in (("m", -1), ("flag", 1), ("theta", True), ("bits", "12"), ("pair", [1])):
        with pytest.raises(ValueError):
            params[name].coerce(bad)


def test_qasm_syntax_error_is_located_in_the_program_file(tmp_path: Path) -> None:
    (tmp_path / "bad.qasm").write_text("OPENQASM 3.0;\nqubit q\nh q;\n")
    with pytest.raises(ProgramProblem) as info:
        load_program("p", ProgramSpec(format="openqasm3", path="bad.qasm"), tmp_path)
    assert (info.value.line, info.value.column) == (3, 1)
    assert info.value.file == (tmp_path / "bad.qasm").resolve()
    assert "missing ';'" in info.value.message


def test_every_qasm_syntax_error_is_reported(tmp_path: Path) -> None:
    (tmp_path / "bad.qasm").write_text(
        "OPENQASM 3.0;\nqubit q;\nh q\nx q;\nbit c;\ny q\nc = measure q;\nx q;;\n"
    )
    with pytest.raises(ProgramProblem) as info:
        load_program("p", ProgramSpec(format="openqasm3", path="bad.qasm"), tmp_path)
    assert [(e.line, e.column, e.message) for e in info.value.errors] == [
        (4, 1, "OpenQASM 3 syntax error: missing ';' at 'x'"),
        (7, 1, "OpenQASM 3 syntax error: missing ';' at 'c'"),
        # antlr lists the ~60 tokens a statement may start with; they are left out
        (8, 5, "OpenQASM 3 syntax error: extraneous input ';'"),
    ]


def test_one_qasm_syntax_error_per_place(tmp_path: Path) -> None:
    source = "OPENQASM 3.0;\ninput float theta;\nqubit q;\nrx(theta q;\n"
    with pytest.raises(ProgramProblem) as info:
        load_program("p", ProgramSpec(format="openqasm3", source=source), tmp_path)
    # antlr also says "no viable alternative at input 'rx(thetaq'" there
    assert [(e.line, e.column, e.message) for e in info.value.errors] == [
        (4, 10, "OpenQASM 3 syntax error: mismatched input 'q' expecting ')'"),
    ]


def test_qasm_syntax_errors_are_capped(tmp_path: Path) -> None:
    source = "OPENQASM 3.0;\nqubit q;\n" + "h q\n" * 50  # 50 missing semicolons
    with pytest.raises(ProgramProblem) as info:
        load_program("p", ProgramSpec(format="openqasm3", source=source), tmp_path)
    errors = info.value.errors
    assert [e.line for e in errors] == list(range(4, 24))
    assert errors[-1].message == (
        "OpenQASM 3 syntax error: missing ';' at 'h' (and 30 more syntax errors after this one)"
    )


def _pulser_sequence(mappable: bool) -> str:
    from pulser import Pulse, Register, Sequence
    from pulser.devices import MockDevice
    from pulser.register.register_layout import RegisterLayout

    register = (
        RegisterLayout([[0, 0], [6, 0], [0, 6], [6, 6]]).make_mappable_register(2)
        if mappable
        else Register.square(2, spacing=6, prefix="q")
    )
    seq = Sequence(register, MockDevice)
    seq.declare_channel("rydberg", "rydberg_global")
    omega = seq.declare_variable("omega_max")
    seq.declare_variable("detunings", size=3, dtype=int)
    seq.add(Pulse.ConstantPulse(200, omega, -1.0, 0.0), "rydberg")
    return str(seq.to_abstract_repr())


def test_pulser_variables_and_mappable_register(tmp_path: Path) -> None:
    (tmp_path / "seq.json").write_text(_pulser_sequence(mappable=True))
    program = load_program("p", ProgramSpec(format="pulser", path="seq.json"), tmp_path)
    params = program.parameters
    assert {n: (p.kind, p.size) for n, p in params.items()} == {
        "omega_max": ("float", None),
        "detunings": ("int", 3),
        "qubits": ("qubits", 2),
    }
    assert params["qubits"].coerce({"q1": 3, "q0": 0}) == {"q0": 0, "q1": 3}
    for bad in ({"q0": 0}, {"q0": 0, "q1": 0}, {"q0": 0, "q1": 4}):
        with pytest.raises(ValueError):
            params["qubits"].coerce(bad)


def test_pulser_json_that_is_not_a_sequence(tmp_path: Path) -> None:
    with pytest.raises(ProgramProblem, match="not a Pulser sequence"):
        load_program("p", ProgramSpec(format="pulser", source=json.dumps({"a": 1})), tmp_path)
    with pytest.raises(ProgramProblem, match="invalid JSON") as info:
        load_program("p", ProgramSpec(format="pulser", source='{"a": 1,\n}'), tmp_path)
    assert info.value.line == 2


def test_binding_rules(write: Callable[..., Path]) -> None:
    sequence = _pulser_sequence(mappable=False)
    path = write(
        """\
        version: 1
        stack: b
        programs:
          seq: {format: pulser, path: seq.json}
          native: {format: ionq.circuit.v1, source: '{"qubits": 1, "circuit": []}'}
        sessions:
          s: {target: local/qutip}
        jobs:
          ok:
            session: s
            program: seq
            shots: 5
            inputs: {detunings: [1, 2, 3]}
            sweep: {grid: {omega_max: [1, 2]}}
          unbound:
            target: local/qutip
            program: seq
            shots: 5
            inputs: {omega_max: 1}
          native:
            target: local/braket_sv
            program: native
            shots: 5
            inputs: {x: 1}
        """,
        **{"seq.json": sequence},
    )
    with pytest.raises(qplan.ManifestError) as info:
        qplan.load(path)
    messages = [(d.path, d.message) for d in info.value.diagnostics]
    assert messages == [
        (
            "jobs.unbound",
            "program seq declares 'detunings' (a list of 3 values, each an integer), which this "
            "job does not bind: set it in inputs or sweep",
        ),
        (
            "jobs.native.program",
            "program native is ionq.circuit.v1, which local/braket_sv cannot run (it runs "
            "openqasm3)",
        ),
        ("jobs.native.inputs.x", "program native (ionq.circuit.v1) declares no parameters"),
    ]
