"""qplan: declarative, idempotent runs of quantum jobs described in YAML manifests.

The public API is what ``__all__`` lists; everything else is private and may change.
Heavy modules are imported on first use, so ``import qplan`` stays cheap.
"""

from __future__ import annotations

TYPE_CHECKING = False  # as typing's, without importing typing: ``qplan`` starts light
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path
    from typing import Any

    from qplan.errors import Diagnostic, ManifestError, QplanError, UsageError
    from qplan.executor import ApplyReport, EventSink
    from qplan.manifest import Stack
    from qplan.operations import LoadOptions, ResultRecord
    from qplan.planner import Plan
    from qplan.state import Row

__version__ = "0.1.0"

__all__ = [
    "Diagnostic",
    "ManifestError",
    "QplanError",
    "UsageError",
    "__version__",
    "apply",
    "load",
    "plan",
    "results",
    "status",
]

_ERRORS = frozenset({"Diagnostic", "ManifestError", "QplanError", "UsageError"})


def __getattr__(name: str) -> Any:
    """The error classes, imported on first use: the ``qplan`` command starts by importing
    this package, and the less it runs before handling a Ctrl-C, the better."""
    if name in _ERRORS:
        from qplan import errors

        return getattr(errors, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load(
    path: str | Path,
    *,
    var_files: Sequence[str | Path] = (),
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    max_sweep_points: int = 1_000_000,
) -> Stack:
    """Load, validate and resolve the manifest at ``path``.

    ``overrides`` are ``NAME=VALUE`` strings as given to ``--var``. Raises ManifestError
    listing every problem, each located as ``file:line:col: path: message``.
    """
    from qplan.manifest import load as load_manifest

    return load_manifest(
        path,
        var_files=var_files,
        overrides=overrides,
        environ=environ,
        max_sweep_points=max_sweep_points,
    )


def _options(
    var_files: Sequence[str | Path], overrides: Sequence[str], state: str | None
) -> LoadOptions:
    from qplan.operations import LoadOptions

    return LoadOptions(tuple(str(f) for f in var_files), tuple(overrides), state=state)


def plan(
    path: str | Path,
    *,
    var_files: Sequence[str | Path] = (),
    overrides: Sequence[str] = (),
    state: str | None = None,
) -> Plan:
    """What ``apply`` would do, from the manifest and its state alone (no provider call)."""
    from qplan import operations

    return operations.plan(str(path), _options(var_files, overrides, state))


def apply(
    path: str | Path,
    *,
    var_files: Sequence[str | Path] = (),
    overrides: Sequence[str] = (),
    state: str | None = None,
    parallelism: int | None = None,
    no_wait: bool = False,
    fail_fast: bool = False,
    events: EventSink | None = None,
) -> ApplyReport:
    """Apply the manifest (or a saved plan file): the same as ``qplan apply``, without the
    confirmation prompt. Ctrl-C is handled as in the command: submissions stop at the next
    safe point and the report says ``interrupted``."""
    from qplan import operations
    from qplan.executor import Options

    run = Options(parallelism=parallelism, no_wait=no_wait, fail_fast=fail_fast)
    _, report = operations.apply(
        str(path),
        _options(var_files, overrides, state),
        run,
        sink=events,
    )
    assert report is not None  # no confirmation callback: never declined
    return report


def status(
    path: str | Path,
    *,
    var_files: Sequence[str | Path] = (),
    overrides: Sequence[str] = (),
    state: str | None = None,
    refresh: bool = False,
) -> list[Row]:
    """The stack's rows; with ``refresh``, in-flight jobs are observed first."""
    from qplan import operations

    options = _options(var_files, overrides, state)
    if refresh:
        return operations.refresh(str(path), options)
    return operations.status(str(path), options)[1]


def results(
    path: str | Path,
    addresses: Sequence[str] = (),
    *,
    var_files: Sequence[str | Path] = (),
    overrides: Sequence[str] = (),
    state: str | None = None,
) -> list[ResultRecord]:
    """Counts of the instances that succeeded with their current fingerprint."""
    from qplan import operations

    return operations.results(str(path), _options(var_files, overrides, state), addresses)
