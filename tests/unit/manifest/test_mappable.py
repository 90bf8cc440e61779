"""Mappable registers: a ``qubits`` value maps some of the register's qubits to traps, as
Pulser's ``MappableRegister.build_register`` takes them, and every refusal Pulser would make
when the instance is built is a located error at ``validate`` time."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

import qplan
from qplan.manifest.pulser_targets import QubitTargets, read_targets


@functools.cache
def sequence(local: bool = False) -> str:
    """Four qubits on a 3x3 layout (traps 0 to 8). ``local``: a local channel first aimed
    at q1, then at the qubit of index ``idx`` (a variable), so a mapping must cover both."""
    from pulser import Pulse, Sequence
    from pulser.devices import MockDevice
    from pulser.register.register_layout import RegisterLayout

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layout = RegisterLayout([[6.0 * i, 6.0 * j] for i in range(3) for j in range(3)])
        seq = Sequence(layout.make_mappable_register(4), MockDevice)
        seq.declare_channel("g", "rydberg_global")
        omega = seq.declare_variable("omega")
        seq.add(Pulse.ConstantPulse(200, omega, 0.0, 0.0), "g")
        if local:
            seq.declare_channel("ryd", "rydberg_local", initial_target="q1")
            idx = seq.declare_variable("idx", dtype=int)
            seq.add(Pulse.ConstantPulse(200, 1.0, 0.0, 0.0), "ryd")
            seq.target_index(idx, "ryd")
            seq.add(Pulse.ConstantPulse(200, 1.0, 0.0, 0.0), "ryd")
        return str(seq.to_abstract_repr())


def manifest(points: str, *, local: bool = False) -> tuple[str, dict[str, str]]:
    text = (
        "version: 1\nstack: m\nprograms:\n  seq: {format: pulser, path: seq.json}\n"
        "jobs:\n  scan:\n    target: local/qutip\n    program: seq\n    shots: 5\n"
        f"    sweep:\n      points:\n{points}"
    )
    return text, {"seq.json": sequence(local)}


def diagnostics(write: Callable[..., Path], points: str, *, local: bool = False) -> list[str]:
    text, files = manifest(points, local=local)
    with pytest.raises(qplan.ManifestError) as info:
        qplan.load(write(text, **files))
    return [str(d).split("/")[-1] for d in info.value.diagnostics]


def test_a_subset_of_the_first_qubits_is_a_valid_mapping(write: Callable[..., Path]) -> None:
    text, files = manifest(
        "        - {omega: 1, qubits: {q0: 8}}\n"
        "        - {omega: 1, qubits: {q1: 0, q0: 4, q2: 2}}\n"
        "        - {omega: 1, qubits: {q0: 0, q1: 1, q2: 2, q3: 3}}\n"
    )
    stack = qplan.load(write(text, **files))
    assert list(stack.jobs["scan"].addresses()) == [
        'scan[omega=1.0,qubits={"q0":8}]',
        'scan[omega=1.0,qubits={"q0":4,"q1":0,"q2":2}]',
        'scan[omega=1.0,qubits={"q0":0,"q1":1,"q2":2,"q3":3}]',
    ]


def test_each_bad_mapping_is_located_and_says_why(write: Callable[..., Path]) -> None:
    assert diagnostics(
        write,
        "        - {omega: 1, qubits: {q0: 0, q9: 1}}\n"
        "        - {omega: 1, qubits: {q0: 0, q1: 9}}\n"
        "        - {omega: 1, qubits: {q0: 3, q1: 3}}\n"
        "        - {omega: 1, qubits: {}}\n"
        "        - {omega: 1, qubits: {q0: 0, q2: 1}}\n"
        "        - {omega: 1, qubits: [0, 1]}\n",
    ) == [
        "qplan.yaml:12:30: jobs.scan.sweep.points[0].qubits: unknown qubit 'q9': the "
        "register's qubits are q0, q1, q2, q3",
        "qplan.yaml:13:30: jobs.scan.sweep.points[1].qubits: trap of q1 must be an integer "
        "from 0 to 8",
        "qplan.yaml:14:30: jobs.scan.sweep.points[2].qubits: q0 and q1 are mapped to the "
        "same trap, 3",
        "qplan.yaml:15:30: jobs.scan.sweep.points[3].qubits: must be a mapping of qubits to "
        "distinct traps (0 to 8): all of q0, q1, q2, q3, or the first few of them in that order",
        "qplan.yaml:16:30: jobs.scan.sweep.points[4].qubits: maps q0, q2: Pulser builds the "
        "register from its first qubits in declared order, so 2 qubits must be q0, q1",
        "qplan.yaml:17:30: jobs.scan.sweep.points[5].qubits: must be a mapping of qubits to "
        "distinct traps (0 to 8): all of q0, q1, q2, q3, or the first few of them in that order",
    ]


def test_a_bad_mapping_in_inputs_is_located_there(write: Callable[..., Path]) -> None:
    text = (
        "version: 1\nstack: m\nprograms:\n  seq: {format: pulser, path: seq.json}\n"
        "jobs:\n  one:\n    target: local/qutip\n    program: seq\n    shots: 5\n"
        "    inputs: {omega: 1, qubits: {q7: 0}}\n"
    )
    with pytest.raises(qplan.ManifestError) as info:
        qplan.load(write(text, **{"seq.json": sequence()}))
    assert [str(d).split("/")[-1] for d in info.value.diagnostics] == [
        "qplan.yaml:10:32: jobs.one.inputs.qubits: unknown qubit 'q7': the register's qubits "
        "are q0, q1, q2, q3"
    ]


def test_the_qubits_a_sequence_targets_must_be_mapped(write: Callable[..., Path]) -> None:
    # q1 is targeted literally (the channel's first target); idx names another qubit
    assert diagnostics(
        write,
        "        - {omega: 1, idx: 0, qubits: {q0: 0}}\n"
        "        - {omega: 1, idx: 2, qubits: {q0: 0, q1: 1}}\n"
        "        - {omega: 1, idx: 4, qubits: {q0: 0, q1: 1}}\n",
        local=True,
    ) == [
        "qplan.yaml:12:38: jobs.scan.sweep.points[0].qubits: maps 1 qubit, but the sequence "
        "targets q1: map at least q0, q1",
    ]
    assert diagnostics(
        write,
        "        - {omega: 1, idx: 1, qubits: {q0: 0, q1: 1}}\n"
        "        - {omega: 1, idx: 2, qubits: {q0: 0, q1: 1}}\n"
        "        - {omega: 1, idx: 4, qubits: {q0: 0, q1: 1}}\n",
        local=True,
    ) == [
        'qplan.yaml:13:38: jobs.scan.sweep.points[1].qubits: scan[idx=2,omega=1.0,qubits={"q0":'
        '0,"q1":1}]: the sequence targets q2, which this mapping leaves out (it maps q0, q1)',
        'qplan.yaml:14:38: jobs.scan.sweep.points[2].qubits: scan[idx=4,omega=1.0,qubits={"q0":'
        '0,"q1":1}]: the sequence targets qubit index 4, but the register declares 4 qubits',
    ]


def test_what_validate_accepts_pulser_builds_and_what_it_refuses_pulser_refuses(
    write: Callable[..., Path],
) -> None:
    from pulser import Sequence

    cases = [
        ({"q0": 0, "q1": 1}, 1, True),
        ({"q0": 0, "q1": 1}, 2, False),
        ({"q0": 0, "q1": 1, "q2": 5}, 2, True),
        ({"q0": 0}, 0, False),
        ({"q1": 0, "q0": 1}, 0, True),
        ({"q0": 0, "q2": 1}, 0, False),
    ]
    seq = Sequence.from_abstract_repr(sequence(local=True))
    for qubits, idx, valid in cases:
        point = "{" + ", ".join(f"{q}: {t}" for q, t in qubits.items()) + "}"
        text, files = manifest(f"        - {{omega: 1, idx: {idx}, qubits: {point}}}\n", local=True)
        try:
            qplan.load(write(text, **files))
            accepted = True
        except qplan.ManifestError:
            accepted = False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                seq.build(qubits=qubits, omega=1.0, idx=idx)
            built = True
        except (ValueError, IndexError):  # Pulser's refusals
            built = False
        assert accepted == built == valid, (qubits, idx)


def test_targets_are_read_from_the_abstract_representation() -> None:
    ops = [
        {"op": "target", "channel": "a", "target": 2},
        {"op": "target", "channel": "a", "target": [0, 1]},
        {"op": "phase_shift", "phi": 1.0, "targets": [3], "basis": "digital"},
        {"op": "target", "channel": "a", "target": {"variable": "ids"}},
        {
            "op": "target",
            "channel": "a",
            "target": {
                "expression": "add",
                "lhs": {"expression": "index", "lhs": {"variable": "i"}, "rhs": 0},
                "rhs": 1,
            },
        },
        {
            "op": "target",
            "channel": "a",
            "target": {"expression": "sqrt", "lhs": {"variable": "i"}},
        },
    ]
    targets = read_targets(ops)
    assert targets.fixed == 4
    assert len(targets.variable) == 3
    assert targets.needed({"ids": [0, 5], "i": 1}) is None  # sqrt: left to Pulser
    evaluated = QubitTargets(targets.fixed, targets.variable[:2])
    assert evaluated.needed({"ids": [0, 5], "i": 1}) == 6
    assert evaluated.needed({"ids": [0], "i": 6}) == 8
    assert evaluated.needed({"ids": [0], "i": 0}) == 4
    assert read_targets("not a list") == QubitTargets()
