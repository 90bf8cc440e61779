"""Client of the Braket emulator's control routes, for tests and benchmarks in another process.

    admin = EmulatorAdmin("http://127.0.0.1:PORT")
    admin.add_fault("throttle", operations=["CreateQuantumTask"], next=3)
    admin.set_config(queue_time=0.2)
    admin.counts()  # {"CreateQuantumTask": 12, ...}

The kit's ``AdminClient`` (see ``tests.emulators.kit.control``) plus Braket's ``tasks()`` and
``jobs()``.
"""

from __future__ import annotations

from typing import Any

from tests.emulators.kit import AdminClient

__all__ = ["EmulatorAdmin"]


class EmulatorAdmin(AdminClient):
    """``/_emulator/...`` of a Braket emulator over HTTP."""

    def tasks(self) -> list[dict[str, Any]]:
        """Every task as GetQuantumTask describes it, oldest first."""
        return list(self.call("GET", "tasks")["tasks"])

    def jobs(self) -> list[dict[str, Any]]:
        """Every hybrid job as GetJob describes it, with ``jobToken``, ``logStream``, ``pid``
        and ``exitCode``, oldest first."""
        return list(self.call("GET", "jobs")["jobs"])
