"""``qplan download``: a hybrid job's output archive, fetched and extracted."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from qplan.cli.options import MANIFEST, stack_options

if TYPE_CHECKING:
    from qplan.operations import LoadOptions


@click.command()
@MANIFEST
@click.argument("address")
@stack_options
@click.option(
    "--to",
    "into",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to extract into: the files land in DIR/<job name>/.",
)
def download(manifest: str, address: str, options: LoadOptions, into: Path) -> None:
    """Download the output of the hybrid job instance at ADDRESS and extract it.

    The files its results folder held when it ended (results.json, and whatever else it
    wrote there), as Braket's download_result does.
    """
    from qplan import operations

    folder = operations.hybrid.download(manifest, options, address, into)
    files = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    click.echo(f"{address}: {len(files)} file(s) in {folder}")
    for path in files:
        click.echo(f"  {path}")
