"""``qplan init``: a starter manifest, the ``.gitignore`` line for the local state, and
optionally a CI recipe, written into a folder.

What it keeps true: nothing that exists is overwritten. Every file it would create is
checked first, and each is created exclusively; when one turns out to exist, the files
already created are removed again, so a refusal leaves the folder as it was. The
``.gitignore`` is the one file that may exist: a missing ``.qplan/`` line is appended.

The templates ship in the package (``qplan/scaffold``); the CI recipes there are the ones
in ``examples/ci``, one copy.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from qplan.errors import QplanError, UsageError
from qplan.manifest.models import STACK_RE

__all__ = [
    "CI_RECIPES",
    "MANIFEST",
    "ScaffoldConflict",
    "Scaffolded",
    "default_stack_name",
    "recipe_text",
    "scaffold",
    "starter_manifest",
]

MANIFEST = "qplan.yaml"
GITIGNORE = ".gitignore"
IGNORED = ".qplan/"
"""The local state, run files and caches qplan keeps next to a manifest: never committed."""

CI_RECIPES = {
    "github": ("github-actions.yml", ".github/workflows/qplan.yml"),
    "gitlab": ("gitlab-ci.yml", ".gitlab-ci.yml"),
}
"""Per CI platform: the recipe's name under ``scaffold/ci`` and where it goes in a repository."""

_PLACEHOLDER = "__QPLAN_STACK__"
"""Where the stack's name goes in the starter manifest: a token that neither YAML nor the
manifest's own Jinja2 templates (``{{ }}``) give a meaning to."""


class ScaffoldConflict(QplanError):
    """A file ``qplan init`` would write exists already; nothing was written."""


@dataclass(frozen=True)
class Scaffolded:
    """What was written: paths relative to the folder, in the order written."""

    folder: Path
    stack: str
    created: list[str]
    gitignore: str
    """"created", "appended", or "" when the .gitignore ignored .qplan/ already."""


def _template(name: str) -> str:
    return resources.files("qplan").joinpath("scaffold", name).read_text(encoding="utf-8")


def recipe_text(ci: str) -> str:
    """The CI recipe for ``ci`` (``github`` or ``gitlab``)."""
    return _template(f"ci/{CI_RECIPES[ci][0]}")


def default_stack_name(folder: Path) -> str:
    """The folder's name made a valid stack name: other characters become ``-``, the name
    starts with a letter or digit and has at most 100 characters; ``stack`` if nothing is
    left."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", folder.resolve().name)
    name = re.sub(r"^[^A-Za-z0-9]+", "", name)[:100].rstrip("-")
    return name or "stack"


def starter_manifest(stack: str) -> str:
    """The starter manifest for a stack named ``stack``."""
    return _template(MANIFEST).replace(_PLACEHOLDER, stack)


def _ignores_state(text: str) -> bool:
    lines = {line.strip() for line in text.splitlines()}
    return bool(lines & {".qplan", ".qplan/", "/.qplan", "/.qplan/"})


def scaffold(folder: Path, *, stack: str | None = None, ci: str | None = None) -> Scaffolded:
    """Write the starter manifest (and the recipe for ``ci``) into ``folder``, made if
    missing, and make its ``.gitignore`` ignore ``.qplan/``. Raises ScaffoldConflict,
    having written nothing, when a file to write exists; UsageError for a bad stack name,
    an unknown ``ci`` or a ``folder`` that is not a folder."""
    if stack is None:
        stack = default_stack_name(folder)
    elif not STACK_RE.fullmatch(stack):
        raise UsageError(
            f"--stack {stack!r}: a stack's name is 1 to 100 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    if ci is not None and ci not in CI_RECIPES:
        raise UsageError(f"--ci {ci!r}: one of {', '.join(CI_RECIPES)}")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")

    files = {MANIFEST: starter_manifest(stack)}
    if ci is not None:
        files[CI_RECIPES[ci][1]] = recipe_text(ci)
    _refuse_existing(folder, files)

    created: list[str] = []
    made_dirs = [d for d in (folder, *folder.parents) if not d.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for name, text in files.items():
            path = folder / name
            for parent in reversed(path.parents):
                if not parent.exists():
                    parent.mkdir()
                    made_dirs.insert(0, parent)
            with path.open("x", encoding="utf-8") as out:  # never over an existing file
                created.append(name)
                out.write(text)
        gitignore = _ignore_state(folder / GITIGNORE)
    except FileExistsError:  # made meanwhile by someone else: undo, then refuse
        _undo(folder, created, made_dirs)
        _refuse_existing(folder, files)
        raise
    except BaseException:
        _undo(folder, created, made_dirs)
        raise
    return Scaffolded(folder, stack, created, gitignore)


def _refuse_existing(folder: Path, files: dict[str, str]) -> None:
    existing = [name for name in files if (folder / name).exists() or (folder / name).is_symlink()]
    if existing:
        where = ", ".join(str(folder / name) for name in existing)
        raise ScaffoldConflict(
            f"qplan init: {where} already exist{'s' if len(existing) == 1 else ''}; "
            "nothing was written (move or remove "
            f"{'it' if len(existing) == 1 else 'them'} first)"
        )


def _undo(folder: Path, created: list[str], made_dirs: list[Path]) -> None:
    """Remove what was created: the files, then the folders made for them, deepest first."""
    for name in created:
        with contextlib.suppress(OSError):
            (folder / name).unlink()
    for directory in made_dirs:
        with contextlib.suppress(OSError):
            directory.rmdir()


def _ignore_state(path: Path) -> str:
    """Make ``path`` (a .gitignore) ignore the local state: created, or the line appended."""
    if not path.exists():
        path.write_text(f"{IGNORED}\n", encoding="utf-8")
        return "created"
    text = path.read_text(encoding="utf-8")
    if _ignores_state(text):
        return ""
    with path.open("a", encoding="utf-8") as out:
        out.write(("" if not text or text.endswith("\n") else "\n") + f"{IGNORED}\n")
    return "appended"
