"""The local provider runs a Pulser sequence on a mappable register with each point's
mapping: a subset of the qubits gives a register, and bitstrings, of that many atoms."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import qplan
from tests.pulser_programs import mappable

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
    manifest = write(MANIFEST, **{"seq.json": mappable(rows=3, qubits=5, duration=200)})
    report = qplan.apply(manifest)
    assert report.ok, report.failures
    records = qplan.results(manifest, ["scan"])
    widths = {len(r.point["qubits"]): {len(k) for k in r.counts} for r in records}
    assert widths == {3: {3}, 4: {4}}
    assert all(sum(r.counts.values()) == 20 for r in records)
