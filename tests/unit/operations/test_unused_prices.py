"""A manifest's price for nothing it runs (a misspelt target) is said in the plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from qplan import operations

MANIFEST = """\
version: 1
stack: s
pricing:
  local/BRAKET_SV: {per_shot: 0.01}
  local/braket_sv: {per_task: 0.5}
programs:
  bell: {format: openqasm3, source: "OPENQASM 3.0; qubit[2] q; h q[0];"}
jobs:
  bell: {target: local/braket_sv, program: bell, shots: 10}
"""


def test_a_price_for_nothing_the_manifest_runs_is_a_plan_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QPLAN_STATE", raising=False)
    manifest = tmp_path / "qplan.yaml"
    manifest.write_text(MANIFEST)
    plan = operations.plan(str(manifest), operations.LoadOptions())
    assert plan.warnings == [
        "pricing: local/BRAKET_SV prices nothing this manifest runs "
        "(its targets and instance types: local/braket_sv)"
    ]
    assert plan.cost is not None and plan.cost.total == pytest.approx(0.5)  # the one spelt right
