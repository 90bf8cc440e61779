"""Hybrid jobs (format ``braket.hybrid``): what a job running one carries besides its
source and hyperparameters, and the limits the Braket API puts on them.

A hybrid job is a classical program (a folder or one Python file, and an entry point) run
in a managed container that creates its own quantum tasks. Its instance's ``inputs`` are
its hyperparameters (fixed ones and the sweep point's), its program is its source as a
deterministic archive; the rest is a ``HybridSpec``, resolved here from the manifest: local
input paths made absolute and hashed, so that an edit to an input file replaces the job.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_INSTANCE",
    "DEFAULT_MAX_RUNTIME",
    "DEFAULT_VOLUME_GB",
    "LIMITS",
    "HybridSpec",
    "InputChannel",
    "hyperparameters",
]

DEFAULT_INSTANCE = "ml.m5.large"
DEFAULT_VOLUME_GB = 30
DEFAULT_MAX_RUNTIME = 432_000.0  # 5 days, the API's maximum and the SDK's default


@dataclass(frozen=True)
class _Limits:
    """The Braket API's limits on CreateJob (botocore's model of ``braket-2019-09-01``)."""

    job_name: int = 50
    hyperparameters: int = 100
    hyperparameter_name: int = 256
    hyperparameter_value: int = 2500
    channels: int = 20
    channel_name: int = 64
    max_runtime: float = DEFAULT_MAX_RUNTIME
    volume_gb: tuple[int, int] = (1, 16_384)
    instance_count: tuple[int, int] = (1, 1)


LIMITS = _Limits()


@dataclass(frozen=True)
class InputChannel:
    """One named input channel: an S3 URI given as it is, or a local file or folder
    (``path``, absolute) with the hash of its content (``digest``), uploaded under it."""

    name: str
    s3_uri: str | None = None
    path: str | None = None
    digest: str | None = None


@dataclass(frozen=True)
class HybridSpec:
    """A hybrid job's specification besides its source and hyperparameters.

    - ``entry_point``: ``package.module:function`` or ``package.module`` (run as a script);
    - ``instance_type``, ``instance_count``, ``volume_gb``: the classical instance;
    - ``max_runtime``: seconds before the job is stopped and fails;
    - ``input_data``: named channels, read by the job under ``AMZN_BRAKET_INPUT_DIR``;
    - ``checkpoint``: an S3 URI for checkpoints, or None for qplan's own location (one per
      address, kept across attempts, so a retried job resumes from its last checkpoint);
    - ``image``: a container image URI (Braket only; locally the job runs in qplan's own
      environment).

    The device its tasks go to is the dispatch's: the job's target device, which the
    provider turns into what the job reads from ``AMZN_BRAKET_DEVICE_ARN`` (a device ARN,
    or ``local:braket/braket_sv`` on the local provider).
    """

    entry_point: str
    instance_type: str = DEFAULT_INSTANCE
    instance_count: int = 1
    volume_gb: int = DEFAULT_VOLUME_GB
    max_runtime: float = DEFAULT_MAX_RUNTIME
    input_data: tuple[InputChannel, ...] = ()
    checkpoint: str | None = None
    image: str | None = None


def hyperparameters(values: Mapping[str, Any]) -> dict[str, str]:
    """The API takes strings: numbers in their shortest form, booleans as ``true`` and
    ``false``, JSON for lists and mappings, text as it is."""
    out: dict[str, str] = {}
    for name, value in values.items():
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, int | float | str):
            out[name] = str(value) if not isinstance(value, float) else repr(value)
        else:
            out[name] = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return out
