"""``qplan results``: the counts of succeeded instances, as a table, JSON or CSV."""

from __future__ import annotations

import csv
import json
import sys
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
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
def results(
    manifest: str,
    addresses: tuple[str, ...],
    options: LoadOptions,
    fmt: str,
) -> None:
    """Print the results recorded for MANIFEST's instances.

    All of them, or the given instances or jobs. Sweep parameters are columns; counts and
    probabilities per outcome.
    """
    from qplan import operations
    from qplan.manifest.params import format_value

    records = operations.results(manifest, options, addresses)
    params = sorted({name for r in records for name in r.point})
    if fmt == "json":
        out = [
            {
                "address": r.address,
                "job": r.job,
                "target": r.target,
                "point": r.point,
                "shots": r.shots,
                "counts": r.counts,
                "probabilities": r.probabilities,
                "provider_job_id": r.provider_job_id,
            }
            for r in records
        ]
        click.echo(json.dumps(out, indent=2))
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["address", "job", *params, "shots", "outcome", "count", "probability"])
        for r in records:
            values = [r.point.get(p, "") for p in params]
            for outcome, count in sorted(r.counts.items()):
                writer.writerow(
                    [r.address, r.job, *values, r.shots, outcome, count, r.probabilities[outcome]]
                )
        return
    if not records:
        click.echo("No results recorded yet: run `qplan apply`.")
        return
    header = ["ADDRESS", *[p.upper() for p in params], "SHOTS", "OUTCOMES (probability)"]
    table = []
    for r in records:
        top = sorted(r.probabilities.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = ", ".join(f"{k}: {v:.3f}" for k, v in top[:4]) + (" …" if len(top) > 4 else "")
        values = [format_value(r.point[p]) if p in r.point else "" for p in params]
        table.append([r.address, *values, str(r.shots), shown])
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(header)]
    for row in (header, *table):
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
