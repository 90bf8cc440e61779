"""Pointing SDKs at an emulator through environment variables, and back.

``patched_environ`` is for scripts and benchmarks (pytest tests use ``monkeypatch``, as
``apply_with`` does); both take a mapping of names to values, None meaning "unset it".
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

__all__ = ["apply_with", "patched_environ", "set_environ"]


def set_environ(values: Mapping[str, str | None]) -> None:
    """Set (or, for None, unset) each variable in ``os.environ``."""
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str | None]) -> Iterator[None]:
    """``os.environ`` changed for the duration, restored after (also on error). Not
    thread-safe, like any change of ``os.environ``."""
    saved = {name: os.environ.get(name) for name in values}
    set_environ(values)
    try:
        yield
    finally:
        set_environ(saved)


def apply_with(monkeypatch: pytest.MonkeyPatch, values: Mapping[str, str | None]) -> None:
    """The same through pytest's ``monkeypatch`` (undone after the test)."""
    for name, value in values.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
