"""Data paths: where a value sits in a manifest, as the user reads it.

A path is a sequence of mapping keys and list indexes, ``("jobs", "rabi", "sweep", 3)``,
written ``jobs.rabi.sweep[3]`` in every diagnostic.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["PathPart", "format_path"]

PathPart = str | int


def format_path(path: Sequence[PathPart]) -> str:
    """``("jobs", "rabi", "sweep", "points", 3)`` -> ``jobs.rabi.sweep.points[3]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out
