"""Pytest fixtures running the Pasqal Cloud emulator on 127.0.0.1, and the SDK pointed at it.

``pasqal_emulator_server`` starts once per test run and always stops at its end;
``pasqal_emulator`` (per test) resets it (no batch, job, call or fault rule; the initial
settings) before and after the test, unsets the Pasqal credentials and endpoint a developer's
shell may hold, and yields it::

    def test_something(pasqal_emulator):
        pasqal_emulator.config.update(queue_time=0.1)
        sdk = pasqal_sdk(pasqal_emulator)            # the real SDK, pointed at it
        batch = sdk.create_batch(sequence, jobs=[{"runs": 50, "variables": {...}}],
                                 device_type="EMU_FREE", tags=["k"])
        ...

``pasqal_environ(emulator)`` is what a process (qplan) reads to reach it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from tests.emulators.pasqal.emulator import TOKEN, PasqalEmulator

__all__ = [
    "PROJECT_ID",
    "TOKEN",
    "pasqal_emulator",
    "pasqal_emulator_server",
    "pasqal_environ",
    "pasqal_sdk",
]

PROJECT_ID = "00000000-0000-0000-0000-00000000cafe"
_CREDENTIALS = ("PASQAL_TOKEN", "PASQAL_USERNAME", "PASQAL_PASSWORD", "PASQAL_ENDPOINT")


def pasqal_environ(emulator: PasqalEmulator) -> dict[str, str]:
    """The environment a process reads to reach ``emulator``: token, endpoint, project."""
    return {"PASQAL_TOKEN": TOKEN, "PASQAL_ENDPOINT": emulator.url, "PASQAL_PROJECT_ID": PROJECT_ID}


def pasqal_sdk(emulator: PasqalEmulator, client_class: type[Any] | None = None) -> Any:
    """The plain ``pasqal_cloud.SDK`` on ``emulator``: a token provider giving ``TOKEN``, both
    endpoints at its URL, ``PROJECT_ID``; ``client_class`` defaults to the SDK's own
    ``HTTPClient`` (which retries writes on 5xx)."""
    from pasqal_cloud.authentication import TokenProvider
    from pasqal_cloud.endpoints import Endpoints
    from pasqal_cloud.http_client import HTTPClient
    from pasqal_cloud.sdk import SDK

    class EmulatorToken(TokenProvider):
        def get_token(self) -> str:
            return TOKEN

    with warnings.catch_warnings():
        # SDK is the deprecated alias of PasqalCloudClient: the very class a plain user has
        warnings.simplefilter("ignore", DeprecationWarning)
        return SDK(
            project_id=PROJECT_ID,
            token_provider=EmulatorToken(),
            endpoints=Endpoints(core=emulator.url, account=emulator.url),
            client_class=client_class or HTTPClient,
        )


@pytest.fixture(scope="session")
def pasqal_emulator_server() -> Iterator[PasqalEmulator]:
    """One Pasqal emulator for the whole test run, always stopped at its end."""
    with PasqalEmulator() as emulator:
        yield emulator


@pytest.fixture
def pasqal_emulator(
    pasqal_emulator_server: PasqalEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PasqalEmulator]:
    """The emulator with no batch, job, call or fault rule, its settings initial."""
    for name in _CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    pasqal_emulator_server.reset()
    try:
        yield pasqal_emulator_server
    finally:
        pasqal_emulator_server.reset()
