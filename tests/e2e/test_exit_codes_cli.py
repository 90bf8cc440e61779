"""Exit codes a script can rely on: every command-line mistake exits 64 (EX_USAGE), never 2,
which `plan --detailed-exitcode` uses for "changes present"."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CLOUD_ENV, EXAMPLES
from tests.e2e.test_plan_cli import run

EX_USAGE = 64


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the quickstart example: its state, if any, lands in a temporary folder."""
    target = tmp_path / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", target)
    return target


MISTAKES = {
    "unknown option": (
        ["plan", "qplan.yaml", "--detailed-exitcode", "--bogus"],
        "Error: No such option '--bogus'",
    ),
    "unknown command": (["plna", "qplan.yaml"], "Error: No such command 'plna'"),
    "no command": ([], "Usage: qplan [OPTIONS] COMMAND [ARGS]..."),
    "missing argument": (["validate"], "Error: Missing argument 'MANIFEST'"),
    "bad option value": (
        ["apply", "qplan.yaml", "--parallelism", "0"],
        "Invalid value for '--parallelism': 0 is not in the range x>=1",
    ),
    "bad choice": (
        ["results", "qplan.yaml", "--format", "xml"],
        "Invalid value for '--format': 'xml' is not one of 'table', 'json', 'csv'",
    ),
    "undeclared --var": (
        ["plan", "qplan.yaml", "--var", "shotz=5"],
        "--var: shotz: not declared in vars of qplan.yaml (declared: shots)\n1 error\n",
    ),
    "malformed --var": (
        ["validate", "qplan.yaml", "--var", "shots"],
        "--var 'shots': expected NAME=VALUE",
    ),
    "missing manifest": (
        ["plan", "nope.yaml"],
        "Invalid value for 'MANIFEST': File 'nope.yaml' does not exist.",
    ),
    "missing manifest or plan file": (
        ["apply", "nope.yaml"],
        "Invalid value for 'MANIFEST|PLANFILE': File 'nope.yaml' does not exist.",
    ),
    "missing plan file": (
        ["show", "nope.json"],
        "Invalid value for 'PLANFILE': File 'nope.json' does not exist.",
    ),
    "missing --var-file": (
        ["validate", "qplan.yaml", "--var-file", "nope.yaml"],
        "Invalid value for '--var-file': File 'nope.yaml' does not exist.",
    ),
    "unknown address": (
        ["results", "qplan.yaml", "nosuch"],
        "no instance or job named nosuch in qplan.yaml",
    ),
    "unsupported --state": (
        ["status", "qplan.yaml", "--state", "mysql://db/qplan"],
        "--state: unsupported state URL scheme mysql://",
    ),
    "bad --state schema": (
        ["status", "qplan.yaml", "--state", "postgresql://db/qplan?schema=Team-A"],
        "--state: schema='Team-A' is not a plain lower-case SQL name",
    ),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_command_line_mistakes_exit_64(folder: Path, mistake: str) -> None:
    args, message = MISTAKES[mistake]
    result = run(*args, cwd=folder)
    assert result.returncode == EX_USAGE, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_undeclared_var_is_located_in_validate_json(folder: Path) -> None:
    result = run("validate", "qplan.yaml", "--var", "shotz=5", "--json", cwd=folder)
    assert result.returncode == EX_USAGE
    assert json.loads(result.stdout)["diagnostics"] == [
        {
            "file": "--var",
            "line": 0,
            "column": 0,
            "path": "shotz",
            "message": "not declared in vars of qplan.yaml (declared: shots)",
        }
    ]


def test_an_invalid_manifest_still_exits_1(folder: Path) -> None:
    (folder / "qplan.yaml").write_text("version: 1\nstack: s\njobs: {}\n")
    result = run("plan", "qplan.yaml", "--detailed-exitcode", cwd=folder)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert run("validate", "qplan.yaml", "--json", cwd=folder).returncode == 1


def apply_example(example: str, folder: Path, unset: tuple[str, ...], **env: str) -> Any:
    """``qplan apply`` of a copy of ``example``, with no environment variable starting with
    one of ``unset``."""
    target = folder / example
    shutil.copytree(EXAMPLES / example, target)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(unset)}
    environ.update(CLOUD_ENV, **env)
    return subprocess.run(
        [sys.executable, "-m", "qplan", "apply", "qplan.yaml"],
        capture_output=True,
        text=True,
        cwd=target,
        env=environ,
        timeout=300,
        check=False,
    )


def test_pasqal_without_credentials_fails_the_apply_and_says_what_to_set(tmp_path: Path) -> None:
    result = apply_example("pasqal-batch", tmp_path, ("PASQAL_",))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no Pasqal Cloud credentials: set PASQAL_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr and "succeeded" not in result.stdout


def test_azure_without_credentials_fails_the_apply_and_says_what_to_set(tmp_path: Path) -> None:
    # no connection string, and none of DefaultAzureCredential's sources here: the session
    # cannot be opened, its members fail (they are not skipped), the apply exits 1
    result = apply_example(
        "azure-session",
        tmp_path,
        ("AZURE_", "IDENTITY_"),
        AZURE_CONFIG_DIR=str(tmp_path / "no-az-login"),
        QDK_PYTHON_TELEMETRY="none",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no Azure credentials" in result.stderr
    assert "AZURE_QUANTUM_CONNECTION_STRING" in result.stderr
    assert "Traceback" not in result.stderr and "Attempted credentials" not in result.stderr
    assert "3 failed" in result.stderr + result.stdout
