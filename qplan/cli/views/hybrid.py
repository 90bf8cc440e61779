"""Rendering what hybrid jobs leave: their saved results, metrics tables and plots.

A result persisted as ``pickled_v4`` is Python pickles: loading one runs whatever code its
author put in it. It is loaded only with ``--allow-pickle``; otherwise it is described
(its format, its keys) and left as it is.
"""

from __future__ import annotations

import base64
import json
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qplan.operations.hybrid import JobMetrics

__all__ = ["PICKLED", "decode_result", "metric_rows", "plot_metrics", "short"]

PICKLED = "pickled_v4"


def decode_result(hybrid: Mapping[str, Any], allow_pickle: bool) -> tuple[Any, str | None]:
    """The saved values of a hybrid job's result, and a note when they were not loaded.
    Plaintext values are JSON already; pickled ones are unpickled only if allowed."""
    data = hybrid.get("dataDictionary") or {}
    fmt = hybrid.get("dataFormat")
    if fmt != PICKLED:
        return data, None
    if not allow_pickle:
        keys = ", ".join(sorted(data)) or "none"
        return None, (
            f"{PICKLED} data (keys: {keys}) not loaded: unpickling runs code from the job; "
            "pass --allow-pickle to load a result you trust"
        )
    return {k: pickle.loads(base64.b64decode(v)) for k, v in data.items()}, None


def short(values: Any, width: int = 100) -> str:
    """One line for a table cell: a mapping's plain values first, its lists and mappings
    by their length (``--format json`` shows them whole)."""
    if isinstance(values, Mapping):
        plain = [(k, v) for k, v in values.items() if not isinstance(v, list | dict)]
        nested = [(k, v) for k, v in values.items() if isinstance(v, list | dict)]
        parts = [f"{k}={_plain(v)}" for k, v in plain]
        parts += [f"{k}=[{len(v)} {'items' if isinstance(v, list) else 'keys'}]" for k, v in nested]
        text = ", ".join(parts)
    else:
        text = _plain(values)
    return text if len(text) <= width else text[: width - 1] + "…"


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return f"{value:.6g}"
    try:
        return json.dumps(value, separators=(",", ":"), default=repr)
    except (TypeError, ValueError):
        return repr(value)


def metric_rows(found: Sequence[JobMetrics]) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """Rows by instance and iteration (or timestamp when the job gave no iteration): the
    sweep's parameters, then every metric name as a column. Returns (parameters, metric
    names, rows)."""
    params = sorted({p for m in found for p in m.instance.point})
    names: list[str] = []
    rows: list[dict[str, Any]] = []
    for item in found:
        by_step: dict[tuple[int | None, float | None], dict[str, Any]] = {}
        for point in item.points:
            if point.name not in names:
                names.append(point.name)
            step = (point.iteration, None if point.iteration is not None else point.timestamp)
            row = by_step.get(step)
            if row is None:
                row = {
                    "address": item.instance.address,
                    **{p: item.instance.point.get(p) for p in params},
                    "iteration": point.iteration,
                    "timestamp": point.timestamp,
                }
                by_step[step] = row
                rows.append(row)
            row[point.name] = point.value
    return params, names, rows


def plot_metrics(found: Sequence[JobMetrics], path: Path) -> list[str]:
    """One panel per metric, one line per instance, against the iteration (or the order of
    the log lines when the job gave none). Returns the metric names plotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({p.name for m in found for p in m.points})
    if not names:
        return []
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 3.2 * len(names)), squeeze=False)
    for axis, name in zip(axes[:, 0], names, strict=True):
        for item in found:
            points = [p for p in item.points if p.name == name]
            if not points:
                continue
            xs = [p.iteration if p.iteration is not None else i for i, p in enumerate(points)]
            axis.plot(xs, [p.value for p in points], marker=".", label=item.instance.address)
        axis.set_title(name)
        axis.set_xlabel("iteration")
        axis.set_ylabel(name)
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return names
