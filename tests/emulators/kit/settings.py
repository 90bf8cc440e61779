"""Run-time settings of an emulator that tests change while calls are in flight.

A service declares its settings as a dataclass subclass of ``Settings`` (queue time, how its
jobs fail, quotas...). One instance is shared by the HTTP threads, the scheduler and the
workers; every read and write goes through its lock::

    @dataclass
    class AzureSettings(Settings):
        queue_time: float = 0.0
        fail_job_fraction: float = 0.0

        @classmethod
        def validate(cls, values):
            if float(values.get("queue_time", 0)) < 0:
                raise ValueError("queue_time must be >= 0")

    settings.update(queue_time=0.1)          # from a test, in process
    POST /_emulator/config {"queue_time": 0.1}   # from another process (``update_from_json``)

Fields named in ``PYTHON_ONLY`` (callables) cannot be set over HTTP and show as booleans there.
``reset()`` restores the values the instance was created with. API faults (latency, 429, 5xx,
dropped connections) are not settings: see ``faults``.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Mapping
from typing import Any, ClassVar, Self

__all__ = ["Settings"]


class Settings:
    """Base of a service's settings dataclass (see the module doc)."""

    PYTHON_ONLY: ClassVar[frozenset[str]] = frozenset()

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self.validate(self.as_dict(include_python_only=True))
        self._initial = self._copy_fields()

    @classmethod
    def validate(cls, values: Mapping[str, Any]) -> None:
        """Raise ValueError if some of ``values`` (field name -> new value) are invalid."""

    def changed(self, changes: Mapping[str, Any]) -> None:
        """Called under the lock after ``update`` or ``reset`` set fields (e.g. to reseed)."""

    # --- reading ------------------------------------------------------------------------------

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    def _copy_fields(self) -> dict[str, Any]:
        with self._lock:
            return {name: copy.copy(getattr(self, name)) for name in self.field_names()}

    def get(self, name: str) -> Any:
        """One field, read under the lock (a shallow copy for dicts and lists)."""
        with self._lock:
            return copy.copy(getattr(self, name))

    def snapshot(self) -> Self:
        """A consistent copy, to read several fields without holding the lock."""
        return type(self)(**self._copy_fields())

    def as_dict(self, *, include_python_only: bool = False) -> dict[str, Any]:
        """The fields as JSON-able values (Python-only ones as "is set" flags unless asked)."""
        values = self._copy_fields()
        if not include_python_only:
            for name in self.PYTHON_ONLY:
                values[name] = values[name] is not None
        return values

    # --- writing ------------------------------------------------------------------------------

    def update(self, **changes: Any) -> None:
        """Set some fields at once (atomically for readers). Unknown names raise ValueError."""
        unknown = set(changes) - set(self.field_names())
        if unknown:
            raise ValueError(f"unknown emulator settings: {sorted(unknown)}")
        self.validate(changes)
        with self._lock:
            for name, value in changes.items():
                setattr(self, name, copy.copy(value))
            self.changed(changes)

    def update_from_json(self, changes: Mapping[str, Any]) -> None:
        """``update`` for the control channel: refuses the Python-only fields."""
        refused = set(changes) & self.PYTHON_ONLY
        if refused:
            raise ValueError(f"settable from Python only: {sorted(refused)}")
        self.update(**dict(changes))

    def reset(self) -> None:
        """Back to the values the settings were created with."""
        with self._lock:
            for name, value in self._initial.items():
                setattr(self, name, copy.copy(value))
            self.changed(self._initial)
