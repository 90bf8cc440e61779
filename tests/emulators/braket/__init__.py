"""A wire-compatible Amazon Braket emulator (REST JSON over loopback HTTP) for tests and
benchmarks, with S3/STS served by moto. See ``emulator`` for the wire details, ``config`` for
latency and fault injection, ``calls`` for the call record and ``fixture`` for pytest."""

from tests.emulators.braket.admin import EmulatorAdmin
from tests.emulators.braket.calls import CallLog, CallRecord
from tests.emulators.braket.config import EmulatorConfig
from tests.emulators.braket.devices import DEVICES
from tests.emulators.braket.emulator import BraketEmulator

__all__ = [
    "DEVICES",
    "BraketEmulator",
    "CallLog",
    "CallRecord",
    "EmulatorAdmin",
    "EmulatorConfig",
]
