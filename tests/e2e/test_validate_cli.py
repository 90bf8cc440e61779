"""`qplan validate` and `qplan schema` through the command line, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CLOUD_ENV, MANIFEST_EXAMPLES, REPO


def qplan(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **CLOUD_ENV, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "qplan", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=full_env,
        check=False,
    )


EXPECTED_SUMMARIES = {
    "quickstart": "stack quickstart: 2 jobs, 6 instances (5 sweep points), 0 sessions, "
    "1 provider (local)",
    "pasqal-batch": "stack afm-scan: 1 job, 3 instances (3 sweep points), 0 sessions, "
    "1 provider (pq)",
    "azure-session": "stack ionq-session: 3 jobs, 3 instances (0 sweep points), 1 session, "
    "1 provider (az)",
    "braket-sweep": "stack rabi-study: 2 jobs, 33 instances (32 sweep points), 0 sessions, "
    "1 provider (aws)",
    "braket-hybrid-vqe": "stack vqe-h2: 1 job, 5 instances (5 sweep points), 0 sessions, "
    "1 provider (local)",
    "qsharp-sweep": "stack qsharp-sweep: 2 jobs, 5 instances (5 sweep points), 0 sessions, "
    "1 provider (local)",
}


@pytest.mark.parametrize("example", sorted(EXPECTED_SUMMARIES))
def test_every_example_validates(example: str) -> None:
    manifest = f"examples/{example}/qplan.yaml"
    result = qplan("validate", manifest)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{manifest}: valid; {EXPECTED_SUMMARIES[example]}\n"
    assert result.stderr == ""


def test_every_example_directory_is_covered() -> None:
    assert set(MANIFEST_EXAMPLES) == set(EXPECTED_SUMMARIES)


def test_overrides_change_the_result() -> None:
    result = qplan(
        "validate", "examples/pasqal-batch/qplan.yaml", "--var", "target=local/qutip", "--json"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "valid": True,
        "stack": "afm-scan",
        "jobs": 1,
        "instances": 3,
        "sweep_points": 3,
        "sessions": 0,
        "providers": ["local"],
    }


def test_missing_environment_is_a_located_error() -> None:
    env = {k: v for k, v in os.environ.items() if k != "QPLAN_S3_BUCKET"}
    result = subprocess.run(
        [sys.executable, "-m", "qplan", "validate", "examples/braket-sweep/qplan.yaml"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == (
        "examples/braket-sweep/qplan.yaml:14:16: providers.aws.s3_bucket: "
        "environment variable QPLAN_S3_BUCKET is not set\n1 error\n"
    )


def test_errors_as_json(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("version: 1\nstack: s\njobs:\n  a: {target: local/braket_sv, program: p}\n")
    result = qplan("validate", str(path), "--json")
    assert result.returncode == 1
    diagnostics = json.loads(result.stdout)["diagnostics"]
    assert [(d["line"], d["column"], d["path"], d["message"]) for d in diagnostics] == [
        (4, 41, "jobs.a.program", "unknown program 'p'"),
    ]


def test_secret_never_reaches_output(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "version: 1\nstack: s\nproviders:\n  aws:\n    type: braket\n"
        "    region: \"{{ env('QPLAN_SECRET') }}\"\n    s3_bucket: bucket\n"
        "jobs:\n  a: {target: aws/sv1, program: p, shots: 1}\n"
        "programs:\n  p: {format: openqasm3, source: 'OPENQASM 3.0; qubit q;'}\n"
    )
    secret = "AKIA-very-secret-key"
    result = qplan("validate", str(path), env={"QPLAN_SECRET": secret})
    assert result.returncode == 1
    assert secret not in result.stdout + result.stderr
    assert (
        "providers.aws.region: must be an AWS region like us-east-1, got a value read from "
        "the environment" in result.stderr
    )


def test_help_lists_the_commands() -> None:
    result = qplan("--help")
    assert result.returncode == 0
    assert "validate" in result.stdout
    assert "schema" in result.stdout


@pytest.mark.parametrize("columns", ["80", "100"])
def test_help_shows_whole_first_sentences(columns: str) -> None:
    from qplan.cli.app import cli

    result = qplan("--help", env={"COLUMNS": columns})
    listing = result.stdout.split("Commands:\n", 1)[1]
    described: dict[str, str] = {}
    for line in listing.splitlines():
        assert len(line) <= int(columns)
        name, _, text = line.strip().partition("  ")
        if line.startswith("  ") and not line.startswith("   "):
            described[name] = text.strip()
        else:  # a description wrapped onto the next line
            described[list(described)[-1]] += " " + line.strip()
    assert sorted(described) == sorted(cli.commands)
    for name, text in described.items():
        assert "..." not in text
        assert text.endswith(".")
        assert " ".join((cli.commands[name].help or "").split()).startswith(text)


# Runs `qplan validate` as its only child, under a 1 GiB address-space cap so that an
# unbounded expansion fails instead of eating the machine, and reports the child's peak
# RSS. The wrapper is a fresh small process: a child forked from pytest would count
# pytest's own pages in its peak.
_MEASURE = """
import json, resource, subprocess, sys, time
def cap():
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
started = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True, preexec_fn=cap)
elapsed = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
peak_bytes = peak if sys.platform == "darwin" else peak * 1024
print(json.dumps({"code": proc.returncode, "stderr": proc.stderr, "elapsed": elapsed,
                  "peak": peak_bytes}))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="resource limits are POSIX")
def test_yaml_bomb_is_refused_at_once_in_little_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(
        "version: 1\nstack: lol\na: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        + "".join(
            f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
            for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
        )
    )
    measure = subprocess.run(
        [sys.executable, "-c", _MEASURE, sys.executable, "-m", "qplan", "validate", str(bomb)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **CLOUD_ENV},
        timeout=120,
        check=True,
    )
    run = json.loads(measure.stdout)
    assert run["code"] == 1, run["stderr"]
    assert run["stderr"].startswith(f"{bomb}:9:8: g[0]: alias *f "), run["stderr"]
    assert "more than 1,000,000 nodes" in run["stderr"]
    assert run["elapsed"] < 5, run
    assert run["peak"] < 100e6, run
