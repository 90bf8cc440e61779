"""Providers: one module per backend, each behind the protocol of ``base``.

SDKs are imported lazily, when a provider is first made, so ``qplan --help`` and the
manifest commands never import braket, pulser or azure.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from qplan.errors import QplanError
from qplan.manifest.models import ProviderConfig
from qplan.providers.base import (
    AmbiguousError,
    Capabilities,
    Dispatch,
    Member,
    Observation,
    PermanentError,
    Provider,
    ProviderError,
    Receipt,
    SessionEnded,
    SessionSupport,
    TransientError,
)

__all__ = [
    "AmbiguousError",
    "Capabilities",
    "Dispatch",
    "Member",
    "Observation",
    "PermanentError",
    "Provider",
    "ProviderError",
    "Receipt",
    "SessionEnded",
    "SessionSupport",
    "TransientError",
    "check_sdks",
    "make_provider",
]


def make_provider(name: str, config: ProviderConfig, workdir: Path | None = None) -> Provider:
    """The provider configured as ``name``. ``workdir``: a folder of this stack's where a
    provider may keep what must outlive the process (the local provider's results, until
    they are recorded, and its hybrid jobs' folders). A provider whose SDK is not installed
    is an error naming the extra that installs it."""
    if config.type == "local":
        from qplan.providers.local import LocalSimulatorProvider

        runs = None if workdir is None else workdir / "local-runs"
        hybrid = None if workdir is None else workdir / "hybrid-jobs"
        return LocalSimulatorProvider(name, config, runs, hybrid)
    if config.type == "braket":
        from qplan.providers.braket import BraketTaskProvider

        return BraketTaskProvider(name, config)
    if config.type == "azure":
        modules = ("azure.quantum", "azure.storage.blob", "azure.identity", "qdk")
        _require(name, "Azure Quantum", "azure", modules)
        from qplan.providers.azure import AzureQuantumProvider

        return AzureQuantumProvider(name, config)
    if config.type == "pasqal":
        _require(name, "Pasqal Cloud", "pasqal", ("pasqal_cloud", "pulser"))
        from qplan.providers.pasqal import PasqalCloudProvider

        return PasqalCloudProvider(name, config)
    raise QplanError(f"provider {name}: unknown type {config.type}")


def check_sdks(name: str, config: ProviderConfig, formats: Collection[str]) -> None:
    """Before anything runs: raise a clear error, naming the extra to install, when the
    provider ``name`` cannot run programs of ``formats`` for want of an SDK (Q# on the
    local provider needs qdk). Making an Azure provider checks its own SDKs."""
    if config.type == "local" and "qsharp" in formats:
        _require(name, "Q# on the local qsharp device", "azure", ("qdk",))


def _require(name: str, what: str, extra: str, modules: tuple[str, ...]) -> None:
    """Raise a clear error naming ``qplan[extra]`` when one of ``modules`` is missing."""
    from importlib.util import find_spec

    for module in modules:
        try:
            found = find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise QplanError(
                f"provider {name}: {what} needs {module}, which is not installed; install it "
                f"with: pip install 'qplan[{extra}]'"
            )
