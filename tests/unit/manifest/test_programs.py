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
    assert params["qubits"].coerce({"q0": 2}) == {"q0": 2}  # a subset: the first qubits
    for bad in ({}, {"q1": 0}, {"q0": 0, "q1": 0}, {"q0": 0, "q1": 4}, {"q0": 0, "q5": 1}):
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
            "openqasm3, braket.hybrid)",
        ),
        ("jobs.native.inputs.x", "program native (ionq.circuit.v1) declares no parameters"),
    ]


def _inline(write: Callable[..., Path], program: str, fmt: str = "openqasm3") -> list[str]:
    """Diagnostics of a manifest whose program ``p`` is given inline by ``program`` (the
    text after ``source:``, lines indented by four spaces already), as file:line:col: ..."""
    text = (
        "version: 1\nstack: s\nvars: {gate: h}\nprograms:\n  p:\n"
        f"    format: {fmt}\n    source: {program}\njobs:\n  a:\n"
        "    target: local/braket_sv\n    program: p\n    shots: 1\n"
    )
    with pytest.raises(qplan.ManifestError) as info:
        qplan.load(write(text))
    return [str(d).split("/")[-1] for d in info.value.diagnostics]


QASM_TWO_ERRORS = "OPENQASM 3.0;\nqubit q;\nh q\nx q;\nbit c;\ny q\nc = measure q;\n"


def _block(header: str, text: str, indent: int = 6) -> str:
    lines = text.splitlines()
    return header + "\n" + "".join((" " * indent + line if line else "") + "\n" for line in lines)


@pytest.mark.parametrize("header", ["|", "|-", "|+", "|2", "|2-"])
def test_qasm_errors_in_a_literal_block_are_located_in_the_manifest(
    write: Callable[..., Path], header: str
) -> None:
    # source: | is on line 7, the program's first line on line 8, indented by 6 spaces
    assert _inline(write, _block(header, QASM_TWO_ERRORS)) == [
        "qplan.yaml:11:7: programs.p.source: OpenQASM 3 syntax error: missing ';' at 'x'",
        "qplan.yaml:14:7: programs.p.source: OpenQASM 3 syntax error: missing ';' at 'c'",
    ]


def test_more_indented_and_blank_lines_keep_their_place(write: Callable[..., Path]) -> None:
    program = "OPENQASM 3.0;\n\nqubit q;\nif (true) {\n  h q\n}\nh q;\n"
    assert _inline(write, _block("|", program)) == [
        "qplan.yaml:13:7: programs.p.source: OpenQASM 3 syntax error: missing ';' at '}'",
    ]


def test_an_error_at_the_end_of_an_inline_program(write: Callable[..., Path]) -> None:
    assert _inline(write, _block("|", "OPENQASM 3.0;\nqubit q;\nh q\n")) == [
        "qplan.yaml:10:10: programs.p.source: OpenQASM 3 syntax error: missing ';' at '<EOF>'",
    ]


@pytest.mark.parametrize("quote", ["", "'", '"'])
def test_qasm_errors_in_a_one_line_source(write: Callable[..., Path], quote: str) -> None:
    program = f"{quote}OPENQASM 3.0; qubit q; h q x q;{quote}"
    column = len("    source: ") + len(quote) + program.index("x q") - len(quote) + 1
    assert _inline(write, program) == [
        f"qplan.yaml:7:{column}: programs.p.source: OpenQASM 3 syntax error: missing ';' at 'x'"
    ]


@pytest.mark.parametrize(
    ("program", "where"),
    [
        # escapes: the text is not the file's
        ('"OPENQASM 3.0;\\nqubit q;\\nh q\\nx q;\\n"', "line 4, column 1"),
        # folded: lines are joined
        (_block(">", "OPENQASM 3.0;\nqubit q;\nh q\n\nx q;\n"), "line 2, column 1"),
        # a template changed the text
        (_block("|", "OPENQASM 3.0;\nqubit q;\n{{ vars.gate }} q\n\nx q;\n"), "line 5, column 1"),
    ],
)
def test_sources_not_written_verbatim_say_where_in_the_program(
    write: Callable[..., Path], program: str, where: str
) -> None:
    assert _inline(write, program) == [
        "qplan.yaml:7:13: programs.p.source: OpenQASM 3 syntax error: missing ';' at 'x' "
        f"({where} of the source)"
    ]


def test_json_errors_in_an_inline_source_are_located_in_the_manifest(
    write: Callable[..., Path],
) -> None:
    program = _block("|", '{\n  "register": [],\n  "channels": {}\n  "operations": []\n}\n')
    assert _inline(write, program, fmt="pulser") == [
        "qplan.yaml:11:9: programs.p.source: invalid JSON: Expecting ',' delimiter",
    ]
