"""Operations: what the commands do, as functions a notebook can call too.

Each takes a manifest path and options, opens what it needs (manifest, state store) and
returns plain results; rendering is left to the caller.
"""

from qplan.operations import hybrid, state_transfer
from qplan.operations.planning import (
    LoadOptions,
    Workspace,
    check_lock,
    force_unlock,
    open_workspace,
    plan,
    show_saved_plan,
    status,
)
from qplan.operations.running import (
    OverBudget,
    ResultRecord,
    apply,
    cancel,
    destroy,
    is_plan_file,
    refresh,
    results,
    spends_money,
)

__all__ = [
    "LoadOptions",
    "OverBudget",
    "ResultRecord",
    "Workspace",
    "apply",
    "cancel",
    "check_lock",
    "destroy",
    "force_unlock",
    "hybrid",
    "is_plan_file",
    "open_workspace",
    "plan",
    "refresh",
    "results",
    "show_saved_plan",
    "spends_money",
    "state_transfer",
    "status",
]
