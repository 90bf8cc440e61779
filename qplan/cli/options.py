"""Options shared by the commands that load a manifest."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

MANIFEST = click.argument(
    "manifest", type=click.Path(exists=True, dir_okay=False, path_type=str), metavar="MANIFEST"
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
        type=click.Path(exists=True, dir_okay=False, path_type=str),
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


def state_option(func: F) -> F:
    """--state: where the state lives (default: .qplan/state.db next to the manifest)."""
    return click.option(
        "--state",
        metavar="URL",
        envvar="QPLAN_STATE",
        help="State location: a SQLite path or sqlite:///PATH (env QPLAN_STATE); "
        "default .qplan/state.db next to the manifest.",
    )(func)


def stack_options(func: F) -> F:
    """--var, --var-file, --max-sweep-points and --state, handed to the command as one
    ``options`` argument (a ``qplan.operations.LoadOptions``)."""

    @functools.wraps(func)
    def wrapper(
        *args: Any,
        var_files: tuple[str, ...],
        overrides: tuple[str, ...],
        max_sweep_points: int,
        state: str | None,
        **kwargs: Any,
    ) -> Any:
        from qplan.operations import LoadOptions  # imported when run: --help stays light

        options = LoadOptions(var_files, overrides, max_sweep_points, state)
        return func(*args, options=options, **kwargs)

    return load_options(state_option(wrapper))  # type: ignore[return-value]
