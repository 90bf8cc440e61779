"""``qplan init``: start a project with a manifest that validates and applies as it is."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import click


@click.command()
@click.argument(
    "folder", metavar="[DIR]", default=".", type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--stack",
    metavar="NAME",
    help="Name of the stack (default: the folder's name, made a valid stack name).",
)
@click.option(
    "--ci",
    type=click.Choice(["github", "gitlab"]),
    help="Also write the CI recipe: .github/workflows/qplan.yml or .gitlab-ci.yml "
    "(DIR is then the repository's root).",
)
def init(folder: Path, stack: str | None, ci: str | None) -> None:
    """Write a starter qplan.yaml into DIR (default: here), and ignore .qplan/ in git.

    The manifest runs a small sweep on the embedded local simulator, with comments on
    each part. No existing file is overwritten: if one would be, nothing is written.
    """
    from qplan.operations.scaffold import GITIGNORE, IGNORED, MANIFEST, scaffold

    done = scaffold(folder, stack=stack, ci=ci)
    for name in done.created:
        note = f" (stack {done.stack})" if name == MANIFEST else ""
        click.echo(f"{'wrote':<8} {_shown(folder / name)}{note}")
    if done.gitignore:
        click.echo(f"{done.gitignore:<8} {_shown(folder / GITIGNORE)} (ignores {IGNORED})")
    manifest = shlex.quote(_shown(folder / MANIFEST))
    click.echo("\nNext:")
    click.echo(f"  qplan validate {manifest}")
    click.echo(f"  qplan plan {manifest}")
    click.echo(f"  qplan apply {manifest}")
    if ci is not None:
        click.echo(
            "Then set up the CI as the comments at the top of "
            f"{_shown(folder / done.created[-1])} say (the QPLAN_STATE secret first)."
        )


def _shown(path: Path) -> str:
    """``path`` as the user would type it from here."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive
        return str(path)
