"""How times are shown: one UTC format everywhere, ISO 8601 with a ``Z``."""

from __future__ import annotations

import datetime as dt


def utc_stamp(epoch: float) -> str:
    """``2024-05-01T12:00:00Z``: seconds since the epoch, in UTC, to the second."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
