"""The local provider runs a Pulser sequence on a mappable register with each point's
mapping: a subset of the qubits gives a register, and bitstrings, of that many atoms."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import qplan


def mappable_sequence() -> str:
    """Five qubits on a layout of twelve traps (three rows of four, 6 µm apart), under a
    global pulse of amplitude ``omega``."""
    from pulser import Pulse, Sequence
    from pulser.devices import AnalogDevice
    from pulser.register.register_layout import RegisterLayout

    traps = [(6.0 * column, 6.0 * row) for row in range(3) for column in range(4)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        register = RegisterLayout(traps).make_mappable_register(n_qubits=5)
        seq = Sequence(register, AnalogDevice)
        seq.declare_channel("ryd", "rydberg_global")
        omega = seq.declare_variable("omega")
        seq.add(Pulse.ConstantPulse(200, omega, 0.0, 0.0), "ryd")
        seq.measure("ground-rydberg")
        return str(seq.to_abstract_repr())


MANIFEST = """\
version: 1
stack: mapped
programs:
  seq: {format: pulser, path: seq.json}
jobs:
  scan:
    target: local/qutip
    program: seq
    shots: 20
    sweep:
      points:
        - {omega: 1.0, qubits: {q0: 0, q1: 5, q2: 11}}
        - {omega: 1.0, qubits: {q0: 3, q1: 4, q2: 7, q3: 8}}
"""


def test_a_sweep_maps_three_then_four_traps(write: Callable[..., Path]) -> None:
    manifest = write(MANIFEST, **{"seq.json": mappable_sequence()})
    report = qplan.apply(manifest)
    assert report.ok, report.failures
    records = qplan.results(manifest, ["scan"])
    widths = {len(r.point["qubits"]): {len(k) for k in r.counts} for r in records}
    assert widths == {3: {3}, 4: {4}}
    assert all(sum(r.counts.values()) == 20 for r in records)
