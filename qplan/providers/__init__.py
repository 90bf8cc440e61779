"""Providers: one module per backend, each behind the protocol of ``base``.

SDKs are imported lazily, when a provider is first made, so ``qplan --help`` and the
manifest commands never import braket, pulser or azure.
"""

from __future__ import annotations

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
    "make_provider",
]


def make_provider(name: str, config: ProviderConfig, workdir: Path | None = None) -> Provider:
    """The provider configured as ``name``. ``workdir``: a folder of this stack's where a
    provider may keep what must outlive the process (the local provider's results, until
    they are recorded). Azure and Pasqal are not available yet."""
    if config.type == "local":
        from qplan.providers.local import LocalSimulatorProvider

        runs = None if workdir is None else workdir / "local-runs"
        return LocalSimulatorProvider(name, config, runs)
    if config.type == "braket":
        from qplan.providers.braket import BraketTaskProvider

        return BraketTaskProvider(name, config)
    raise QplanError(
        f"provider {name} ({config.type}): applying on {config.type} is not available in this "
        "release; `validate`, `plan` and `graph` work, and the local provider runs everything"
    )
