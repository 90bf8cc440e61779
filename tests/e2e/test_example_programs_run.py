"""Every example's programs run on the local simulators, at every point of every sweep,
with the inputs qplan binds: the examples are real, not decoration."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest

import qplan
from qplan.manifest import Instance
from tests.conftest import CLOUD_ENV, EXAMPLES
from tests.emulators.ionq import to_openqasm3


def run_openqasm3(source: str, shots: int, inputs: dict[str, Any]) -> dict[str, int]:
    from braket.devices import LocalSimulator
    from braket.ir.openqasm import Program

    result = LocalSimulator("braket_sv").run(Program(source=source), shots=shots, inputs=inputs)
    return dict(result.result().measurement_counts)


def run_pulser(abstract_repr: str, shots: int, inputs: dict[str, Any]) -> dict[str, int]:
    from pulser import Sequence
    from pulser.backend import BitStrings
    from pulser_simulation import QutipBackendV2, QutipConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        built = Sequence.from_abstract_repr(abstract_repr).build(**inputs)
        results = QutipBackendV2(
            built, config=QutipConfig(observables=[BitStrings(num_shots=shots)])
        ).run()
    return dict(results.final_bitstrings)


def run_qsharp(source: str, entry: str, shots: int, inputs: dict[str, Any]) -> dict[str, int]:
    from qplan.manifest import entry_expression, entry_parameters
    from qplan.providers.qdk import run_qsharp

    expression = entry_expression(entry, entry_parameters(source, entry), inputs)
    return run_qsharp(source, expression, shots)


def run_instance(instance: Instance) -> dict[str, int]:
    program = instance.job.program
    shots = instance.job.spec.shots
    assert isinstance(program.text, str)
    if program.format == "openqasm3":
        return run_openqasm3(program.text, shots, instance.inputs)
    if program.format == "pulser":
        return run_pulser(program.text, shots, instance.inputs)
    if program.format == "qsharp":
        assert program.entry is not None
        return run_qsharp(program.text, program.entry, shots, instance.inputs)
    if program.format == "ionq.circuit.v1":
        assert instance.inputs == {}
        return run_openqasm3(to_openqasm3(json.loads(program.text)), shots, {})
    raise AssertionError(f"no local runner for {program.format}")


@pytest.mark.parametrize(
    "example", ["quickstart", "braket-sweep", "azure-session", "pasqal-batch", "qsharp-sweep"]
)
def test_example_programs_run_at_every_point(example: str) -> None:
    stack = qplan.load(EXAMPLES / example / "qplan.yaml", environ=CLOUD_ENV)
    ran = 0
    for instance in stack.instances():
        counts = run_instance(instance)
        assert sum(counts.values()) == instance.job.spec.shots, instance.address
        ran += 1
    assert ran == stack.instance_count > 0


def test_bell_pair_measures_only_correlated_outcomes() -> None:
    stack = qplan.load(EXAMPLES / "quickstart" / "qplan.yaml")
    (bell,) = stack.jobs["bell"].instances()
    assert set(run_instance(bell)) <= {"00", "11"}
    azure = qplan.load(EXAMPLES / "azure-session" / "qplan.yaml", environ=CLOUD_ENV)
    (ghz,) = azure.jobs["ghz"].instances()
    assert set(run_instance(ghz)) <= {"000", "111"}


def test_sweep_inputs_reach_the_simulator() -> None:
    stack = qplan.load(EXAMPLES / "quickstart" / "qplan.yaml")
    by_theta = {i.point["theta"]: run_instance(i) for i in stack.jobs["rotation"].instances()}
    assert by_theta[0.0] == {"0": 100}  # ry(0) leaves |0>
    assert by_theta[3.14159265358979].get("1", 0) == 100  # ry(pi) flips it


def test_qsharp_example_rotates_every_qubit() -> None:
    stack = qplan.load(EXAMPLES / "qsharp-sweep" / "qplan.yaml")
    by_theta = {i.point["theta"]: run_instance(i) for i in stack.jobs["rotation"].instances()}
    assert by_theta[0.0] == {"000": 100}  # Ry(0.0) leaves |000>
    assert by_theta[3.14159265358979] == {"111": 100}  # Ry(pi) flips all three
    ghz = {tuple(i.point["bases"]): run_instance(i) for i in stack.jobs["ghz"].instances()}
    assert set(ghz[("PauliZ",) * 3]) <= {"000", "111"}
    assert all(bits.count("1") % 2 == 0 for bits in ghz[("PauliX",) * 3])  # even parity
