"""`qplan init`: the starter manifest validates and applies as written, the CI recipes it
writes are those of examples/ci, and a folder where it would overwrite a file is left
exactly as it was."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from tests.e2e.stacks import state_env


def qplan(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qplan", *args],
        cwd=cwd,
        env=state_env(None),  # the default SQLite state next to the manifest
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file and folder under ``folder``, with the files' bytes."""
    return {
        str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None
        for path in sorted(folder.rglob("*"))
    }


def test_the_starter_manifest_validates_and_applies(tmp_path: Path) -> None:
    init = qplan(tmp_path, "init", "My Study 2")
    assert init.returncode == 0, init.stderr
    folder = tmp_path / "My Study 2"
    assert sorted(p.name for p in folder.iterdir()) == [".gitignore", "qplan.yaml"]
    assert (folder / ".gitignore").read_text() == ".qplan/\n"
    assert "My Study 2/qplan.yaml (stack My-Study-2)" in init.stdout
    assert "qplan apply 'My Study 2/qplan.yaml'" in init.stdout  # the next commands

    validate = qplan(folder, "validate", "qplan.yaml")
    assert validate.returncode == 0, validate.stderr
    assert "stack My-Study-2: 1 job, 3 instances" in validate.stdout
    apply = qplan(folder, "apply", "qplan.yaml")
    assert apply.returncode == 0, apply.stdout + apply.stderr
    assert "3 succeeded" in apply.stdout
    again = qplan(folder, "plan", "qplan.yaml", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr  # nothing left to do


@pytest.mark.parametrize(
    ("ci", "recipe", "example"),
    [
        ("github", ".github/workflows/qplan.yml", "github-actions.yml"),
        ("gitlab", ".gitlab-ci.yml", "gitlab-ci.yml"),
    ],
)
def test_ci_writes_the_recipe_of_examples_ci(
    tmp_path: Path, ci: str, recipe: str, example: str
) -> None:
    (tmp_path / ".gitignore").write_text("*.pyc\nbuild/")  # no newline at its end
    init = qplan(tmp_path, "init", "--ci", ci, "--stack", "team.study")
    assert init.returncode == 0, init.stderr
    assert (tmp_path / recipe).read_bytes() == (EXAMPLES / "ci" / example).read_bytes()
    assert recipe in init.stdout
    assert (tmp_path / ".gitignore").read_text() == "*.pyc\nbuild/\n.qplan/\n"  # appended
    assert "stack: team.study  #" in (tmp_path / "qplan.yaml").read_text()

    (tmp_path / "qplan.yaml").unlink()
    again = qplan(tmp_path, "init", "--stack", "team.study")  # .qplan/ is ignored already
    assert again.returncode == 0, again.stderr
    assert (tmp_path / ".gitignore").read_text() == "*.pyc\nbuild/\n.qplan/\n"


@pytest.mark.parametrize(
    ("existing", "args"),
    [
        ("qplan.yaml", ("--ci", "github")),  # the manifest: the recipe is not written either
        (".gitlab-ci.yml", ("--ci", "gitlab")),  # the recipe: the manifest is not written
    ],
)
def test_a_file_it_would_overwrite_leaves_everything_untouched(
    tmp_path: Path, existing: str, args: tuple[str, ...]
) -> None:
    (tmp_path / existing).write_text("# ours, not qplan's\n")
    (tmp_path / ".gitignore").write_text("node_modules/\n")
    before = snapshot(tmp_path)
    init = qplan(tmp_path, "init", *args)
    assert init.returncode == 1, init.stdout + init.stderr
    assert f"{existing} already exists; nothing was written" in init.stderr
    assert "Traceback" not in init.stderr and init.stdout == ""
    assert snapshot(tmp_path) == before


def test_a_stack_name_the_manifest_would_refuse_is_a_usage_error(tmp_path: Path) -> None:
    init = qplan(tmp_path, "init", "--stack", "two words")
    assert init.returncode == 64, init.stdout + init.stderr
    assert "--stack 'two words'" in init.stderr
    assert list(tmp_path.iterdir()) == []
