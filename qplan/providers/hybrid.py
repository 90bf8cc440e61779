"""What every provider of hybrid jobs shares: job names, hyperparameters as the API takes
them, the output archive and the result it holds, and the metrics in a job's log.

- ``job_name``: deterministic, at most 50 characters of ``[a-zA-Z0-9-]``, from the stack
  and hashes of the address and of the idempotency key: the same submission always has
  the same name (found by it after a crash), attempts and stacks never share one.
- ``output_archive`` / ``result_payload``: the results folder as ``model.tar.gz``, and the
  ``results.json`` in it (``save_job_result``'s persisted data) as qplan records it. Its
  values are kept as written: ``pickled_v4`` data is never unpickled here.
- ``parse_metrics``: ``Metrics - timestamp=...; name=value; iteration_number=...;`` lines,
  as ``log_metric`` prints them, from any log (a local file or CloudWatch events).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qplan.manifest.hybrid import hyperparameters

__all__ = [
    "RESULTS_FILE",
    "MetricPoint",
    "hyperparameters",
    "job_name",
    "output_archive",
    "parse_metrics",
    "result_payload",
]

RESULTS_FILE = "results.json"
OUTPUT_ARCHIVE = "model.tar.gz"
_NAME_MAX = 50
_NOT_NAME = re.compile(r"[^a-zA-Z0-9]+")


def _hash(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def job_name(stack: str, address: str, key: str) -> str:
    """``qp-{stack}-{address hash}-{key hash}``, the stack cut to fit in 50 characters:
    jobs of one address share the middle part, each submission has its own last part."""
    tail = f"-{_hash(address, 8)}-{_hash(key, 12)}"
    head = _NOT_NAME.sub("-", f"qp-{stack}").strip("-")
    return head[: _NAME_MAX - len(tail)].rstrip("-") + tail


def output_archive(results_dir: Path) -> bytes:
    """The results folder as the service archives it: ``model.tar.gz`` of its files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(results_dir.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(results_dir)), recursive=False)
    return buffer.getvalue()


def result_payload(archive: bytes | None, job_id: str, name: str) -> dict[str, Any]:
    """What qplan records of a completed hybrid job: the persisted data of its
    ``results.json`` (``dataFormat`` and ``dataDictionary`` as written; none when the job
    saved nothing), its name and id. ``counts`` is empty: a hybrid job has no shots."""
    persisted: dict[str, Any] = {"dataFormat": None, "dataDictionary": {}}
    if archive is not None:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            try:
                member = tar.extractfile(RESULTS_FILE)
            except KeyError:
                member = None
            if member is not None:
                data = json.loads(member.read())
                persisted = {
                    "dataFormat": data.get("dataFormat"),
                    "dataDictionary": data.get("dataDictionary", {}),
                }
    return {"counts": {}, "hybrid": {"job": name, "job_id": job_id, **persisted}}


@dataclass(frozen=True)
class MetricPoint:
    """One metric value of one log line: ``iteration`` when the job gave one."""

    name: str
    value: float
    timestamp: float | None
    iteration: int | None


_METRIC = re.compile(r"(\w+)\s*=\s*([^;]+)\s*;")
_MARK = "Metrics - "


def parse_metrics(lines: Iterable[str]) -> list[MetricPoint]:
    """Every metric of every ``Metrics - `` line, in log order. Values that are not
    numbers are left out, as the SDK's parser does."""
    out: list[MetricPoint] = []
    for line in lines:
        at = line.find(_MARK)
        if at < 0:
            continue
        fields: dict[str, float] = {}
        for match in _METRIC.finditer(line[at + len(_MARK) :]):
            try:
                fields[match.group(1)] = float(match.group(2).strip())
            except ValueError:
                continue
        stamp = fields.pop("timestamp", None)
        iteration = fields.pop("iteration_number", None)
        fields.pop("node_id", None)
        for name, value in fields.items():
            out.append(
                MetricPoint(name, value, stamp, None if iteration is None else int(iteration))
            )
    return out
