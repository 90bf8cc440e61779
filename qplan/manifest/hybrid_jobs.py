"""A job's hybrid keys resolved: refused on other jobs, checked and made a ``HybridSpec`` on
hybrid ones (a program of format ``braket.hybrid``).

A job whose program is not hybrid must have ``shots`` and none of ``HYBRID_KEYS``. On a
hybrid job:

- ``shots``, ``inputs``, ``params``, ``session`` and ``sweep.batch: native`` (or a
  ``batch_size``) are refused: its program makes its own tasks, with their own shots, and
  its sweep goes one hybrid job per point;
- its hyperparameters are its fixed ``hyperparameters`` and its sweep's names (any
  identifier: nothing declares them); a name in both is an error, and there are at most
  ``LIMITS.hyperparameters`` of them, each name at most ``LIMITS.hyperparameter_name``
  characters;
- every value, as the API takes it (``hyperparameters()``), is 1 to
  ``LIMITS.hyperparameter_value`` characters: fixed values are checked at their key, swept
  ones per instance, at the point's place in the sweep and with the instance's address;
- ``input_data``: an ``s3://`` URI as it is, else a file or folder relative to the
  manifest that must exist, made absolute and hashed (an edit to it replaces the job).

The job's fixed hyperparameters become its ``inputs``, so an instance's inputs (fixed and
point) are its hyperparameters everywhere downstream.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from qplan.manifest.hybrid import (
    DEFAULT_MAX_RUNTIME,
    LIMITS,
    HybridSpec,
    InputChannel,
    hyperparameters,
)
from qplan.manifest.hybrid_source import input_digest
from qplan.manifest.models import S3_PATTERN, InstanceSpec, JobSpec
from qplan.manifest.programs import Program
from qplan.manifest.sweep import Sweep, SweepProblem, build_sweep, sweep_name_path
from qplan.manifest.yamlsource import PathPart

__all__ = ["HYBRID_KEYS", "bind_hybrid", "check_other_job"]

Report = Callable[[Sequence[PathPart], str], None]
ReportFile = Callable[[Path, int, str, Sequence[PathPart]], None]
Describe = Callable[[Sequence[PathPart], Any], str]

HYBRID_KEYS = ("hyperparameters", "instance", "max_runtime", "input_data", "checkpoint", "image")
"""The keys of a job that only a hybrid job takes."""

_SHOWN = 5
"""Instances reported by address when many of a job's have a bad value."""


def check_other_job(spec: JobSpec, program: Program, base: list[PathPart], report: Report) -> bool:
    """False, with each problem reported, when a job whose program is not hybrid has no
    ``shots`` or uses a key only hybrid jobs take."""
    ok = spec.shots is not None
    if not ok:
        report([*base, "shots"], "is required")
    for key in HYBRID_KEYS:
        if getattr(spec, key) is not None:
            report(
                [*base, key],
                f"applies to braket.hybrid programs only (program {program.name} is "
                f"{program.format})",
            )
            ok = False
    return ok


def _refused(spec: JobSpec, base: list[PathPart], report: Report) -> bool:
    """The keys of other jobs that a hybrid job refuses, each reported."""
    refusals: list[tuple[list[PathPart], str]] = []
    if spec.shots is not None:
        refusals.append(
            (
                [*base, "shots"],
                "a hybrid job has no shots: its program sets those of the tasks it creates",
            )
        )
    if spec.inputs:
        refusals.append(([*base, "inputs"], "a hybrid job takes hyperparameters, not inputs"))
    if spec.params:
        refusals.append(
            (
                [*base, "params"],
                "a hybrid job takes no target params: its program sets its tasks' options",
            )
        )
    if spec.session is not None:
        refusals.append(
            (
                [*base, "session"],
                "a hybrid job cannot run in a session: the tasks it creates go to its device "
                "on their own",
            )
        )
    if spec.sweep is not None and spec.sweep.batch == "native":
        refusals.append(
            (
                [*base, "sweep", "batch"],
                "a hybrid sweep goes one hybrid job per point: batch: native does not apply",
            )
        )
    if spec.sweep is not None and spec.sweep.batch_size is not None:
        refusals.append(
            (
                [*base, "sweep", "batch_size"],
                "a hybrid sweep goes one hybrid job per point: batch_size does not apply",
            )
        )
    for where, message in refusals:
        report(where, message)
    return not refusals


