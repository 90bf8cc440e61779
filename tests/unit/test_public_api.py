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
        "load",
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
