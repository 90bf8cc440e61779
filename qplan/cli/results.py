"""``qplan results``: the counts of succeeded instances, as a table, JSON or CSV."""

from __future__ import annotations

import csv
import json
import sys
from typing import TYPE_CHECKING

import click

from qplan.cli.options import MANIFEST, stack_options

if TYPE_CHECKING:
    from collections.abc import Callable

    from qplan.operations import LoadOptions, ResultRecord
    from qplan.operations.spending import Spending


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
@click.option(
    "--allow-pickle",
    is_flag=True,
    help="Load hybrid job results saved as pickled_v4. Unpickling runs code from the job: "
    "only for results you trust.",
)
def results(
    manifest: str,
    addresses: tuple[str, ...],
    options: LoadOptions,
    fmt: str,
    allow_pickle: bool,
) -> None:
    """Print the results recorded for MANIFEST's instances.

    All of them, or the given instances or jobs. Sweep parameters are columns; counts and
    probabilities per outcome; for jobs on paid targets, what the providers billed beside
    the estimate of what ran (in JSON, each result's "spending"). A hybrid job's result is
    what it saved (save_job_result).
    """
    from qplan.cli.views.hybrid import decode_result, short
    from qplan.errors import UsageError
    from qplan.manifest.params import format_value
    from qplan.operations import spending

    records, spent = spending.results(manifest, options, addresses)
    by_job = {j["job"]: j for j in spent.to_json()["jobs"]}
    hybrid = [r for r in records if r.hybrid is not None]
    records = [r for r in records if r.hybrid is None]
    decoded = {
        r.address: decode_result(r.hybrid, allow_pickle) for r in hybrid if r.hybrid is not None
    }
    params = sorted({name for r in records for name in r.point})
    if fmt == "json":
        out: list[dict[str, object]] = [
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
        for r in hybrid:
            assert r.hybrid is not None
            values, note = decoded[r.address]
            item: dict[str, object] = {
                "address": r.address,
                "job": r.job,
                "target": r.target,
                "point": r.point,
                "provider_job_id": r.provider_job_id,
                "result_format": r.hybrid.get("dataFormat"),
                "result": values,
            }
            if note is not None:
                item["note"] = note
            out.append(item)
        for item in out:
            job_spending = by_job.get(str(item["job"]))
            if job_spending is not None:
                item["spending"] = job_spending
        click.echo(json.dumps(out, indent=2, default=repr))
        return
    if hybrid and fmt != "csv":
        _hybrid_table(hybrid, decoded, short, format_value)
        if not records:
            _footer(spent)
            return
        click.echo()
    if fmt == "csv" and hybrid:
        if records:
            raise UsageError(
                "--format csv prints counts or hybrid job results, not both: name the jobs"
            )
        writer = csv.writer(sys.stdout, lineterminator="\n")
        hparams = sorted({name for r in hybrid for name in r.point})
        writer.writerow(["address", "job", *hparams, "key", "value"])
        for r in hybrid:
            values, note = decoded[r.address]
            point = [r.point.get(p, "") for p in hparams]
            if not isinstance(values, dict):
                writer.writerow([r.address, r.job, *point, "", note or short(values)])
                continue
            for key, value in values.items():
                writer.writerow([r.address, r.job, *point, key, short(value, 10_000)])
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
        if not hybrid:
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
    _footer(spent)


def _footer(spent: Spending) -> None:
    from qplan.cli.views.status import render_spending

    render_spending(spent)


def _hybrid_table(
    records: list[ResultRecord],
    decoded: dict[str, tuple[object, str | None]],
    short: Callable[[object], str],
    format_value: Callable[[object], str],
) -> None:
    params = sorted({name for r in records for name in r.point})
    header = ["ADDRESS", *[p.upper() for p in params], "RESULT"]
    table = []
    for r in records:
        values, note = decoded[r.address]
        shown = note if note is not None else short(values)
        cells = [format_value(r.point[p]) if p in r.point else "" for p in params]
        table.append([r.address, *cells, shown])
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(header)]
    for row in (header, *table):
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