def _value_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a hyperparameter, or None when it can."""
    if value is None:
        return "must be a number, text, boolean, list or mapping, got null"
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    size = len(hyperparameters({"v": value})["v"])
    if size == 0:
        return "must not be empty: the API takes 1 to 2500 characters"
    if size > LIMITS.hyperparameter_value:
        return (
            f"is {size} characters as the API takes it, above its limit of "
            f"{LIMITS.hyperparameter_value}"
        )
    return None


def bind_hybrid(
    name: str,
    spec: JobSpec,
    program: Program,
    base: list[PathPart],
    *,
    base_dir: Path,
    max_points: int,
    report: Report,
    report_file: ReportFile,
    describe: Describe,
) -> tuple[dict[str, Any], Sweep | None, HybridSpec | None, bool]:
    """A hybrid job's fixed hyperparameters (its ``inputs``), its sweep and its
    ``HybridSpec``; the last is False when a problem was reported."""
    ok = _refused(spec, base, report)
    fixed = dict(spec.hyperparameters or {})
    for key, value in fixed.items():
        problem = _value_problem(value)
        if problem is not None:
            report([*base, "hyperparameters", key], problem)
            ok = False
    sweep: Sweep | None = None
    if spec.sweep is not None:
        sweep_path: list[PathPart] = [*base, "sweep"]
        try:
            sweep = build_sweep(
                spec.sweep,
                sweep_path,
                None,
                base_dir,
                max_points,
                report,
                lambda v: describe(sweep_path, v),
            )
        except SweepProblem as exc:
            report_file(exc.file, exc.line, exc.message, [*sweep_path, "points_file"])
        if sweep is None:
            ok = False
        else:
            ok = _sweep_names_ok(spec, sweep, fixed, sweep_path, report) and ok
            ok = _points_ok(name, spec, sweep, sweep_path, report) and ok
    count = len(fixed) + (len(sweep.names) if sweep is not None else 0)
    if count > LIMITS.hyperparameters:
        where: list[PathPart] = [*base, "hyperparameters" if fixed else "sweep"]
        report(where, f"{count} hyperparameters, above the API's limit of {LIMITS.hyperparameters}")
        ok = False
    channels = _channels(spec, base, base_dir, report)
    if channels is None or not ok:
        return fixed, sweep, None, False
    assert program.entry is not None  # the model requires an entry point
    instance = spec.instance or InstanceSpec()
    hybrid = HybridSpec(
        entry_point=program.entry,
        instance_type=instance.type,
        instance_count=instance.count,
        volume_gb=instance.volume,
        input_data=channels,
        checkpoint=spec.checkpoint,
        image=spec.image,
        max_runtime=DEFAULT_MAX_RUNTIME if spec.max_runtime is None else spec.max_runtime,
    )
    return fixed, sweep, hybrid, True


def _sweep_names_ok(
    spec: JobSpec, sweep: Sweep, fixed: Mapping[str, Any], path: list[PathPart], report: Report
) -> bool:
    ok = True
    for swept in sweep.names:
        where = sweep_name_path(spec, path, swept)
        if swept in fixed:
            report(where, f"{swept} is both in hyperparameters and in the sweep")
            ok = False
        elif len(swept) > LIMITS.hyperparameter_name:
            report(where, f"{swept[:20]}...: a hyperparameter name is at most 256 characters")
            ok = False
    return ok


def _points_ok(
    name: str, spec: JobSpec, sweep: Sweep, path: list[PathPart], report: Report
) -> bool:
    """Every instance's swept values are hyperparameters the API takes; the first few
    instances that are not are reported at their value's place in the sweep."""
    assert spec.sweep is not None
    if sweep.kind in ("grid", "zip"):
        bad = [
            {i: p for i, v in enumerate(column) if (p := _value_problem(v)) is not None}
            for column in sweep.columns
        ]
        if not any(bad):
            return True
        axes = spec.sweep.grid if sweep.kind == "grid" else spec.sweep.zip
        assert axes is not None
        sizes = [range(len(column)) for column in sweep.columns]
        combos: Iterator[tuple[int, ...]] = (
            itertools.product(*sizes)
            if sweep.kind == "grid"
            else ((i,) * len(sizes) for i in sizes[0])
        )

        def problem(combo: tuple[int, ...]) -> tuple[list[PathPart], str] | None:
            for j, axis in enumerate(sweep.names):
                found = bad[j].get(combo[j])
                if found is not None:
                    listed = isinstance(axes[axis], list)
                    where = [*path, sweep.kind, axis, *([combo[j]] if listed else [])]
                    return where, f"{axis} {found}"
            return None
    else:
        rows = list(sweep.rows)
        combos = ((i,) for i in range(len(rows)))
        key = "points" if spec.sweep.points is not None else "points_file"

        def problem(combo: tuple[int, ...]) -> tuple[list[PathPart], str] | None:
            for axis, value in zip(sweep.names, rows[combo[0]], strict=True):
                found = _value_problem(value)
                if found is not None:
                    inner: list[PathPart] = [combo[0], axis] if key == "points" else []
                    return [*path, key, *inner], f"{axis} {found}"
            return None

    shown = 0
    for address, combo in zip(sweep.addresses(name), combos, strict=True):
        found = problem(combo)
        if found is None:
            continue
        shown += 1
        if shown <= _SHOWN:
            report(found[0], f"{_short(address)}: hyperparameter {found[1]}")
    if shown > _SHOWN:
        report(
            path,
            f"... and {shown - _SHOWN} more instances of {name} with a hyperparameter the "
            "API does not take",
        )
    return shown == 0


def _short(address: str) -> str:
    """An address as a message shows it: a long value cut in the middle."""
    return address if len(address) <= 100 else f"{address[:70]}...{address[-20:]}"


def _channels(
    spec: JobSpec, base: list[PathPart], base_dir: Path, report: Report
) -> tuple[InputChannel, ...] | None:
    """The input channels, in written order; None when one is wrong (reported)."""
    out: list[InputChannel] = []
    ok = True
    for channel, value in (spec.input_data or {}).items():
        where: list[PathPart] = [*base, "input_data", channel]
        if value.startswith("s3://"):
            if not re.fullmatch(S3_PATTERN, value):
                report(where, "must be an s3:// URI of a bucket and key, s3://bucket/data")
                ok = False
            out.append(InputChannel(channel, s3_uri=value))
            continue
        if "://" in value:
            report(where, "must be a file or folder relative to the manifest, or an s3:// URI")
            ok = False
            continue
        path = (base_dir / value).resolve()
        if not path.exists():
            report(where, f"not found: {value} (a file or folder, relative to the manifest)")
            ok = False
            continue
        try:
            digest = input_digest(path)
        except OSError as exc:
            report(where, f"cannot read {value}: {exc.strerror}")
            ok = False
            continue
        out.append(InputChannel(channel, path=str(path), digest=digest))
    return tuple(out) if ok else None
