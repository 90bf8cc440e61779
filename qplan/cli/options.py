"""Options shared by the commands that load a manifest."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

MANIFEST = click.argument(
    "manifest", type=click.Path(dir_okay=False, path_type=str), metavar="MANIFEST"
)


def load_options(func: F) -> F:
    """--var, --var-file and --max-sweep-points."""
    func = click.option(
        "--max-sweep-points",
        type=click.IntRange(min=1),
        default=1_000_000,
        show_default=True,
        envvar="QPLAN_MAX_SWEEP_POINTS",
        help="Refuse a sweep with more points than this (env QPLAN_MAX_SWEEP_POINTS).",
    )(func)
    func = click.option(
        "--var-file",
        "var_files",
        multiple=True,
        type=click.Path(dir_okay=False, path_type=str),
        help="YAML file of variable values; may be repeated, later files win.",
    )(func)
    func = click.option(
        "--var",
        "overrides",
        multiple=True,
        metavar="NAME=VALUE",
        help="Set a variable declared in vars (VALUE is read as YAML); wins over --var-file.",
    )(func)
    return func
