"""Pulser sequences checked against a target's device: what the device refuses is a located
error naming the instance, and what it runs passes; the work per point stays small."""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import qplan
from qplan.manifest import Stack
from qplan.manifest.pulser_devices import TargetDevice, check_sequences

PQ = "providers:\n  pq: {type: pasqal, project_id: p}\n"


def fresnel(**changes: Any) -> Any:
    """A stand-in for the device the service publishes as FRESNEL: AnalogDevice renamed."""
    from pulser.devices import AnalogDevice

    return dataclasses.replace(AnalogDevice, name="Fresnel", **changes)


@functools.cache
def rabi(atoms: int = 3, *, layout: bool = True) -> str:
    """``atoms`` atoms 6 µm apart in a row (traps of a layout, or not), a global pulse
    of amplitude ``omega`` (AnalogDevice's channel allows up to 4π rad/µs)."""
    from pulser import Pulse, Register, Sequence
    from pulser.devices import MockDevice
    from pulser.register.register_layout import RegisterLayout

    coords = [(6.0 * i, 6.0 * row) for row in range(2) for i in range(atoms)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        register = (  # the first row of a layout of two
            RegisterLayout(coords).define_register(*range(atoms))
            if layout
            else Register.from_coordinates(coords[:atoms], prefix="q")
        )
        seq = Sequence(register, MockDevice)
        seq.declare_channel("g", "rydberg_global")
        omega = seq.declare_variable("omega")
        seq.add(Pulse.ConstantPulse(500, omega, 0.0, 0.0), "g")
        seq.measure("ground-rydberg")
        return str(seq.to_abstract_repr())


@functools.cache
def mapped(traps: int = 12, qubits: int = 6) -> str:
    from pulser import Pulse, Sequence
    from pulser.devices import MockDevice
    from pulser.register.register_layout import RegisterLayout

    coords = [(6.0 * (i % 4), 6.0 * (i // 4)) for i in range(traps)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seq = Sequence(RegisterLayout(coords).make_mappable_register(qubits), MockDevice)
        seq.declare_channel("g", "rydberg_global")
        omega = seq.declare_variable("omega")
        seq.add(Pulse.ConstantPulse(500, omega, 0.0, 0.0), "g")
        return str(seq.to_abstract_repr())


def job(target: str, sweep: str, *, shots: int = 10, program: str = "seq") -> str:
    return (
        f"  scan:\n    target: {target}\n    program: {program}\n    shots: {shots}\n"
        f"    sweep:\n{sweep}"
    )


def load(write: Callable[..., Path], jobs: str, sequence: str) -> Stack:
    text = (
        f"version: 1\nstack: d\n{PQ}programs:\n  seq: {{format: pulser, path: seq.json}}\n"
        f"jobs:\n{jobs}"
    )
    return qplan.load(write(text, **{"seq.json": sequence}))


def problems(stack: Any, devices: dict[str, TargetDevice]) -> list[str]:
    return [
        f"{Path(d.file).name}:{d.line}:{d.column}: {d.path}: {d.message}"
        for d in check_sequences(stack, devices)
    ]


def test_a_sweep_the_device_runs_passes(write: Callable[..., Path]) -> None:
    stack = load(write, job("pq/FRESNEL", "      grid: {omega: [1, 5, 12]}\n"), rabi())
    assert problems(stack, {"pq/FRESNEL": TargetDevice(fresnel(), qpu=True)}) == []


def test_an_amplitude_above_the_channel_is_located_at_its_point(
    write: Callable[..., Path],
) -> None:
    points = "      points:\n        - {omega: 5}\n        - {omega: 20}\n"
    stack = load(write, job("pq/FRESNEL", points), rabi())
    assert problems(stack, {"pq/FRESNEL": TargetDevice(fresnel(), True, "Fresnel")}) == [
        "qplan.yaml:15:11: jobs.scan.sweep.points[1]: scan[omega=20.0] cannot run on "
        "pq/FRESNEL (Fresnel): The pulse's amplitude goes over the maximum value allowed for "
        "the chosen channel"
    ]
    grid = "      grid: {omega: [5, 20]}\n"
    stack = load(write, job("pq/FRESNEL", grid), rabi())
    assert problems(stack, {"pq/FRESNEL": TargetDevice(fresnel())})[0].startswith(
        "qplan.yaml:13:25: jobs.scan.sweep.grid.omega[1]: scan[omega=20.0] cannot run on "
        "pq/FRESNEL: The pulse's amplitude"
    )


def test_more_atoms_than_the_device_holds_is_the_jobs_error(write: Callable[..., Path]) -> None:
    stack = load(write, job("pq/FRESNEL", "      grid: {omega: [1]}\n"), rabi(atoms=6))
    assert problems(stack, {"pq/FRESNEL": TargetDevice(fresnel(max_atom_num=5))}) == [
        "qplan.yaml:9:13: jobs.scan.target: pq/FRESNEL cannot run program seq: The existing "
        "register is incompatible with the new device: The number of atoms (6) must be less "
        "than or equal to the maximum number of atoms supported by this device (5)"
    ]


def test_a_qpu_adds_its_own_rules(write: Callable[..., Path]) -> None:
    stack = load(write, job("pq/FRESNEL", "      grid: {omega: [1]}\n"), rabi(layout=False))
    assert problems(stack, {"pq/FRESNEL": TargetDevice(fresnel(), qpu=False)}) == []
    assert problems(stack, {"pq/FRESNEL": TargetDevice(fresnel(), qpu=True)}) == [
        "qplan.yaml:9:13: jobs.scan.target: pq/FRESNEL cannot run program seq: 'Fresnel' "
        "requires the sequence's register to be defined from a `RegisterLayout`"
    ]
    many = job("pq/FRESNEL", "      grid: {omega: [1]}\n", shots=5000)
    stack = load(write, many, rabi())
    assert problems(stack, {"pq/FRESNEL": TargetDevice(fresnel(), qpu=True)}) == [
        "qplan.yaml:11:12: jobs.scan.shots: 5000 shots is more than pq/FRESNEL runs per job (2000)"
    ]


def test_each_mapping_is_checked_by_the_device(write: Callable[..., Path]) -> None:
    # the device takes at most 4 atoms: the layout and the first mapping pass, not the second
    points = (
        "      points:\n"
        "        - {omega: 1, qubits: {q0: 0, q1: 1, q2: 2}}\n"
        "        - {omega: 1, qubits: {q0: 0, q1: 1, q2: 2, q3: 3, q4: 4}}\n"
        "        - {omega: 1, qubits: {q0: 4, q1: 5, q2: 6, q3: 7}}\n"
    )
    stack = load(write, job("pq/EMU_FRESNEL", points), mapped())
    device = fresnel(max_atom_num=4, max_layout_filling=0.9)
    assert problems(stack, {"pq/EMU_FRESNEL": TargetDevice(device)}) == [
        'qplan.yaml:15:11: jobs.scan.sweep.points[1]: scan[omega=1.0,qubits={"q0":0,"q1":1,'
        '"q2":2,"q3":3,"q4":4}] cannot run on pq/EMU_FRESNEL: The number of atoms (5) must be '
        "less than or equal to the maximum number of atoms supported by this device (4)"
    ]


def test_the_sequences_own_device_checks_only_what_it_declares(
    write: Callable[..., Path],
) -> None:
    stack = load(write, job("pq/EMU_FREE", "      grid: {omega: [20, 200]}\n"), rabi())
    # MockDevice, the sequence's own, has no amplitude limit
    assert problems(stack, {"pq/EMU_FREE": TargetDevice(None)}) == []
    assert problems(stack, {}) == []  # a target without a device is not checked


def test_many_failures_are_counted_after_the_first_few(write: Callable[..., Path]) -> None:
    stack = load(write, job("pq/FRESNEL", "      grid: {omega: {range: [20, 40]}}\n"), rabi())
    found = problems(stack, {"pq/FRESNEL": TargetDevice(fresnel())})
    assert len(found) == 6
    assert found[-1] == (
        "qplan.yaml:9:13: jobs.scan.target: ... and 15 more instances of scan that "
        "pq/FRESNEL cannot run"
    )


def test_five_hundred_points_each_with_its_own_amplitude_and_mapping_are_all_checked(
    write: Callable[..., Path],
) -> None:
    # the worst case: every point has its own amplitude (a build each) and its own mapping
    mappings = ", ".join(
        f"{{q0: {i % 12}, q1: {(i + 1) % 12}, q2: {(i + 2) % 12}}}" for i in range(500)
    )
    sweep = f"      zip:\n        omega: {{linspace: [1, 12, 500]}}\n        qubits: [{mappings}]\n"
    stack = load(write, job("pq/FRESNEL", sweep), mapped())
    assert stack.instance_count == 500
    # (tests/benchmarks/bench_device_checks.py times this)
    assert problems(stack, {"pq/FRESNEL": TargetDevice(fresnel(), qpu=True)}) == []


def test_a_stack_without_pulser_jobs_on_checked_targets_is_not_checked(
    write: Callable[..., Path],
) -> None:
    text = (
        "version: 1\nstack: d\nprograms:\n  ry: {format: openqasm3, source: 'OPENQASM 3.0;'}\n"
        "jobs:\n  a: {target: local/braket_sv, program: ry, shots: 1}\n"
    )
    stack = qplan.load(write(text))
    assert check_sequences(stack, {"local/braket_sv": TargetDevice(None)}) == []


def test_a_program_pulser_cannot_read_is_the_jobs_error(write: Callable[..., Path]) -> None:
    damaged = rabi().replace('"g": "rydberg_global"', '"g": "no_such_channel"')
    assert damaged != rabi()
    stack = load(write, job("pq/FRESNEL", "      grid: {omega: [1]}\n"), damaged)
    found = problems(stack, {"pq/FRESNEL": TargetDevice(fresnel())})
    assert len(found) == 1 and found[0].startswith(
        "qplan.yaml:9:13: jobs.scan.target: pq/FRESNEL cannot run program seq: "
    )
