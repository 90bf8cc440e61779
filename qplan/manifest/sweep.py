"""Sweeps: value generators, expansion into points, and the addresses of points.

- ``grid`` is the cartesian product of its axes, the first axis written varying slowest;
  ``zip`` pairs equal-length axes; ``points`` and ``points_file`` list points explicitly.
- Generated values (linspace, logspace, range) are rounded to 15 significant digits so
  that ``range: [0, 1, 0.1]`` gives 0.3, not 0.30000000000000004.
- The number of points is computed from the generators before anything is expanded, so
  a sweep over the limit is refused at once, whatever its size.
- A point's address is ``job[a=1.0,b=2]``: parameters sorted by name, canonical values.
  It depends only on the point itself, so adding or removing other points never changes it.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qplan.manifest.models import AxisSpec, JobSpec, SweepSpec
from qplan.manifest.params import BadMapping, Parameter, format_value
from qplan.manifest.yamlsource import PathPart

__all__ = [
    "DEFAULT_MAX_POINTS",
    "Sweep",
    "SweepProblem",
    "address",
    "axis_size",
    "build_sweep",
    "sweep_name_path",
    "sweep_names",
]

DEFAULT_MAX_POINTS = 1_000_000
_INT_CELL = re.compile(r"[-+]?[0-9]+")
_FLOAT_CELL = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")

Report = Callable[[Sequence[PathPart], str], None]


class SweepProblem(Exception):
    """A problem in a points file, at ``line`` (1-based) of ``file``."""

    def __init__(self, file: Path, line: int, message: str) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.message = message


def _round(value: float) -> float:
    return float(f"{value:.15g}") + 0.0


def _range_count(start: float, stop: float, step: float) -> int:
    return max(0, math.ceil(round((stop - start) / step, 9)))


def _range_args(args: Sequence[float]) -> tuple[float, float, float]:
    if len(args) == 1:
        return 0.0, args[0], 1.0
    if len(args) == 2:
        return args[0], args[1], 1.0
    return args[0], args[1], args[2]


def axis_size(axis: list[Any] | AxisSpec) -> int:
    """Number of values an axis yields, without generating them."""
    if isinstance(axis, list):
        return len(axis)
    if axis.values is not None:
        return len(axis.values)
    if axis.linspace is not None:
        return axis.linspace[2]
    if axis.logspace is not None:
        return axis.logspace[2]
    assert axis.range is not None
    return _range_count(*_range_args(axis.range))


def axis_values(axis: list[Any] | AxisSpec) -> list[Any]:
    if isinstance(axis, list):
        return axis
    if axis.values is not None:
        return axis.values
    if axis.linspace is not None or axis.logspace is not None:
        start, stop, count = axis.linspace or axis.logspace  # type: ignore[misc]
        if count == 1:
            points = [start]
        else:
            step = (stop - start) / (count - 1)
            points = [start + i * step for i in range(count - 1)] + [stop]
        if axis.logspace is not None:
            return [_round(10.0**x) for x in points]
        return [_round(x) for x in points]
    assert axis.range is not None
    start, stop, step = _range_args(axis.range)
    return [_round(start + i * step) for i in range(_range_count(start, stop, step))]


def address(job: str, names: Sequence[str], texts: Sequence[str]) -> str:
    """``job[a=1.0,b=2]`` from parameter names and canonical value texts (any order)."""
    pairs = sorted(zip(names, texts, strict=True))
    return f"{job}[{','.join(f'{n}={t}' for n, t in pairs)}]"


@dataclass(frozen=True)
class Sweep:
    """An expanded-on-demand sweep. ``names`` in written order; each point is a tuple of
    coerced values in that order. ``columns`` (grid, zip) or ``rows`` (points) hold them."""

    kind: str
    names: tuple[str, ...]
    columns: tuple[tuple[Any, ...], ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()

    def __len__(self) -> int:
        if self.kind == "grid":
            return math.prod(len(c) for c in self.columns)
        if self.kind == "zip":
            return len(self.columns[0])
        return len(self.rows)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        if self.kind == "grid":
            return itertools.product(*self.columns)
        if self.kind == "zip":
            return zip(*self.columns, strict=True)
        return iter(self.rows)

    def points(self) -> Iterator[dict[str, Any]]:
        for values in self:
            yield dict(zip(self.names, values, strict=True))

    def addresses(self, job: str) -> Iterator[str]:
        """Addresses of all points, in expansion order; values are formatted once per axis."""
        order = sorted(range(len(self.names)), key=lambda i: self.names[i])
        prefix = [f"{self.names[i]}=" for i in order]
        if self.kind in ("grid", "zip"):
            texts = [tuple(format_value(v) for v in column) for column in self.columns]
            combos: Iterator[tuple[str, ...]] = (
                itertools.product(*texts) if self.kind == "grid" else zip(*texts, strict=True)
            )
        else:
            combos = (tuple(format_value(v) for v in row) for row in self.rows)
        for combo in combos:
            yield f"{job}[{','.join(p + combo[i] for p, i in zip(prefix, order, strict=True))}]"


def _coerce(
    value: Any,
    param: Parameter | None,
    path: Sequence[PathPart],
    report: Report,
    describe: Callable[[Any], str],
) -> tuple[bool, Any]:
    if param is None:
        return True, value
    try:
        return True, param.coerce(value)
    except BadMapping as exc:
        report(path, str(exc))
        return False, None
    except ValueError as exc:
        report(path, f"{exc} for {param.name}, got {describe(value)}")
        return False, None


def build_sweep(
    spec: SweepSpec,
    path: Sequence[PathPart],
    params: Mapping[str, Parameter] | None,
    base_dir: Path,
    limit: int,
    report: Report,
    describe: Callable[[Any], str],
) -> Sweep | None:
    """Check and build a sweep; problems go to ``report``. ``params`` None: not checked.

    Raises SweepProblem for an unreadable points file.
    """
    if spec.grid is not None or spec.zip is not None:
        kind = "grid" if spec.grid is not None else "zip"
        axes = spec.grid if spec.grid is not None else spec.zip
        assert axes is not None
        sizes = {name: axis_size(axis) for name, axis in axes.items()}
        empty = [name for name, size in sizes.items() if size == 0]
        for name in empty:
            report([*path, kind, name], "generates no values")
        if empty:
            return None
        if kind == "zip" and len(set(sizes.values())) > 1:
            listed = ", ".join(f"{n}: {s}" for n, s in sizes.items())
            report([*path, "zip"], f"zipped parameters must have equal lengths ({listed})")
            return None
        total = math.prod(sizes.values()) if kind == "grid" else next(iter(sizes.values()))
        if total > limit:
            report(path, _over_limit(total, limit))
            return None
        columns: list[tuple[Any, ...]] = []
        ok = True
        for name, axis in axes.items():
            param = params.get(name) if params is not None else None
            values: list[Any] = []
            for i, raw in enumerate(axis_values(axis)):
                where = [*path, kind, name, i] if isinstance(axis, list) else [*path, kind, name]
                good, value = _coerce(raw, param, where, report, describe)
                ok = ok and good
                values.append(value)
            if kind == "grid" and ok:
                seen: dict[str, int] = {}
                for i, value in enumerate(values):
                    text = format_value(value)
                    if text in seen:
                        report(
                            [*path, kind, name],
                            f"value {text} appears twice (items {seen[text]} and {i})",
                        )
                        ok = False
                        break
                    seen[text] = i
            columns.append(tuple(values))
        if not ok:
            return None
        sweep = Sweep(kind, tuple(axes), columns=tuple(columns))
        if kind == "zip" and not _unique_rows(zip(*columns, strict=True), [*path, "zip"], report):
            return None
        return sweep
    raw_points: list[Any]
    where_of: Callable[[int], Sequence[PathPart]]
    if spec.points is not None:
        raw_points = spec.points
        key = "points"

        def where_of(i: int) -> Sequence[PathPart]:
            return [*path, key, i]
    else:
        assert spec.points_file is not None
        raw_points = _read_points_file(base_dir / spec.points_file)
        key = "points_file"

        def where_of(i: int) -> Sequence[PathPart]:
            return [*path, key]

    if len(raw_points) > limit:
        report(path, _over_limit(len(raw_points), limit))
        return None
    if not raw_points:
        report([*path, key], "lists no points")
        return None
    names = tuple(raw_points[0])
    rows: list[tuple[Any, ...]] = []
    ok = True
    for i, point in enumerate(raw_points):
        if set(point) != set(names):
            report(where_of(i), f"point {i} binds {sorted(point)}, the first binds {sorted(names)}")
            ok = False
            continue
        row = []
        for name in names:
            param = params.get(name) if params is not None else None
            good, value = _coerce(point[name], param, [*where_of(i), name], report, describe)
            ok = ok and good
            row.append(value)
        rows.append(tuple(row))
    if not ok or not _unique_rows(rows, [*path, key], report):
        return None
    return Sweep("points", names, rows=tuple(rows))


def _over_limit(count: int, limit: int) -> str:
    return f"{count:,} points is above the limit of {limit:,} (see --max-sweep-points)"


def _unique_rows(
    rows: Iterator[tuple[Any, ...]] | list[tuple[Any, ...]],
    where: Sequence[PathPart],
    report: Report,
) -> bool:
    seen: dict[tuple[str, ...], int] = {}
    for i, row in enumerate(rows):
        text = tuple(format_value(v) for v in row)
        if text in seen:
            report(where, f"point {i} repeats point {seen[text]}")
            return False
        seen[text] = i
    return True


def sweep_names(spec: JobSpec) -> list[str]:
    """The names a sweep binds, as written (none for a points file, read later)."""
    sweep = spec.sweep
    assert sweep is not None
    if sweep.grid is not None:
        return list(sweep.grid)
    if sweep.zip is not None:
        return list(sweep.zip)
    if sweep.points is not None:
        return list(dict.fromkeys(k for point in sweep.points for k in point))
    return []  # points_file: names known after reading it


def sweep_name_path(spec: JobSpec, base: list[PathPart], name: str) -> list[PathPart]:
    """Where the sweep under ``base`` binds ``name``: its axis, first point, or file."""
    sweep = spec.sweep
    assert sweep is not None
    if sweep.grid is not None:
        return [*base, "grid", name]
    if sweep.zip is not None:
        return [*base, "zip", name]
    if sweep.points is not None:
        for i, point in enumerate(sweep.points):
            if name in point:
                return [*base, "points", i, name]
    return [*base, "points_file"]


def _read_points_file(path: Path) -> list[dict[str, Any]]:
    """Points from a CSV file (header row = parameter names; cells read as YAML scalars)
    or a JSON list of objects."""
    from qplan.errors import ManifestError
    from qplan.manifest.yamlsource import FileTooLarge, decode_text, read_bytes

    try:
        raw = read_bytes(path)
    except FileTooLarge as exc:
        raise SweepProblem(path, 0, str(exc)) from None
    except OSError as exc:
        raise SweepProblem(path, 0, f"cannot read points file: {exc.strerror}") from None
    try:
        text = decode_text(raw, str(path))
    except ManifestError as exc:
        first = exc.diagnostics[0]
        raise SweepProblem(path, first.line, first.message) from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SweepProblem(path, exc.lineno, f"invalid JSON: {exc.msg}") from None
        if not isinstance(data, list) or not all(isinstance(p, dict) for p in data):
            raise SweepProblem(path, 1, "a JSON points file must hold a list of objects")
        for i, point in enumerate(data):
            for name in point:
                if not str(name).isidentifier():
                    raise SweepProblem(path, 1, f"point {i}: {name!r} is not a parameter name")
        return data
    if path.suffix.lower() != ".csv":
        raise SweepProblem(path, 0, "a points file must be .csv or .json")
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise SweepProblem(path, 1, "the points file is empty") from None
    header = [h.strip() for h in header]
    for name in header:
        if not name.isidentifier():
            raise SweepProblem(path, 1, f"column {name!r} is not a parameter name")
    if len(set(header)) != len(header):
        raise SweepProblem(path, 1, "a column name appears twice")
    points: list[dict[str, Any]] = []
    for row in reader:
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise SweepProblem(
                path, reader.line_num, f"{len(row)} cells where the header names {len(header)}"
            )
        points.append({name: _cell(cell.strip()) for name, cell in zip(header, row, strict=True)})
    return points


def _cell(text: str) -> Any:
    """A CSV cell as a YAML plain scalar would read: integer, number, boolean or string."""
    if _INT_CELL.fullmatch(text):
        return int(text)
    if _FLOAT_CELL.fullmatch(text):
        return float(text)
    if text in ("true", "True", "TRUE", "false", "False", "FALSE"):
        return text[0] in "tT"
    return text
