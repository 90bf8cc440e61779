"""How paths are shown to users."""

from __future__ import annotations

import os
from pathlib import Path


def state_location(state: str | None, manifest: str) -> str:
    """Where the state of ``manifest`` lives, as a user would type it: relative when below
    the current folder."""
    from qplan.state import state_path

    path = state_path(state, Path(manifest))
    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else relative
