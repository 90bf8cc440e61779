"""The planner: manifest + state snapshot -> graph -> ordered actions. Pure, no I/O
except reading and writing plan files."""

from qplan.planner.actions import ACTIONS, CHANGES, SUBMITS, Action, decide, decide_orphan
from qplan.planner.document import (
    PlanDocument,
    PlanError,
    StalePlan,
    check_current,
    load_plan,
    save_plan,
    to_document,
)
from qplan.planner.fingerprint import JobFingerprinter, batch_key, idempotency_key
from qplan.planner.graph import build_graph
from qplan.planner.plan import (
    DeviceCheck,
    Plan,
    ResourcePlan,
    SpecsSource,
    make_plan,
    session_address,
)

__all__ = [
    "ACTIONS",
    "CHANGES",
    "SUBMITS",
    "Action",
    "DeviceCheck",
    "JobFingerprinter",
    "Plan",
    "PlanDocument",
    "PlanError",
    "ResourcePlan",
    "SpecsSource",
    "StalePlan",
    "batch_key",
    "build_graph",
    "check_current",
    "decide",
    "decide_orphan",
    "idempotency_key",
    "load_plan",
    "make_plan",
    "save_plan",
    "session_address",
    "to_document",
]
