"""Fingerprints and idempotency keys.

The fingerprint of an instance hashes what determines its result and nothing else: the
program's canonical digest (see ``Program.digest``), its format and entry operation (Q#),
the target and its provider type, the shots, the target's input parameters (``params``),
and every bound input in canonical form. Retry, timeout, on_failure, tags, ``after`` and
the session do not count: changing them never reruns a job.

A hybrid job (``braket.hybrid``) has no shots (0); its entry point counts as an entry,
its hyperparameters as inputs, and its ``hybrid`` part holds the instance (type, count,
volume), the input channels (name and S3 URI, or name and content digest of a local
path), the checkpoint URI and the image. Its ``max_runtime`` is a policy, as a timeout:
it does not count.

An entry, params and a hybrid part count only when the job has them, so the fingerprints
of jobs without any are what they were before those existed: their instances are never
replaced by an upgrade of qplan.

Canonical inputs are the ones of addresses: parameters sorted by name, values coerced to
the declared kind and printed in shortest round-trip form, so ``theta: 1`` and
``theta: 1.0`` and any key order give the same fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from qplan.addresses import parse_address
from qplan.manifest import Job, format_value
from qplan.manifest.hybrid import HybridSpec

__all__ = ["FINGERPRINT_VERSION", "JobFingerprinter", "idempotency_key"]

FINGERPRINT_VERSION = 1


class JobFingerprinter:
    """Fingerprints of one job's instances: the job-wide part is hashed once."""

    def __init__(self, job: Job) -> None:
        fixed = ",".join(f"{k}={format_value(job.inputs[k])}" for k in sorted(job.inputs))
        parts: dict[str, Any] = {
            "v": FINGERPRINT_VERSION,
            "program": job.program.digest,
            "format": job.program.format,
            "target": str(job.target),
            "provider_type": job.target.provider_type,
            "shots": job.shots,
            "inputs": fixed,
        }
        if job.entry is not None:
            parts["entry"] = job.entry
        if job.params:
            parts["params"] = job.params  # key order does not count: sorted below
        if job.hybrid is not None:
            parts["hybrid"] = _hybrid_part(job.hybrid)
        head = json.dumps(parts, sort_keys=True, separators=(",", ":"))
        self._prefix = hashlib.blake2b(head.encode(), digest_size=16).digest()

    def __call__(self, address: str) -> str:
        """The fingerprint of the instance at ``address`` (whose bracket holds its point)."""
        point = parse_address(address).point.encode()
        return hashlib.blake2b(self._prefix + point, digest_size=16).hexdigest()


def _hybrid_part(spec: HybridSpec) -> list[Any]:
    """What of a hybrid job's specification determines its result: not ``max_runtime``."""
    channels = [[c.name, c.s3_uri or c.digest] for c in spec.input_data]
    return [
        spec.instance_type,
        spec.instance_count,
        spec.volume_gb,
        sorted(channels),
        spec.checkpoint,
        spec.image,
    ]


def idempotency_key(
    stack: str, address: str, fingerprint: str, attempt: int, generation: int = 0
) -> str:
    """Deterministic key of one submission: the same inputs give the same key, forever.
    ``generation`` (how many times the stack's rows were forgotten) keeps a key from
    repeating once its row is gone, where attempt numbers start again (after a destroy)."""
    text = f"qplan/1\0{stack}\0{address}\0{fingerprint}\0{attempt}"
    if generation:
        text += f"\0g{generation}"
    return hashlib.sha256(text.encode()).hexdigest()[:48]


def batch_key(member_keys: Iterable[str]) -> str:
    """Key of a native batch: a function of its members' own keys, so the same members at
    the same attempts give the same key, and any other membership another one."""
    text = "qplan-batch/1\0" + "\0".join(sorted(member_keys))
    return hashlib.sha256(text.encode()).hexdigest()[:48]
