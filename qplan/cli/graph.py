"""``qplan graph``: the dependency graph as DOT or Mermaid."""

from __future__ import annotations

import click

from qplan.cli.options import MANIFEST, NO_SWEEP_LIMIT, var_options
from qplan.errors import UsageError


@click.command()
@MANIFEST
@var_options
@click.option(
    "--format", "fmt", type=click.Choice(["dot", "mermaid"]), default="dot", show_default=True
)
@click.option("--expand", is_flag=True, help="Show every sweep point inside its job.")
def graph(
    manifest: str,
    var_files: tuple[str, ...],
    overrides: tuple[str, ...],
    fmt: str,
    expand: bool,
) -> None:
    """Print the graph of jobs and sessions, as DOT or Mermaid.

    Edges come from `after` and from session membership. A sweep is one node with its
    count, however large, unless --expand.
    """
    from qplan.cli.views.graph import MAX_EXPANDED, render_dot, render_mermaid
    from qplan.manifest import load
    from qplan.planner import build_graph

    # counted, not expanded: --expand has its own, smaller limit
    stack = load(
        manifest, var_files=var_files, overrides=overrides, max_sweep_points=NO_SWEEP_LIMIT
    )
    if expand and stack.instance_count > MAX_EXPANDED:
        raise UsageError(
            f"--expand: {stack.instance_count:,} instances is too many to draw "
            f"(at most {MAX_EXPANDED:,}); drop --expand to see jobs with their counts"
        )
    render = render_dot if fmt == "dot" else render_mermaid
    for line in render(stack, build_graph(stack), expand=expand):
        click.echo(line)
