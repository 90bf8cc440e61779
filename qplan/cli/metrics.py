"""``qplan metrics``: the metrics hybrid jobs logged, across sweep points."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qplan.cli.options import MANIFEST, stack_options

if TYPE_CHECKING:
    from qplan.operations import LoadOptions


@click.command()
@MANIFEST
@click.argument("addresses", nargs=-1, metavar="[ADDRESS|JOB]...")
@stack_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also draw every metric against the iteration, one line per instance, into this "
    "PNG file (needs matplotlib: pip install 'qplan[plot]').",
)
def metrics(
    manifest: str, addresses: tuple[str, ...], options: LoadOptions, fmt: str, plot: Path | None
) -> None:
    """Print the metrics hybrid jobs logged (log_metric), by iteration and timestamp.

    Every hybrid instance submitted, or the given instances or jobs. Read from each job's
    log, the same way for local and Braket jobs: one row per instance and iteration, one
    column per metric, sweep parameters as columns.
    """
    from qplan import operations
    from qplan.cli.views.hybrid import metric_rows, plot_metrics
    from qplan.errors import QplanError

    found = operations.hybrid.metrics(manifest, options, addresses)
    params, names, rows = metric_rows(found)
    columns = ["address", *params, "iteration", "timestamp", *names]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    elif not rows:
        click.echo("No metrics logged yet.")
    else:
        table = [[_cell(row.get(c), c) for c in columns] for row in rows]
        header = [c.upper() for c in columns]
        widths = [max(len(h), *(len(line[i]) for line in table)) for i, h in enumerate(header)]
        for line in (header, *table):
            click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
    if plot is not None:
        try:
            drawn = plot_metrics(found, plot)
        except ImportError:
            raise QplanError(
                "--plot needs matplotlib, which is not installed: pip install 'qplan[plot]'"
            ) from None
        if drawn:
            click.echo(f"Plotted {', '.join(drawn)} to {plot}", err=True)
        else:
            click.echo("Nothing to plot: no metrics logged yet.", err=True)


def _cell(value: object, column: str) -> str:
    if value is None:
        return "-"
    if column == "timestamp" and isinstance(value, float):
        from qplan.stamps import utc_stamp

        return utc_stamp(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
