"""A wire-compatible Pasqal Cloud emulator (JSend over loopback HTTP) for the real
``pasqal-cloud`` SDK, built on the emulator kit (``tests.emulators.kit``); jobs run on
pulser-simulation.

``emulator`` is the API surface and the semantics chosen where the SDK leaves them open,
``protocol`` the wire shape and the checks on requests, ``store`` the batches and jobs and how
jobs move, ``records`` their JSON and statuses, ``queries`` the search filters and pages,
``programs`` the Pulser side (sequences, simulation, published devices), ``settings`` the
service's settings (timing, slow cancels, failing jobs), ``admin`` the control client for
other processes, ``fixture`` the pytest fixtures. API faults and the call record are the
kit's.
"""

from tests.emulators.pasqal.admin import PasqalAdmin
from tests.emulators.pasqal.emulator import TOKEN, PasqalEmulator
from tests.emulators.pasqal.records import BatchSnapshot, JobSnapshot
from tests.emulators.pasqal.settings import PasqalSettings

__all__ = [
    "TOKEN",
    "BatchSnapshot",
    "JobSnapshot",
    "PasqalAdmin",
    "PasqalEmulator",
    "PasqalSettings",
]
