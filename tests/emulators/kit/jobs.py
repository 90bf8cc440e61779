"""Job lifecycles on real time: a scheduler thread and a worker pool.

Cloud jobs wait in a queue, run, then end. An emulator models that with ``JobEngine``::

    engine.lifecycle(
        queue_time=2.0,            # seconds between "queued" and "running"
        run_time=0.5,              # seconds "running" lasts besides the work itself
        queued=lambda: mark(job, "QUEUED"),      # at once, on the scheduler thread
        start=lambda: begin(job),  # after queue_time; returns False if the job went away
        work=lambda: execute(job), # then on the pool, after run_time: simulate, write, finish
    )

``later(delay, action)`` schedules any callback (a slow cancel completing); ``submit`` runs
work on the pool; ``pause(seconds)`` sleeps unless the engine stops (returns False then).
``clear()`` (an emulator's reset) drops what is scheduled and the work not started yet; the
work already running finishes. ``stop()`` joins the scheduler and the pool.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

__all__ = ["JobEngine", "Scheduler"]

_log = logging.getLogger(__name__)


@dataclass(order=True)
class _Event:
    due: float
    seq: int
    action: Callable[[], object] = field(compare=False)


class Scheduler:
    """One thread running callbacks at monotonic times, in order of due time."""

    def __init__(self, name: str = "emulator-scheduler") -> None:
        self._heap: list[_Event] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def call_at(self, due: float, action: Callable[[], object]) -> None:
        with self._cond:
            heapq.heappush(self._heap, _Event(due, next(self._seq), action))
            self._cond.notify()

    def clear(self) -> None:
        """Drop every pending callback."""
        with self._cond:
            self._heap.clear()

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                now = time.monotonic()
                if not self._heap or self._heap[0].due > now:
                    wait = 1.0 if not self._heap else min(1.0, self._heap[0].due - now)
                    self._cond.wait(wait)
                    continue
                event = heapq.heappop(self._heap)
            try:
                event.action()
            except Exception:
                _log.exception("emulator: scheduled action failed")

    def stop(self, timeout: float) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)


class JobEngine:
    """A scheduler and a worker pool, started and stopped with their emulator."""

    def __init__(self, *, max_workers: int = 4, name: str = "emulator") -> None:
        self._max_workers = max_workers
        self._name = name
        self._stopping = threading.Event()
        self._scheduler: Scheduler | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._pending: set[Future[None]] = set()

    @property
    def stopping(self) -> threading.Event:
        return self._stopping

    def start(self) -> None:
        self._stopping.clear()
        self._scheduler = Scheduler(f"{self._name}-scheduler")
        self._scheduler.start()
        self._pool = ThreadPoolExecutor(
            self._max_workers, thread_name_prefix=f"{self._name}-worker"
        )

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._scheduler is not None:
            self._scheduler.stop(timeout)
            self._scheduler = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def clear(self) -> None:
        """Drop the scheduled callbacks and the work not started yet."""
        if self._scheduler is not None:
            self._scheduler.clear()
        with self._lock:
            pending, self._pending = self._pending, set()
        for future in pending:
            future.cancel()

    def later(self, delay: float, action: Callable[[], object]) -> None:
        """Run ``action`` on the scheduler thread ``delay`` seconds from now (not once stopped)."""
        if self._scheduler is not None:
            self._scheduler.call_at(time.monotonic() + max(0.0, delay), action)

    def submit(self, work: Callable[[], object]) -> bool:
        """Run ``work`` on the pool; False if the engine is stopped or stopping."""
        pool = self._pool
        if pool is None or self._stopping.is_set():
            return False
        try:
            future = pool.submit(self._guarded, work)
        except RuntimeError:  # shut down meanwhile
            return False
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        return True

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    @staticmethod
    def _guarded(work: Callable[[], object]) -> None:
        try:
            work()
        except Exception:
            _log.exception("emulator: job work failed")

    def pause(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the engine stops first; True if it slept the whole time."""
        if seconds <= 0:
            return not self._stopping.is_set()
        return not self._stopping.wait(seconds)

    def lifecycle(
        self,
        *,
        queue_time: float,
        run_time: float,
        queued: Callable[[], object],
        start: Callable[[], bool],
        work: Callable[[], object],
        not_started: Callable[[], None] | None = None,
    ) -> None:
        """queued now; ``start()`` after ``queue_time`` (False: the job was cancelled or
        forgotten, nothing more happens); ``work()`` on the pool ``run_time`` later.
        ``not_started`` is called if the pool refuses the work (the engine is stopping)."""

        def run() -> None:
            if self.pause(run_time):
                work()

        def begin() -> None:
            if start() and not self.submit(run) and not_started is not None:
                not_started()

        self.later(0.0, queued)
        self.later(queue_time, begin)
