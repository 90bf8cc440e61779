"""Data paths: where a value sits in a manifest, as the user reads it.

A path is a sequence of mapping keys and list indexes, ``("jobs", "rabi", "sweep", 3)``,
written ``jobs.rabi.sweep[3]`` in every diagnostic. A path of more than SHOWN_PARTS parts
(only deeply nested data has one) is shortened in the middle, so that a value nested 64
levels deep does not print ``[0]`` 63 times: ``vars.x[0][0][0][0]…[0][0] (65 levels)``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["PathPart", "format_path"]

PathPart = str | int
SHOWN_PARTS = 12
_HEAD, _TAIL = 6, 2  # parts kept at each end of a longer path


def _join(path: Sequence[PathPart]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def format_path(path: Sequence[PathPart]) -> str:
    """``("jobs", "rabi", "sweep", "points", 3)`` -> ``jobs.rabi.sweep.points[3]``; a path
    longer than SHOWN_PARTS keeps its first and last parts around ``…`` and says its length."""
    if len(path) <= SHOWN_PARTS:
        return _join(path)
    return f"{_join(path[:_HEAD])}…{_join(path[-_TAIL:])} ({len(path)} levels)"
