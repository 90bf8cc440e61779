"""Client of the Braket emulator's admin endpoints, for tests and benchmarks in another process.

    admin = EmulatorAdmin("http://127.0.0.1:PORT")
    admin.set_config(throttle_next=3, queue_time=0.2)
    admin.counts()  # {"CreateQuantumTask": 12, ...}

Only loopback URLs are accepted; admin calls are neither delayed, faulted nor recorded.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.parse import quote, urlsplit

__all__ = ["EmulatorAdmin"]


class EmulatorAdmin:
    """``/_emulator/...`` over HTTP (stdlib ``urllib``)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        host = urlsplit(url).hostname
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"not a loopback URL: {url}")
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.url}/_emulator/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # loopback only
            return json.loads(answer.read() or b"null")

    def health(self) -> dict[str, Any]:
        return dict(self._call("GET", "health"))

    def config(self) -> dict[str, Any]:
        return dict(self._call("GET", "config"))

    def set_config(self, **changes: Any) -> dict[str, Any]:
        """Change some settings (names of ``EmulatorConfig`` fields); returns them all."""
        return dict(self._call("POST", "config", changes))

    def reset_config(self) -> dict[str, Any]:
        return dict(self._call("POST", "config/reset", {}))

    def calls(self, operation: str | None = None) -> list[dict[str, Any]]:
        """The call records (dicts of ``CallRecord`` fields), oldest first."""
        path = "calls" if operation is None else f"calls?operation={quote(operation)}"
        return list(self._call("GET", path)["calls"])

    def counts(self) -> dict[str, int]:
        return dict(self._call("GET", "calls")["counts"])

    def reset_calls(self) -> None:
        self._call("POST", "calls/reset", {})

    def tasks(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "tasks")["tasks"])

    def reset(self) -> None:
        """Forget tasks, tokens and calls; restore the initial config."""
        self._call("POST", "reset", {})
