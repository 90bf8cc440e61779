"""Options shared by the commands that load a manifest.

A command offers only what it uses: ``--var`` and ``--var-file`` wherever a manifest is
loaded (any value, the stack's name included, may be a template), ``--state`` where the
state is read, and ``--max-sweep-points`` only where every instance of a sweep is expanded.
The others (``graph``, ``force-unlock``) load the manifest without a sweep limit: they count
points or need the stack's name, and a large sweep is no reason to refuse them.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

MANIFEST = click.argument(
    "manifest", type=click.Path(exists=True, dir_okay=False, path_type=str), metavar="MANIFEST"
)

NO_SWEEP_LIMIT = sys.maxsize
"""The sweep limit of commands that expand no sweep."""


def var_options(func: F) -> F:
    """--var and --var-file."""
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


def load_options(func: F) -> F:
    """--var, --var-file and --max-sweep-points."""
    func = click.option(
        "--max-sweep-points",
        type=click.IntRange(min=1),
        metavar="N",
        default=1_000_000,
        show_default=True,
        envvar="QPLAN_MAX_SWEEP_POINTS",
        help="Refuse a sweep with more points than this (env QPLAN_MAX_SWEEP_POINTS).",
    )(func)
    return var_options(func)


def state_option(func: F) -> F:
    """--state: where the state lives (default: .qplan/state.db next to the manifest)."""
    return click.option(
        "--state",
        metavar="URL",
        envvar="QPLAN_STATE",
        help="State location: a SQLite path, sqlite:///PATH, or postgresql://USER@HOST/DB "
        "(libpq's URL: sslmode and the rest pass through; ?schema=NAME picks the schema, "
        "default qplan) (env QPLAN_STATE); default .qplan/state.db next to the manifest.",
    )(func)


def _as_load_options(func: F) -> Callable[..., Any]:
    """Hands --var, --var-file, --max-sweep-points (when offered) and --state to ``func``
    as one ``options`` argument (a ``qplan.operations.LoadOptions``)."""

    @functools.wraps(func)
    def wrapper(
        *args: Any,
        var_files: tuple[str, ...],
        overrides: tuple[str, ...],
        state: str | None,
        max_sweep_points: int = NO_SWEEP_LIMIT,
        **kwargs: Any,
    ) -> Any:
        from qplan.operations import LoadOptions  # imported when run: --help stays light

        options = LoadOptions(var_files, overrides, max_sweep_points, state)
        return func(*args, options=options, **kwargs)

    return wrapper


def stack_options(func: F) -> F:
    """--var, --var-file, --max-sweep-points and --state, as one ``options`` argument."""
    return load_options(state_option(_as_load_options(func)))  # type: ignore[return-value]


def stack_name_options(func: F) -> F:
    """--var, --var-file and --state, as one ``options`` argument with no sweep limit: for
    a command that needs the stack's name and its state, never its instances."""
    return var_options(state_option(_as_load_options(func)))  # type: ignore[return-value]


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A budget is a positive, finite amount, as the manifest's budget: is."""
    import math

    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite amount", ctx, param)
    return value


def cost_options(func: F) -> F:
    """--pricing and --budget, folded into the ``options`` argument (after stack_options)."""

    @functools.wraps(func)
    def wrapper(*args: Any, pricing: str | None, budget: float | None, **kwargs: Any) -> Any:
        import dataclasses

        options = kwargs.pop("options")
        options = dataclasses.replace(options, pricing=pricing, budget=budget)
        return func(*args, options=options, **kwargs)

    wrapped = click.option(
        "--budget",
        type=click.FloatRange(min=0, min_open=True),
        callback=_finite,
        metavar="AMOUNT",
        envvar="QPLAN_BUDGET",
        help="The most an apply may cost by the plan's estimate, in the pricing table's "
        "currency (USD); over it, apply refuses (exit 1). Wins over the manifest's budget: "
        "(env QPLAN_BUDGET).",
    )(wrapper)
    return click.option(  # type: ignore[return-value]
        "--pricing",
        type=click.Path(exists=True, dir_okay=False, path_type=str),
        metavar="FILE",
        help="A YAML pricing file over the shipped prices and the manifest's pricing: "
        "(same shape as pricing:, keyed by PROVIDER/DEVICE).",
    )(wrapped)


def target_option(func: F) -> F:
    """--target, repeatable, as ``targets``."""
    return click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="ADDRESS|JOB",
        help="Only this job, instance or session, and what it needs (after:, its session); "
        "may be repeated. The plan says what was left out.",
    )(func)


def plan_format_options(func: F) -> F:
    """--format text|json|markdown and --json (the same as --format json), as ``fmt``."""

    @functools.wraps(func)
    def wrapper(*args: Any, fmt: str, as_json: bool, **kwargs: Any) -> Any:
        return func(*args, fmt="json" if as_json else fmt, **kwargs)

    wrapped = click.option("--json", "as_json", is_flag=True, help="The same as --format json.")(
        wrapper
    )
    return click.option(  # type: ignore[return-value]
        "--format",
        "fmt",
        type=click.Choice(["text", "json", "markdown"]),
        default="text",
        show_default=True,
        help="text for people; json (schemas/plan.schema.json) for machines; markdown for "
        "a pull request's comment.",
    )(wrapped)
