"""Operations: what the commands do, as functions a notebook can call too.

Each takes a manifest path and options, opens what it needs (manifest, state store) and
returns plain results; rendering is left to the caller.
"""

from qplan.operations.planning import (
    LoadOptions,
    Workspace,
    force_unlock,
    open_workspace,
    plan,
    show_saved_plan,
    status,
)

__all__ = [
    "LoadOptions",
    "Workspace",
    "force_unlock",
    "open_workspace",
    "plan",
    "show_saved_plan",
    "status",
]
