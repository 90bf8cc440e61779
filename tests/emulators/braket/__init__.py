"""A wire-compatible Amazon Braket emulator (REST JSON over loopback HTTP) for tests and
benchmarks, with S3, STS and CloudWatch Logs served by moto, built on the emulator kit
(``tests.emulators.kit``). See ``emulator`` for the API surface (``jobs_api`` for hybrid
jobs), ``config`` for Braket's settings (queue time, failing tasks, job slots), ``fixture``
for pytest; API faults and the call record are the kit's."""

from tests.emulators.braket.admin import EmulatorAdmin
from tests.emulators.braket.config import EmulatorConfig
from tests.emulators.braket.devices import DEVICES
from tests.emulators.braket.emulator import BraketEmulator

__all__ = ["DEVICES", "BraketEmulator", "EmulatorAdmin", "EmulatorConfig"]
