"""The corpus of invalid manifests: each one is reported with the right locations and messages.

Every file ``tests/fixtures/invalid/NN-name.yaml`` carries its expected diagnostics as
comment lines at its top, one per diagnostic::

    # expect: LINE:COL: dotted.path: message substring

(the path is empty for problems of the whole document: ``# expect: 2:1: : invalid YAML``).
Files that cannot hold comments (empty, binary, not UTF-8, NUL bytes) have a sidecar
``NN-name.yaml.expected`` with the same lines, without ``# expect: ``.

``qplan validate`` runs in a subprocess (cwd: the repository root) and must exit 1 without a
traceback, print exactly as many diagnostics as expected, and match each expectation with
a distinct diagnostic: same LINE:COL, same path, message containing the substring. The file
of a diagnostic is the fixture's path as given on the command line, or, for a problem
inside a program or points file the fixture references, that file (under ``programs/``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT / "tests" / "fixtures" / "invalid"
PROGRAMS = CORPUS / "programs"
UNSET_VAR = "QPLAN_TEST_SURELY_UNSET_VAR"
MIN_FIXTURES = 40

_EXPECT_RE = re.compile(r"^(?P<line>\d+):(?P<col>\d+): (?P<path>[^:]*): (?P<message>.+)$")
_DIAG_RE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<rest>.*)$")
_SUMMARY_RE = re.compile(r"^(?P<count>\d+) errors?$")
# What a dotted path looks like when a diagnostic has one (used only to check that a
# diagnostic expected without a path has none): jobs.rabi.sweep.grid[0], vars.shots, ...
_PATH_PREFIX_RE = re.compile(r"^[A-Za-z_][\w-]*(?:\.[^\s.:\[\]][^.:\[\]]*|\[\d+\])*: ")


@dataclass(frozen=True)
class Expectation:
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.path}: {self.message}"


@dataclass(frozen=True)
class Printed:
    file: str
    line: int
    column: int
    rest: str  # "path: message", or "message" when the path is empty

    def matches(self, exp: Expectation, allowed_files: set[str]) -> bool:
        if self.file not in allowed_files:
            return False
        if (self.line, self.column) != (exp.line, exp.column):
            return False
        if exp.path:
            prefix = f"{exp.path}: "
            if not self.rest.startswith(prefix):
                return False
            message = self.rest[len(prefix) :]
        else:
            if _PATH_PREFIX_RE.match(self.rest):
                return False
            message = self.rest
        return exp.message in message


def _fixtures() -> list[Path]:
    return sorted(p for p in CORPUS.glob("*.yaml") if re.match(r"\d\d-", p.name))


def _expectations(fixture: Path) -> list[Expectation]:
    sidecar = fixture.with_name(fixture.name + ".expected")
    if sidecar.exists():
        raw = [line for line in sidecar.read_text("utf-8").splitlines() if line.strip()]
    else:
        raw = []
        for line in fixture.read_text("utf-8").splitlines():
            if not line.startswith("#"):
                break
            if line.startswith("# expect: "):
                raw.append(line.removeprefix("# expect: "))
    out = []
    for text in raw:
        match = _EXPECT_RE.match(text)
        assert match, f"{fixture.name}: malformed expectation {text!r}"
        out.append(
            Expectation(
                int(match["line"]), int(match["col"]), match["path"].strip(), match["message"]
            )
        )
    return out


def _program_files(fixture: Path) -> set[str]:
    """Display names (relative to the repository root) of the program and points files
    that the fixture names; diagnostics about their content carry their name."""
    try:
        text = fixture.read_text("utf-8")
    except UnicodeDecodeError:
        return set()
    return {os.path.relpath(p, ROOT) for p in PROGRAMS.iterdir() if f"programs/{p.name}" in text}


def _run(rel: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop(UNSET_VAR, None)
    env.pop("QPLAN_MAX_SWEEP_POINTS", None)
    return subprocess.run(
        [sys.executable, "-m", "qplan", "validate", rel],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=60,
        check=False,
    )


def test_corpus_is_large_enough() -> None:
    fixtures = _fixtures()
    assert len(fixtures) >= MIN_FIXTURES, f"only {len(fixtures)} invalid manifests"
    for fixture in fixtures:
        assert _expectations(fixture), f"{fixture.name} has no expectations"


@pytest.mark.parametrize("fixture", _fixtures(), ids=lambda p: p.stem)
def test_invalid_manifest(fixture: Path) -> None:
    expected = _expectations(fixture)
    rel = fixture.relative_to(ROOT).as_posix()
    result = _run(rel)
    output = result.stdout + result.stderr
    report = f"qplan validate {rel} (exit {result.returncode}) printed:\n{output}"

    assert "Traceback" not in output, report
    assert "internal error" not in output, report
    assert result.returncode == 1, report

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, report
    summary = _SUMMARY_RE.match(lines[-1])
    assert summary, f"no 'N error(s)' line at the end\n{report}"
    printed_lines = lines[:-1]
    assert int(summary["count"]) == len(printed_lines), report

    printed: list[Printed] = []
    for line in printed_lines:
        match = _DIAG_RE.match(line)
        assert match, f"diagnostic without FILE:LINE:COL: {line!r}\n{report}"
        printed.append(Printed(match["file"], int(match["line"]), int(match["col"]), match["rest"]))

    allowed = {rel} | _program_files(fixture)
    unmatched = list(printed)
    missing = []
    for exp in expected:
        hit = next((p for p in unmatched if p.matches(exp, allowed)), None)
        if hit is None:
            missing.append(exp)
        else:
            unmatched.remove(hit)
    problems = []
    if len(printed) != len(expected):
        problems.append(f"{len(printed)} diagnostics printed, {len(expected)} expected")
    problems += [f"expected, not printed: {exp}" for exp in missing]
    problems += [
        f"printed, not expected: {p.file}:{p.line}:{p.column}: {p.rest}" for p in unmatched
    ]
    assert not problems, "\n".join(problems) + "\n" + report
