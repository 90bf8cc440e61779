"""qplan: declarative, idempotent runs of quantum jobs described in YAML manifests.

The public API is what ``__all__`` lists; everything else is private and may change.
Heavy modules are imported on first use, so ``import qplan`` stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from qplan.errors import Diagnostic, ManifestError, QplanError, UsageError

if TYPE_CHECKING:
    from qplan.manifest import Stack

__version__ = "0.1.0"

__all__ = [
    "Diagnostic",
    "ManifestError",
    "QplanError",
    "UsageError",
    "__version__",
    "load",
]


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
