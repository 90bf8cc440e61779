"""Run-time settings of the Pasqal Cloud emulator: timing, quotas, slow cancels, failing jobs.

API faults (latency, 429, 5xx before or after commit, dropped connections) are the kit's:
``emulator.faults``. These settings are the service's own::

    emulator.config.update(queue_time=0.2, fail_points=[{"omega_max": [3.0]}], fail_times=1)

or ``POST /_emulator/config`` with the same JSON from another process.

``queue_time``
    Seconds a job stays PENDING before it starts.
``run_time``
    Seconds a job stays RUNNING on top of its simulation.
``open_batch_timeout``
    Seconds an open batch may stay idle (no job PENDING or RUNNING, none added) before it is
    TIMED_OUT, after which it takes no new job. Pasqal does not publish its value; the default
    is generous so that no test meets it by accident.
``cancel_delay``
    Slow cancels: a RUNNING job that is cancelled stays RUNNING this long, then is CANCELED
    (0: at once). A PENDING job is always CANCELED at once.
``max_jobs_per_batch``
    How many jobs one batch may hold, counted over its creation and every AddJobs (more:
    HTTP 400).
``fail_points`` and ``fail_times``
    A job whose variables contain every key and value of one of the ``fail_points`` ends
    ERROR instead of running (a point's ``sequence_contains: TEXT`` matches a job whose own
    sequence holds TEXT: the built sequences of an open batch's jobs carry no variables).
    ``fail_times`` says how many times each such job fails before
    it runs normally, counted per identical (sequence, variables) across batches, so that a
    rebatch or a re-added job is the retry that succeeds; None: it always fails.
``batch_jobs_inline``
    Whether ``GET /api/v2/batches/{id}`` carries the batch's jobs (``jobs``) besides their ids
    (``job_ids``). Pasqal's v2 answer has only ``job_ids``, and the SDK then lists the jobs
    with ``GET /api/v2/jobs?batch_id=`` (one call per 100 jobs) when ``ordered_jobs`` is
    read; False (the default) reproduces that, call for call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from tests.emulators.kit import Settings

__all__ = ["SEQUENCE_CONTAINS", "PasqalSettings"]

SEQUENCE_CONTAINS = "sequence_contains"


@dataclasses.dataclass
class PasqalSettings(Settings):
    """The settings of a ``PasqalEmulator`` (thread-safe; see the module doc)."""

    queue_time: float = 0.0
    run_time: float = 0.0
    open_batch_timeout: float = 600.0
    cancel_delay: float = 0.0
    max_jobs_per_batch: int = 1000
    fail_points: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    fail_times: int | None = None
    batch_jobs_inline: bool = False

    @classmethod
    def validate(cls, values: Mapping[str, Any]) -> None:
        for name in ("queue_time", "run_time", "open_batch_timeout", "cancel_delay"):
            if name in values and float(values[name]) < 0:
                raise ValueError(f"{name} must be >= 0")
        if "max_jobs_per_batch" in values and int(values["max_jobs_per_batch"]) < 1:
            raise ValueError("max_jobs_per_batch must be >= 1")
        points = values.get("fail_points", [])
        if not isinstance(points, list) or not all(isinstance(p, dict) and p for p in points):
            raise ValueError("fail_points must be a list of non-empty variable dicts")
        times = values.get("fail_times")
        counted = isinstance(times, int) and not isinstance(times, bool) and times >= 0
        if times is not None and not counted:
            raise ValueError("fail_times must be None or an integer >= 0")
        if not isinstance(values.get("batch_jobs_inline", False), bool):
            raise ValueError("batch_jobs_inline must be a boolean")

    def fail_point(self, variables: Mapping[str, Any], sequence: str = "") -> dict[str, Any] | None:
        """The first fail point that ``variables`` contain (every key, equal value), or None.
        The key ``sequence_contains`` matches a job's own sequence (a built one, as in an open
        batch, has no variables) containing that text."""
        with self._lock:
            points = [dict(p) for p in self.fail_points]
        for point in points:
            wanted = {k: v for k, v in point.items() if k != SEQUENCE_CONTAINS}
            text = point.get(SEQUENCE_CONTAINS)
            if text is not None and str(text) not in sequence:
                continue
            if all(
                name in variables and variables[name] == value for name, value in wanted.items()
            ):
                return point
        return None
