"""Q# programs: the entry operation's signature, coercion to its types, Q# literals, and the
diagnostics of each, in the program and in the manifest."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import qplan
from qplan.manifest import entry_expression, entry_parameters
from qplan.manifest.qsharp import EntryNotFound, QsharpSyntaxError, QsharpType, read_program

SWEEP = """\
// operation Commented(q : Qubit) : Unit {}
namespace Sweep {
    open Std.Math;

    /// Ry(theta) on n qubits: "operation Fake(q : Qubit)" is only a string below.
    operation Run(
        n : Int,
        theta : Double,
        flags : Bool[],
        pair : (Int, Double),
        basis : Pauli
    ) : Result[] {
        let label = $"n = {n}, \\"{"text"}\\" // not a comment";
        use qubits = Qubit[n];
        for q in qubits { Ry(theta, q); }
        MResetEachZ(qubits)
    }

    operation Prepare(q : Qubit, apply : (Qubit => Unit is Adj + Ctl)) : Unit {
        apply(q);
    }
}

namespace Sweep.Inner {
    function Helper(xs : Double[][], single : (Int,), grouped : (Int)) : Double { 0.0 }
}

operation Top() : Result { use q = Qubit(); MResetZ(q) }
"""


def types(source: str, entry: str) -> dict[str, str]:
    params, _ = read_program(source, entry)
    return {name: str(p.qsharp) for name, p in params.items()}


def test_the_entry_signature_gives_the_parameters_in_declaration_order() -> None:
    assert types(SWEEP, "Sweep.Run") == {
        "n": "Int",
        "theta": "Double",
        "flags": "Bool[]",
        "pair": "(Int, Double)",
        "basis": "Pauli",
    }
    assert types(SWEEP, "Sweep.Inner.Helper") == {
        "xs": "Double[][]",
        "single": "(Int,)",
        "grouped": "Int",  # a type in parentheses is that type
    }
    assert types(SWEEP, "Top") == {}
    params, _ = read_program(SWEEP, "Sweep.Run")
    assert [p.line for p in params.values()] == [7, 8, 9, 10, 11]
    assert all(p.kind == "qsharp" for p in params.values())


def test_canonical_text_ignores_comments_and_layout() -> None:
    _, canonical = read_program(SWEEP, "Sweep.Run")
    reformatted = "// a new comment\n" + SWEEP.replace("    ", "\t").replace(" : ", ":")
    assert read_program(reformatted, "Sweep.Run")[1] == canonical
    assert read_program(SWEEP.replace("Ry(", "Rx("), "Sweep.Run")[1] != canonical
    assert read_program(SWEEP.replace('"text"', '"other"'), "Sweep.Run")[1] != canonical


def test_an_unknown_entry_lists_the_operations_and_suggests_one() -> None:
    with pytest.raises(EntryNotFound) as info:
        read_program(SWEEP, "Sweep.Rn")
    assert str(info.value) == (
        "the program declares no operation 'Sweep.Rn' (did you mean \"Sweep.Run\"?); it "
        "declares: Sweep.Run, Sweep.Prepare, Sweep.Inner.Helper, Top"
    )
    with pytest.raises(EntryNotFound, match=r"'Run' \(did you mean \"Sweep\.Run\"\? its namespace"):
        read_program(SWEEP, "Run")  # the namespace is part of the name


@pytest.mark.parametrize(
    ("source", "entry", "where", "message"),
    [
        (
            SWEEP,
            "Sweep.Prepare",
            (19, 27),
            "parameter 'q' of Sweep.Prepare has type Qubit; qplan binds Int, Double, Bool, "
            "Pauli, and arrays (T[]) and tuples ((T1, T2)) of those",
        ),
        (
            "operation Run(f : (Qubit => Unit is Adj + Ctl)[]) : Unit {}",
            "Run",
            (1, 19),
            "parameter 'f' of Run has type (Qubit => Unit is Adj + Ctl)[]; qplan binds",
        ),
        ("operation Run(s : String) : Unit {}", "Run", (1, 19), "has type String;"),
        ("operation Run(p : (Int, Qubit)) : Unit {}", "Run", (1, 19), "has type (Int, Qubit);"),
        ("operation Run<'T>(x : 'T) : Unit {}", "Run", (1, 23), "has type 'T;"),
        ("operation Run(u : Unit) : Unit {}", "Run", (1, 19), "has type Unit;"),
        (
            "operation Run((a : Int, b : Int)) : Unit {}",
            "Run",
            (1, 15),
            "nested parameter tuples are not supported: declare the parameters one by one",
        ),
        ("operation Run(n : Int, n : Int) : Unit {}", "Run", (1, 24), "'n' is declared twice"),
        (
            "operation Main(n : Int) : Result[] { [] }\noperation Run() : Unit {}",
            "Run",
            (1, 11),
            "qdk takes an operation named Main as the program's own entry point, and refuses "
            "one with parameters: rename it (Run, say) and name it in the program's entry",
        ),
        (
            "namespace A { operation Main(n : Int) : Unit {} }",
            "A.Main",
            (1, 25),
            "an operation named Main",
        ),
        (
            "@EntryPoint()\noperation Run(n : Int) : Unit {}",
            "Run",
            (2, 11),
            "an operation marked @EntryPoint() as the program's own entry point, and refuses "
            "one with parameters: remove @EntryPoint() and name it in the program's entry",
        ),
        ("operation Run() : Unit {", "Run", (1, 24), "Q# syntax error: unclosed '{'"),
        ("operation Run() : Unit {}}", "Run", (1, 26), "Q# syntax error: unmatched '}'"),
        ('operation Run() : Unit { let s = "a; }', "Run", (1, 34), "a string is not closed"),
        ("operation Run(n Int) : Unit {}", "Run", (1, 17), "expected ':' and the parameter"),
    ],
)
def test_problems_are_located_in_the_program(
    source: str, entry: str, where: tuple[int, int], message: str
) -> None:
    with pytest.raises(QsharpSyntaxError) as info:
        read_program(source, entry)
    assert (info.value.line, info.value.column) == where
    assert message in info.value.message


def test_main_without_parameters_is_allowed() -> None:
    source = "operation Main() : Result { use q = Qubit(); MResetZ(q) }\noperation Run() : Unit {}"
    assert types(source, "Run") == {}


def qtype(source_type: str) -> QsharpType:
    params, _ = read_program(f"operation Run(x : {source_type}) : Unit {{}}", "Run")
    found = params["x"].qsharp
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("declared", "value", "coerced"),
    [
        ("Int", 3, 3),
        ("Int", 3.0, 3),
        ("Int", -(2**63), -(2**63)),
        ("Double", 3, 3.0),
        ("Double", -0.0, 0.0),
        ("Double", 1e-05, 1e-05),
        ("Bool", True, True),
        ("Pauli", "X", "PauliX"),
        ("Pauli", "PauliZ", "PauliZ"),
        ("Double[]", [1, 2.5], [1.0, 2.5]),
        ("Int[][]", [[1], [], [2, 3]], [[1], [], [2, 3]]),
        ("(Int, Double)", [1, 2], [1, 2.0]),
        ("(Int, Double)[]", [[1, 2], [3, 4.5]], [[1, 2.0], [3, 4.5]]),
        ("(Int,)", [4], [4]),
    ],
)
def test_values_are_coerced_to_their_types(declared: str, value: Any, coerced: Any) -> None:
    result = qtype(declared).coerce(value)
    assert result == coerced
    assert type(result) is type(coerced)


@pytest.mark.parametrize(
    ("declared", "value", "message"),
    [
        ("Int", "3", "must be an integer (Q# Int)"),
        ("Int", True, "must be an integer (Q# Int)"),
        ("Int", 2.5, "must be an integer (Q# Int)"),
        ("Int", 2**63, "must be an integer (Q# Int)"),
        ("Double", "0.5", "must be a finite number (Q# Double)"),
        ("Double", math.nan, "must be a finite number (Q# Double)"),
        ("Double", math.inf, "must be a finite number (Q# Double)"),
        ("Double", 10**400, "must be a finite number (Q# Double)"),
        ("Bool", 1, "must be true or false (Q# Bool)"),
        ("Pauli", "W", "must be one of PauliI, PauliX, PauliY, PauliZ (Q# Pauli)"),
        ("Double[]", 1.0, "must be a list of numbers (Q# Double[])"),
        (
            "Double[][]",
            [[1.0], [1.0, "a"]],
            "must be a list of lists of numbers (Q# Double[][]): item [1][1] must be a finite "
            "number",
        ),
        ("(Int, Double)", [1], "must be a list of 2: Int, Double (Q# (Int, Double))"),
        (
            "(Int, Bool)",
            [1, 0],
            "must be a list of 2: Int, Bool (Q# (Int, Bool)): item [1] must be true or false",
        ),
    ],
)
def test_values_of_the_wrong_type_are_refused(declared: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError) as info:
        qtype(declared).coerce(value)
    assert str(info.value) == message


LITERALS = """\
namespace Sweep {
    operation Run(
        n : Int,
        theta : Double,
        flags : Bool[],
        pair : (Int, Double),
        basis : Pauli,
        grid : Double[][],
        single : (Int,)
    ) : Result[] {
        use qubits = Qubit[n];
        for q in qubits { Ry(theta, q); }
        MResetEachZ(qubits)
    }
}
"""

VALUES: dict[str, Any] = {
    "n": 2,
    "theta": 3,
    "flags": [True, False],
    "pair": [-1, -2],
    "basis": "Y",
    "grid": [[1e-05, -0.5], [], [1e16]],
    "single": [7],
}


def test_entry_expression_writes_q_sharp_literals_in_declaration_order() -> None:
    params = entry_parameters(LITERALS, "Sweep.Run")
    shuffled = dict(reversed(list(VALUES.items())))
    assert entry_expression("Sweep.Run", params, shuffled) == (
        "Sweep.Run(2, 3.0, [true, false], (-1, -2.0), PauliY, [[1e-05, -0.5], [], [1e+16]], (7,))"
    )


@pytest.mark.parametrize(
    ("declared", "value", "literal"),
    [
        ("Double", 1, "1.0"),
        ("Double", -3, "-3.0"),
        ("Double", 0.1, "0.1"),
        ("Double", 2.5e-300, "2.5e-300"),
        ("Double", 1.7976931348623157e308, "1.7976931348623157e+308"),
        ("Int", -(2**63), "-9223372036854775808"),
        ("Int", 4.0, "4"),
        ("Bool", False, "false"),
        ("Pauli", "I", "PauliI"),
        ("Bool[]", [], "[]"),
        ("(Double, (Int, Pauli))", [0, [1, "Z"]], "(0.0, (1, PauliZ))"),
    ],
)
def test_literals(declared: str, value: Any, literal: str) -> None:
    assert qtype(declared).literal(value) == literal


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({**VALUES, "theta": math.nan}, "parameter 'theta' of Sweep.Run: must be a finite"),
        ({**VALUES, "theta": -math.inf}, "parameter 'theta' of Sweep.Run: must be a finite"),
        ({**VALUES, "n": "2"}, r"parameter 'n' of Sweep.Run: must be an integer \(Q# Int\)"),
        ({k: v for k, v in VALUES.items() if k != "basis"}, "no value for parameter 'basis'"),
        ({**VALUES, "extra": 1}, "Sweep.Run has no parameter 'extra'"),
    ],
)
def test_entry_expression_refuses_what_q_sharp_cannot_take(
    values: dict[str, Any], message: str
) -> None:
    params = entry_parameters(LITERALS, "Sweep.Run")
    with pytest.raises(ValueError, match=message):
        entry_expression("Sweep.Run", params, values)


def test_entry_parameters_says_what_is_wrong_with_a_program() -> None:
    with pytest.raises(ValueError, match=r"declares no operation 'Sweep\.Walk'"):
        entry_parameters(LITERALS, "Sweep.Walk")
    with pytest.raises(ValueError, match="line 1, column 19: parameter 'q' of Run has type"):
        entry_parameters("operation Run(q : Qubit) : Unit {}", "Run")


def test_qdk_runs_the_entry_expression() -> None:
    pytest.importorskip("qdk")
    from qplan.providers.qdk import run_qsharp

    params = entry_parameters(LITERALS, "Sweep.Run")
    flip = {**VALUES, "n": 3, "theta": math.pi}
    assert run_qsharp(LITERALS, entry_expression("Sweep.Run", params, flip), 5) == {"111": 5}
    keep = {**VALUES, "n": 2, "theta": 0}  # the Int 0 as a Double: 0.0
    assert run_qsharp(LITERALS, entry_expression("Sweep.Run", params, keep), 5) == {"00": 5}


# --- in a manifest ---------------------------------------------------------------------------

MANIFEST = """\
version: 1
stack: q
programs:
  sweep: {{format: qsharp, path: sweep.qs, entry: {entry}}}
