"""Fixtures of the kit's tests: one toy emulator for the whole run, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.emulators.kit.toy import ToyEmulator


@pytest.fixture(scope="session")
def toy_server() -> Iterator[ToyEmulator]:
    """Started once per test run, always stopped at its end."""
    with ToyEmulator() as emulator:
        yield emulator


@pytest.fixture
def toy(toy_server: ToyEmulator) -> Iterator[ToyEmulator]:
    """The toy emulator with no item, job, call or fault rule, its settings initial."""
    toy_server.reset()
    yield toy_server
    toy_server.reset()
