"""The executor: runs a plan against the providers, exactly once, resumably."""

from qplan.executor.clock import Clock, FakeClock, SystemClock
from qplan.executor.engine import (
    OUTCOMES,
    PLANNED_WORDS,
    ApplyReport,
    Executor,
    Options,
    find_jobs,
)
from qplan.executor.events import Event, EventSink, NullSink, RecordingSink

__all__ = [
    "OUTCOMES",
    "PLANNED_WORDS",
    "ApplyReport",
    "Clock",
    "Event",
    "EventSink",
    "Executor",
    "FakeClock",
    "NullSink",
    "Options",
    "RecordingSink",
    "SystemClock",
    "find_jobs",
]
