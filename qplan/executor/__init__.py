"""The executor: runs a plan against the providers, exactly once, resumably.

A pure core (``core`` and the decision modules it calls) decides; one driver (``driver``)
runs what it decides. See ARCHITECTURE.md for the flow, and each module for its part.
"""

from qplan.executor.calls import cancel_rows
from qplan.executor.clock import Clock, FakeClock, SystemClock
from qplan.executor.driver import Executor, Options
from qplan.executor.events import Event, EventSink, Kind, NullSink, RecordingSink
from qplan.executor.procedures import CancelFailed
from qplan.executor.report import OUTCOMES, PLANNED_WORDS, ApplyReport

__all__ = [
    "OUTCOMES",
    "PLANNED_WORDS",
    "ApplyReport",
    "CancelFailed",
    "Clock",
    "Event",
    "EventSink",
    "Executor",
    "FakeClock",
    "Kind",
    "NullSink",
    "Options",
    "RecordingSink",
    "SystemClock",
    "cancel_rows",
]