jobs:
  scan:
    target: {target}
    program: sweep
    shots: 10
    inputs: {inputs}
    sweep: {{grid: {{theta: {thetas}}}}}
"""


def load(
    write: Callable[..., Path],
    *,
    entry: str = "Sweep.Run",
    target: str = "local/qsharp",
    inputs: str = "{n: 2, flags: [true], pair: [1, 2], basis: X}",
    thetas: str = "[0, 1.5]",
    source: str = SWEEP,
) -> qplan.Stack:
    text = MANIFEST.format(entry=entry, target=target, inputs=inputs, thetas=thetas)
    return qplan.load(write(text, **{"sweep.qs": source}))


def diagnostics(write: Callable[..., Path], **changes: str) -> list[str]:
    with pytest.raises(qplan.ManifestError) as info:
        load(write, **changes)
    return [str(d).split("/")[-1] for d in info.value.diagnostics]


def test_a_sweep_binds_the_entry_operation_arguments(write: Callable[..., Path]) -> None:
    stack = load(write)
    job = stack.jobs["scan"]
    assert job.entry == "Sweep.Run"
    assert [i.address for i in job.instances()] == ["scan[theta=0.0]", "scan[theta=1.5]"]
    first = next(job.instances())
    params = job.program.parameters
    assert entry_expression("Sweep.Run", params, first.inputs) == (
        "Sweep.Run(2, 0.0, [true], (1, 2.0), PauliX)"
    )


AZURE = """\
version: 1
stack: q
providers:
  az:
    type: azure
    resource_id: /subscriptions/s/resourceGroups/g/providers/Microsoft.Quantum/Workspaces/w
    location: eastus
