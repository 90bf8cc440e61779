"""``qplan validate``: check a manifest and print a one-line summary."""

from __future__ import annotations

import json

import click

from qplan.cli.options import MANIFEST, load_options
from qplan.errors import ManifestError


@click.command()
@MANIFEST
@load_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def validate(
    manifest: str,
    var_files: tuple[str, ...],
    overrides: tuple[str, ...],
    max_sweep_points: int,
    as_json: bool,
) -> None:
    """Check MANIFEST and print every problem found.

    Checks syntax, types, references, parameters, sweeps and cycles. Every problem is
    reported as FILE:LINE:COL: PATH: MESSAGE; exit code 1 if any.
    """
    from qplan.manifest import load

    try:
        stack = load(
            manifest, var_files=var_files, overrides=overrides, max_sweep_points=max_sweep_points
        )
    except ManifestError as exc:
        if not as_json:
            raise
        diagnostics = [
            {
                "file": d.file,
                "line": d.line,
                "column": d.column,
                "path": d.path,
                "message": d.message,
            }
            for d in exc.diagnostics
        ]
        click.echo(json.dumps({"valid": False, "diagnostics": diagnostics}, indent=2))
        raise SystemExit(exc.exit_code) from None
    counts = {
        "jobs": len(stack.jobs),
        "instances": stack.instance_count,
        "sweep_points": stack.sweep_point_count,
        "sessions": len(stack.sessions),
    }
    providers = stack.providers_used
    if as_json:
        result = {"valid": True, "stack": stack.name, **counts, "providers": providers}
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(
        f"{manifest}: valid; stack {stack.name}: {_count(counts['jobs'], 'job')}, "
        f"{_count(counts['instances'], 'instance')} "
        f"({_count(counts['sweep_points'], 'sweep point')}), "
        f"{_count(counts['sessions'], 'session')}, "
        f"{_count(len(providers), 'provider')} ({', '.join(providers)})"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
