"""``qplan schema``: print the JSON Schema of manifests or of plans."""

from __future__ import annotations

import click


@click.command()
@click.argument("kind", type=click.Choice(["manifest", "plan"]), default="manifest")
def schema(kind: str) -> None:
    """Print the JSON Schema of manifests (default) or of plans.

    The same text as the files committed under schemas/.
    """
    if kind == "manifest":
        from qplan.manifest.schema import manifest_json_schema_text

        click.echo(manifest_json_schema_text(), nl=False)
        return
    from qplan.planner.document import plan_json_schema_text

    click.echo(plan_json_schema_text(), nl=False)
