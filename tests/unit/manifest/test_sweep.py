"""Sweeps: generators, expansion order, addresses, limits, points files."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

import qplan
from qplan.manifest.models import AxisSpec
from qplan.manifest.sweep import axis_size, axis_values

MANIFEST = """\
version: 1
stack: s
programs:
  two:
    format: openqasm3
    source: |
      OPENQASM 3.0;
      input float theta;
      input int n;
      qubit q;
      ry(theta) q;
jobs:
  scan:
    target: local/braket_sv
    program: two
    shots: 10
    sweep:
{sweep}
"""


def load_sweep(write: Callable[..., Path], sweep: str, **files: str) -> list[str]:
    body = "\n".join("      " + line for line in sweep.strip().splitlines())
    stack = qplan.load(write(MANIFEST.format(sweep=body), **files))
    return [i.address for i in stack.instances()]


def test_linspace_includes_both_ends_and_rounds() -> None:
    assert axis_values(AxisSpec(linspace=(0, 1, 5))) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert axis_values(AxisSpec(linspace=(2, 3, 1))) == [2.0]
    assert axis_values(AxisSpec(linspace=(0, 0.3, 4))) == [0.0, 0.1, 0.2, 0.3]


def test_range_excludes_stop_and_avoids_float_noise() -> None:
    values = axis_values(AxisSpec(range=[0, 1, 0.1]))
    assert len(values) == 10
    assert values[3] == 0.3
    assert values[-1] == 0.9
    assert axis_values(AxisSpec(range=[3])) == [0.0, 1.0, 2.0]
    assert axis_values(AxisSpec(range=[5, 0, -2])) == [5.0, 3.0, 1.0]
    assert axis_size(AxisSpec(range=[0, 1, 0.1])) == 10


def test_logspace_is_powers_of_ten() -> None:
    assert axis_values(AxisSpec(logspace=(0, 3, 4))) == [1.0, 10.0, 100.0, 1000.0]


def test_grid_first_axis_varies_slowest_and_addresses_sort_names(
    write: Callable[..., Path],
) -> None:
    addresses = load_sweep(write, "grid: {theta: [0.5, 1], n: [1, 2]}")
    assert addresses == [
        "scan[n=1,theta=0.5]",
        "scan[n=2,theta=0.5]",
        "scan[n=1,theta=1.0]",
        "scan[n=2,theta=1.0]",
    ]


def test_address_of_a_point_does_not_change_when_others_are_added(
    write: Callable[..., Path],
) -> None:
    before = load_sweep(write, "grid: {theta: [0.1, 0.2], n: [1]}")
    after = load_sweep(write, "grid: {theta: [0.05, 0.1, 0.15, 0.2, 0.3], n: [1, 2]}")
    assert set(before) <= set(after)
    points = load_sweep(write, "points: [{theta: 0.2, n: 1}, {n: 1, theta: 0.1}]")
    assert sorted(points) == sorted(before)


def test_values_are_coerced_to_the_declared_kind(write: Callable[..., Path]) -> None:
    # 1 and 1.0 are one float value; -0.0 folds to 0.0; an integral float is a fine int
    assert load_sweep(write, "zip: {theta: [1, -0.0], n: [2.0, 3]}") == [
        "scan[n=2,theta=1.0]",
        "scan[n=3,theta=0.0]",
    ]
    with pytest.raises(qplan.ManifestError, match=r"value 1\.0 appears twice"):
        load_sweep(write, "grid: {theta: [1, 1.0], n: [1]}")


def test_floats_use_shortest_round_trip_text(write: Callable[..., Path]) -> None:
    addresses = load_sweep(write, "grid: {theta: [0.1, 1e-7, 123456789.125], n: [0]}")
    assert addresses == [
        "scan[n=0,theta=0.1]",
        "scan[n=0,theta=1e-07]",
        "scan[n=0,theta=123456789.125]",
    ]


def test_limit_is_checked_before_expansion(write: Callable[..., Path]) -> None:
    sweep = "grid: {theta: {linspace: [0, 1, 1000000000]}, n: {range: [0, 1000000]}}"
    started = time.perf_counter()
    with pytest.raises(
        qplan.ManifestError, match="1,000,000,000,000,000 points is above the limit"
    ):
        load_sweep(write, sweep)
    assert time.perf_counter() - started < 5  # refused without generating 10**15 points


def test_limit_is_configurable(write: Callable[..., Path]) -> None:
    path = write(MANIFEST.format(sweep="      grid: {theta: {linspace: [0, 1, 11]}, n: [1, 2]}"))
    assert qplan.load(path, max_sweep_points=22).instance_count == 22
    with pytest.raises(qplan.ManifestError, match="22 points is above the limit of 21"):
        qplan.load(path, max_sweep_points=21)


def test_zip_needs_equal_lengths(write: Callable[..., Path]) -> None:
    with pytest.raises(qplan.ManifestError, match=r"equal lengths \(theta: 3, n: 2\)"):
        load_sweep(write, "zip: {theta: [1, 2, 3], n: [1, 2]}")


def test_points_file_csv_and_json(write: Callable[..., Path]) -> None:
    csv_addresses = load_sweep(
        write, "points_file: pts.csv", **{"pts.csv": "theta,n\n0.5,1\n1.5,2\n\n"}
    )
    json_addresses = load_sweep(
        write,
        "points_file: pts.json",
        **{"pts.json": '[{"theta": 0.5, "n": 1}, {"theta": 1.5, "n": 2}]'},
    )
    assert csv_addresses == json_addresses == ["scan[n=1,theta=0.5]", "scan[n=2,theta=1.5]"]


def test_points_file_errors_are_located_in_the_file(write: Callable[..., Path]) -> None:
    with pytest.raises(qplan.ManifestError) as info:
        load_sweep(write, "points_file: pts.csv", **{"pts.csv": "theta,n\n0.5,1\n1.5\n"})
    (diag,) = info.value.diagnostics
    assert diag.file.endswith("pts.csv")
    assert diag.line == 3
    assert "1 cells where the header names 2" in diag.message


def test_points_file_larger_than_the_limit_is_refused(
    write: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from qplan.manifest import yamlsource

    monkeypatch.setattr(yamlsource, "MAX_FILE_BYTES", 1000)  # the manifest itself is smaller
    rows = "".join(f"{i / 100},{i}\n" for i in range(200))
    with pytest.raises(qplan.ManifestError) as info:
        load_sweep(write, "points_file: pts.csv", **{"pts.csv": "theta,n\n" + rows})
    (diag,) = info.value.diagnostics
    assert diag.file.endswith("pts.csv")
    assert diag.message.endswith(
        "bytes, larger than the 1,000 bytes qplan reads from a manifest, var file or points file"
    )


def test_points_must_bind_the_same_parameters(write: Callable[..., Path]) -> None:
    with pytest.raises(qplan.ManifestError, match="point 1 binds"):
        load_sweep(write, "points: [{theta: 1, n: 1}, {theta: 2}]")
