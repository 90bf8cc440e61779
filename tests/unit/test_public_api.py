"""The public API is exactly what __all__ says, and importing it stays cheap."""

from __future__ import annotations

import json
import subprocess
import sys

import qplan


def test_public_names_are_guarded() -> None:
    assert sorted(qplan.__all__) == [
        "Diagnostic",
        "ManifestError",
        "QplanError",
        "UsageError",
        "__version__",
        "apply",
        "load",
        "plan",
        "results",
        "status",
    ]
    for name in qplan.__all__:
        assert hasattr(qplan, name)


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys, json\n"
        "from qplan.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = json.loads(out.stdout.splitlines()[-1])
    heavy = ("pydantic", "jinja2", "ruamel", "networkx", "openqasm3", "braket", "pulser", "azure")
    assert [m for m in modules if m.split(".")[0] in heavy] == []


def test_a_notebook_drives_the_same_stack_as_the_cli(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from qplan.executor import RecordingSink
    from tests.conftest import copy_example

    copy_example("quickstart", tmp_path / "q")
    manifest = tmp_path / "q" / "qplan.yaml"
    assert qplan.plan(manifest).has_changes
    sink = RecordingSink()
    report = qplan.apply(manifest, events=sink)
    assert report.ok and report.counts["succeeded"] == 6
    assert sum(e.kind == "succeeded" for e in sink.events) == 6
    assert not qplan.plan(manifest).has_changes
    records = qplan.results(manifest, ["rotation"])
    assert [r.point["theta"] for r in records][:2] == [0.0, 0.785398163397448]
    assert {r.status for r in qplan.status(manifest)} == {qplan_status_succeeded()}
    cli = subprocess.run(
        [sys.executable, "-m", "qplan", "plan", str(manifest), "--detailed-exitcode"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert cli.returncode == 0  # the command line sees what the notebook did


def qplan_status_succeeded() -> object:
    from qplan.jobstatus import JobStatus

    return JobStatus.SUCCEEDED
