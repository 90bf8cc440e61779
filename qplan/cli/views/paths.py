"""How paths are shown to users."""

from __future__ import annotations

import os
from pathlib import Path


def state_location(state: str | None, manifest: str) -> str:
    """Where the state of ``manifest`` lives, as a user would type it: relative when below
    the current folder; a database's URL without its password."""
    from qplan.state import is_postgres_url, state_path
    from qplan.state import state_location as location

    if state is not None and is_postgres_url(state):
        return location(state, Path(manifest))
    path = state_path(state, Path(manifest))
    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else relative
