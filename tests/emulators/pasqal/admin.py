"""Client of the Pasqal emulator's control routes, for tests and benchmarks in another process:
the kit's ``AdminClient`` plus ``batches()``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from tests.emulators.kit import AdminClient

__all__ = ["PasqalAdmin"]


class PasqalAdmin(AdminClient):
    """``/_emulator/...`` of a Pasqal emulator over HTTP."""

    def batches(self, tag: str | None = None) -> list[dict[str, Any]]:
        """Every batch (or those tagged ``tag``) with its jobs, oldest first, as
        ``BatchSnapshot.to_json`` gives them."""
        query = "" if tag is None else "?" + urlencode({"tag": tag})
        return list(self.call("GET", "batches" + query)["batches"])