programs:
  sweep: {format: qsharp, path: sweep.qs, entry: Top}
  qasm: {format: openqasm3, source: "OPENQASM 3.0; qubit q;"}
  pulser: {format: pasqal.pulser.v1, source: '{"sequence_builder": {}}'}
jobs:
"""


@pytest.mark.parametrize("vendor", ["ionq.simulator", "quantinuum.sim.h2-1e", "rigetti.sim.qvm"])
def test_q_sharp_and_openqasm3_run_on_azure_gate_based_targets(
    write: Callable[..., Path], vendor: str
) -> None:
    jobs = "".join(
        f"  {p}: {{target: az/{vendor}, program: {p}, shots: 1}}\n" for p in ("sweep", "qasm")
    )
    stack = qplan.load(write(AZURE + jobs, **{"sweep.qs": SWEEP}))
    assert {name: job.program.format for name, job in stack.jobs.items()} == {
        "sweep": "qsharp",
        "qasm": "openqasm3",
    }


def test_pasqal_targets_on_azure_take_their_native_format(write: Callable[..., Path]) -> None:
    ok = AZURE + "  p: {target: az/pasqal.sim.emu-tn, program: pulser, shots: 1}\n"
    assert qplan.load(write(ok, **{"sweep.qs": SWEEP})).jobs["p"].program.format == (
        "pasqal.pulser.v1"
    )
    refused = AZURE + "  p: {target: az/pasqal.sim.emu-tn, program: sweep, shots: 1}\n"
    with pytest.raises(qplan.ManifestError, match=r"which az/pasqal\.sim\.emu-tn cannot run"):
        qplan.load(write(refused, **{"sweep.qs": SWEEP}))


def test_diagnostics_in_the_manifest(write: Callable[..., Path]) -> None:
    assert diagnostics(write, entry="Sweep.Rn") == [
        "qplan.yaml:4:50: programs.sweep.entry: the program declares no operation 'Sweep.Rn' "
        '(did you mean "Sweep.Run"?); it declares: Sweep.Run, Sweep.Prepare, '
        "Sweep.Inner.Helper, Top"
    ]
    assert diagnostics(write, entry="Sweep.Prepare", inputs="{}", thetas="[0]") == [
        "sweep.qs:19:27: programs.sweep: parameter 'q' of Sweep.Prepare has type Qubit; qplan "
        "binds Int, Double, Bool, Pauli, and arrays (T[]) and tuples ((T1, T2)) of those"
    ]
    assert diagnostics(write, inputs='{n: "two", flags: [1], pair: [1, 2], basis: W}') == [
        "qplan.yaml:10:17: jobs.scan.inputs.n: must be an integer (Q# Int), got 'two'",
        "qplan.yaml:10:31: jobs.scan.inputs.flags: must be a list of booleans (Q# Bool[]): "
        "item [0] must be true or false, got a list",
        "qplan.yaml:10:57: jobs.scan.inputs.basis: must be one of PauliI, PauliX, PauliY, PauliZ "
        "(Q# Pauli), got 'W'",
    ]
    assert diagnostics(write, thetas="[0, .nan]") == [
        "qplan.yaml:11:31: jobs.scan.sweep.grid.theta[1]: must be a finite number (Q# Double) "
        "for theta, got nan",
    ]
    assert diagnostics(write, inputs="{n: 2, flags: [], pair: [1, 2]}") == [
        "qplan.yaml:7:5: jobs.scan: program sweep declares 'basis' (one of PauliI, PauliX, "
        "PauliY, PauliZ (Q# Pauli)), which this job does not bind: set it in inputs or sweep"
    ]


def test_entry_is_required_for_q_sharp_and_refused_elsewhere(write: Callable[..., Path]) -> None:
    text = """\
    version: 1
    stack: q
    programs:
      missing: {format: qsharp, source: "operation Run() : Unit {}"}
      qasm: {format: openqasm3, source: "OPENQASM 3.0; qubit q;", entry: Run}
      badname: {format: qsharp, source: "operation Run() : Unit {}", entry: "Run()"}
    jobs:
      a: {target: local/braket_sv, program: qasm, shots: 1}
    """
    with pytest.raises(qplan.ManifestError) as info:
        qplan.load(write(text))
    assert [str(d).split("/")[-1] for d in info.value.diagnostics] == [
        "qplan.yaml:4:12: programs.missing.entry: is required for format qsharp: the operation "
        "to run, such as Sweep.Run",
        "qplan.yaml:5:70: programs.qasm.entry: applies to format qsharp only (a program of "
        "format openqasm3 runs as a whole)",
        "qplan.yaml:6:73: programs.badname.entry: must be an operation name, its namespace "
        "included: Sweep.Run, or Run, got 'Run()'",
    ]


def test_an_inline_program_is_located_in_the_manifest(write: Callable[..., Path]) -> None:
    text = """\
    version: 1
    stack: q
    programs:
      p:
        format: qsharp
        entry: Run
        source: |
          operation Run(n : Int,
                        q : Qubit) : Unit {}
    jobs:
      a: {target: local/qsharp, program: p, shots: 1, inputs: {n: 1}}
    """
    with pytest.raises(qplan.ManifestError) as info:
        qplan.load(write(text))
    assert [str(d).split("/")[-1] for d in info.value.diagnostics] == [
        "qplan.yaml:9:25: programs.p.source: parameter 'q' of Run has type Qubit; qplan binds "
        "Int, Double, Bool, Pauli, and arrays (T[]) and tuples ((T1, T2)) of those"
    ]
