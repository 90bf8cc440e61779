"""``qplan schema``: print the manifest's JSON Schema."""

from __future__ import annotations

import click


@click.command()
def schema() -> None:
    """Print the JSON Schema of manifests (committed as schemas/manifest.schema.json)."""
    from qplan.manifest.schema import manifest_json_schema_text

    click.echo(manifest_json_schema_text(), nl=False)
