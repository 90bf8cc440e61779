"""Q# through the command line, on the local provider's `qsharp` device (qdk's simulator).

Runs are counted with the local provider's run journal, as in test_apply_cli.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.stacks import Stack

pytest.importorskip("qdk")

SWEEP_QS = """\
namespace Sweep {
    // Ry(theta) on each of n qubits, all measured.
    operation Run(n : Int, theta : Double) : Result[] {
        use qubits = Qubit[n];
        for q in qubits { Ry(theta, q); }
        MResetEachZ(qubits)
    }

    operation Flip(n : Int, theta : Double) : Result[] {
        use qubits = Qubit[n];
        for q in qubits { X(q); Ry(theta, q); }
        MResetEachZ(qubits)
    }

    operation Broken(n : Int, theta : Double) : Result[] {
        use qubits = Qubit[n - 10];
        MResetEachZ(qubits)
    }
}
"""

MANIFEST = """\
version: 1
stack: qsharp
programs:
  sweep: {format: qsharp, path: programs/sweep.qs, entry: Sweep.Run}
jobs:
  rotation:
    target: local/qsharp
    program: sweep
    shots: 40
    inputs: {n: 3}
    sweep:
      grid:
        theta: [0, 3.141592653589793]
"""


def qsharp_stack(tmp_path: Path, manifest: str = MANIFEST) -> Stack:
    stack = Stack.write(tmp_path / "s", manifest)
    (stack.folder / "programs").mkdir()
    (stack.folder / "programs" / "sweep.qs").write_text(SWEEP_QS)
    return stack


def results(stack: Stack) -> dict[float, dict[str, int]]:
    out = stack.qplan("results", "qplan.yaml", "--format", "json")
    assert out.returncode == 0, out.stderr
    return {r["point"]["theta"]: r["counts"] for r in json.loads(out.stdout)}


def test_a_qsharp_sweep_applies_then_reapplies_nothing(tmp_path: Path) -> None:
    stack = qsharp_stack(tmp_path)
    first = stack.qplan("apply", "qplan.yaml")
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.splitlines()[-1] == "Apply complete: 2 created; 2 succeeded."
    assert results(stack) == {0.0: {"000": 40}, 3.141592653589793: {"111": 40}}
    assert len(stack.runs()) == 2
    again = stack.qplan("apply", "qplan.yaml")
    assert again.returncode == 0, again.stderr
    assert "No changes: the state matches the manifest (2 resources)." in again.stdout
    assert len(stack.runs()) == 2  # nothing ran again


def test_the_entry_and_the_program_fingerprint_a_qsharp_job(tmp_path: Path) -> None:
    stack = qsharp_stack(tmp_path)
    assert stack.qplan("apply", "qplan.yaml").returncode == 0
    program = stack.folder / "programs" / "sweep.qs"
    program.write_text("// a comment, and new indentation\n" + SWEEP_QS.replace("    ", "  "))
    assert "No changes" in stack.qplan("plan", "qplan.yaml").stdout
    manifest = stack.folder / "qplan.yaml"
    manifest.write_text(MANIFEST.replace("entry: Sweep.Run", "entry: Sweep.Flip"))
    plan = stack.qplan("plan", "qplan.yaml")
    assert "-/+ job     rotation  local/qsharp  2 to replace" in plan.stdout
    applied = stack.qplan("apply", "qplan.yaml")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert results(stack) == {0.0: {"111": 40}, 3.141592653589793: {"000": 40}}
    assert len(stack.runs()) == 4


def test_a_failing_qsharp_program_reports_qdk_s_message(tmp_path: Path) -> None:
    stack = qsharp_stack(tmp_path, MANIFEST.replace("entry: Sweep.Run", "entry: Sweep.Broken"))
    result = stack.qplan("apply", "qplan.yaml")
    assert result.returncode == 1
    rows = stack.rows()
    assert {status for status, _, _ in rows.values()} == {"failed"}
    error = rows["rotation[theta=0.0]"][2]
    assert error is not None
    assert error.startswith("QsharpError: ")
    assert "Cannot allocate qubit array with a negative length" in error
    assert "Traceback" not in result.stderr
