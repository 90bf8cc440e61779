"""Shared test helpers: repository paths and a writer of small manifests."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.emulators.braket.fixture",  # braket_emulator, braket_moto_server
    "tests.emulators.azure.fixture",  # azure_emulator, azurite_server
    "tests.emulators.pasqal.fixture",  # pasqal_emulator, pasqal_sdk
    "tests.postgres.fixture",  # postgres_server, postgres_url
]

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
MANIFEST_EXAMPLES = sorted(p.parent.name for p in EXAMPLES.glob("*/qplan.yaml"))
"""The examples that are a manifest (``examples/ci`` holds CI recipes)."""

CLOUD_ENV = {
    "QPLAN_S3_BUCKET": "qplan-test-results",
    "AZURE_QUANTUM_RESOURCE_ID": "/subscriptions/00000000-0000-0000-0000-000000000000"
    "/resourceGroups/rg/providers/Microsoft.Quantum/Workspaces/ws",
    "PASQAL_PROJECT_ID": "00000000-0000-0000-0000-00000000cafe",
}

RY = """\
OPENQASM 3.0;
input float theta;
qubit q;
bit c;
ry(theta) q;
c = measure q;
"""

RY_CNOT = """\
OPENQASM 3.0;
input float theta;
qubit[2] q;
bit[2] c;
ry(theta) q[0];
cnot q[0], q[1];
c = measure q;
"""


def ry_program(source: str = RY) -> str:
    """A manifest's ``programs:`` section, at column 0, with one OpenQASM 3 program named
    ``ry`` (``RY``, or ``RY_CNOT`` for two qubits), whose one parameter is ``theta``."""
    body = textwrap.indent(source, " " * 6)
    return f"programs:\n  ry:\n    format: openqasm3\n    source: |\n{body}"


RY_PROGRAM = ry_program()


LOCAL_LEFTOVERS = shutil.ignore_patterns(".qplan", "qplan.lock", "journal*", "__pycache__")
"""What running an example in place leaves in its folder (the README's first command applies
the quickstart where it stands): state, run journals, bytecode. Never copied into a test."""


def copy_example(name: str, dest: Path, *, examples: Path = EXAMPLES) -> Path:
    """A copy of ``examples/NAME`` at ``dest`` with only the example's own files: a test
    never reads state it did not create."""
    shutil.copytree(examples / name, dest, ignore=LOCAL_LEFTOVERS)
    return dest


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """write(text, name="qplan.yaml", **files) -> path of the manifest, dedented."""

    def _write(text: str, name: str = "qplan.yaml", **files: str) -> Path:
        for fname, content in files.items():
            target = tmp_path / fname.replace("__", "/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return _write
