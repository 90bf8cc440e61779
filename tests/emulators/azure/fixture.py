"""Pytest fixtures running the Azure Quantum emulator with its blobs in Azurite, on 127.0.0.1.

``azurite_server`` and ``azure_emulator_server`` start once per test run and always stop
at its end; ``azure_emulator`` (per test) resets the emulator (no job, session, call or
fault rule; the initial settings) before and after the test, and yields it::

    def test_something(azure_emulator):
        azure_emulator.config.update(queue_time=0.1)
        workspace = azure_workspace(azure_emulator)   # the real SDK, pointed at it
        ...

The SDK reaches a data plane other than ``https://<region>.quantum.azure.com`` only through
``Workspace``'s ``_quantum_endpoint`` keyword; with every connection parameter and a key
credential given it makes no call to Azure's management API.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.emulators.azure.emulator import API_KEY, AzureQuantumEmulator
from tests.emulators.azurite import Azurite

__all__ = [
    "RESOURCE_GROUP",
    "RESOURCE_ID",
    "SUBSCRIPTION",
    "WORKSPACE",
    "azure_config",
    "azure_emulator",
    "azure_emulator_server",
    "azure_environ",
    "azure_workspace",
    "azurite_server",
    "connection_string",
]

SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
RESOURCE_GROUP = "rg-qplan"
WORKSPACE = "ws-qplan"
LOCATION = "eastus"
RESOURCE_ID = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/"
    f"Microsoft.Quantum/Workspaces/{WORKSPACE}"
)


def connection_string(emulator: AzureQuantumEmulator) -> str:
    """A workspace connection string, as the portal gives it, naming the emulator."""
    return (
        f"SubscriptionId={SUBSCRIPTION};ResourceGroupName={RESOURCE_GROUP};"
        f"WorkspaceName={WORKSPACE};ApiKey={API_KEY};QuantumEndpoint={emulator.url}/;"
    )


def azure_environ(emulator: AzureQuantumEmulator) -> dict[str, str]:
    """What qplan's Azure provider reads from the environment to reach the emulator."""
    return {
        "AZURE_QUANTUM_CONNECTION_STRING": connection_string(emulator),
        "AZURE_QUANTUM_RESOURCE_ID": RESOURCE_ID,
        "AZURE_QUANTUM_LOCATION": LOCATION,
        "QDK_PYTHON_TELEMETRY": "none",
    }


def azure_config() -> Any:
    """The manifest's provider settings for the emulator's workspace."""
    from qplan.manifest.models import AzureProvider

    return AzureProvider(type="azure", resource_id=RESOURCE_ID, location=LOCATION)


def azure_workspace(emulator: AzureQuantumEmulator) -> Any:
    """An azure-quantum ``Workspace`` that talks to ``emulator``."""
    from azure.core.credentials import AzureKeyCredential
    from azure.quantum import Workspace

    return Workspace(
        subscription_id=SUBSCRIPTION,
        resource_group=RESOURCE_GROUP,
        name=WORKSPACE,
        location=LOCATION,
        credential=AzureKeyCredential(API_KEY),
        _quantum_endpoint=emulator.url + "/",
    )


@pytest.fixture(scope="session")
def azurite_server() -> Iterator[Azurite]:
    with Azurite() as azurite:
        yield azurite


@pytest.fixture(scope="session")
def azure_emulator_server(azurite_server: Azurite) -> Iterator[AzureQuantumEmulator]:
    # qdk (QIR compiled and simulated here) sends usage telemetry unless told not to; it
    # reads this when it is first imported, by a test or by the emulator
    previous = os.environ.get("QDK_PYTHON_TELEMETRY")
    os.environ["QDK_PYTHON_TELEMETRY"] = "none"
    try:
        with AzureQuantumEmulator(azurite_server.connection_string) as emulator:
            yield emulator
    finally:
        if previous is None:
            os.environ.pop("QDK_PYTHON_TELEMETRY", None)
        else:
            os.environ["QDK_PYTHON_TELEMETRY"] = previous


@pytest.fixture
def azure_emulator(
    azure_emulator_server: AzureQuantumEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AzureQuantumEmulator]:
    for name in ("AZURE_QUANTUM_CONNECTION_STRING", "AZURE_QUANTUM_WORKSPACE_NAME"):
        monkeypatch.delenv(name, raising=False)
    azure_emulator_server.reset()
    try:
        yield azure_emulator_server
    finally:
        azure_emulator_server.reset()
