"""Where a plan's device checks take their devices from: the service's specifications
(fetched once, then kept in the state for a day), or offline a stand-in the plan names.
The provider is a stand-in that counts its calls; the sequences are checked by Pulser."""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import qplan
from qplan.cli.views.plan import render_plan
from qplan.errors import ManifestError, QplanError
from qplan.operations import LoadOptions, plan
from qplan.operations.devices import SPECS_MAX_AGE, check_devices
from qplan.planner import SpecsSource, to_document
from qplan.providers import TransientError
from qplan.state import SqliteStore

NOW = 1_750_000_000.0


@functools.cache
def fresnel_specs(max_amp: float | None = None) -> str:
    """What the service would publish for FRESNEL: Pulser's AnalogDevice, renamed."""
    from pulser.devices import AnalogDevice

    device = dataclasses.replace(AnalogDevice, name="Fresnel")
    if max_amp is not None:
        channel = dataclasses.replace(device.channels["rydberg_global"], max_amp=max_amp)
        device = dataclasses.replace(device, channel_objects=(channel,), channel_ids=None)
    return str(device.to_abstract_repr())


@functools.cache
def sequence() -> str:
    """Three atoms from a layout's traps under a global pulse of amplitude ``omega``."""
    from pulser import Pulse, Sequence
    from pulser.devices import AnalogDevice
    from pulser.register.register_layout import RegisterLayout

    coords = [(6.0 * i, 6.0 * row) for row in range(2) for i in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seq = Sequence(RegisterLayout(coords).define_register(0, 1, 2), AnalogDevice)
        seq.declare_channel("g", "rydberg_global")
        omega = seq.declare_variable("omega")
        seq.add(Pulse.ConstantPulse(500, omega, 0.0, 0.0), "g")
        seq.measure("ground-rydberg")
        return str(seq.to_abstract_repr())


MANIFEST = """\
version: 1
stack: dev
providers:
  pq: {{type: pasqal, project_id: p}}
programs:
  seq: {{format: pulser, path: seq.json}}
jobs:
  qpu:
    target: pq/FRESNEL
    program: seq
    shots: 100
    sweep:
      points:
        - {{omega: 1}}
        - {{omega: {omega}}}
  emu:
    target: pq/EMU_FREE
    program: seq
    shots: 100
    inputs: {{omega: 1}}
"""


class Service:
    """A provider stand-in: publishes ``specs`` (or raises ``error``), counts the calls."""

    def __init__(self, specs: dict[str, str] | None = None, error: Exception | None = None):
        self.specs = specs or {}
        self.error = error
        self.calls = 0
        self.closed = 0

    def make(self, name: str, config: Any) -> Service:
        assert name == "pq" and config.type == "pasqal"
        return self

    def device_specs(self) -> dict[str, str]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return dict(self.specs)

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def manifest(write: Callable[..., Path]) -> Callable[[float], Path]:
    def make(omega: float = 2.0) -> Path:
        return write(MANIFEST.format(omega=omega), **{"seq.json": sequence()})

    return make


def test_specs_are_fetched_once_then_kept_for_a_day(
    manifest: Callable[[float], Path], tmp_path: Path
) -> None:
    stack = qplan.load(manifest(2.0))
    store = SqliteStore(tmp_path / "state.db")
    service = Service({"FRESNEL": fresnel_specs(), "EMU_FREE": fresnel_specs()})
    first = check_devices(stack, store, now=NOW, make=service.make)
    assert service.calls == 1 and service.closed == 1
    assert [(c.target, c.source, c.device) for c in first] == [
        ("pq/EMU_FREE", SpecsSource.SERVICE, "Fresnel"),
        ("pq/FRESNEL", SpecsSource.SERVICE, "Fresnel"),
    ]
    assert sorted(store.device_specs("pq")) == ["EMU_FREE", "FRESNEL"]
    later = check_devices(stack, store, now=NOW + 3600, make=service.make)
    assert service.calls == 1  # the second plan asked nothing: the state kept them
    assert {(c.source, c.fetched_at) for c in later} == {(SpecsSource.CACHE, NOW)}
    check_devices(stack, store, now=NOW + 3600, make=service.make, refresh=True)
    assert service.calls == 2
    check_devices(stack, store, now=NOW + 3600 + SPECS_MAX_AGE, make=service.make)
    assert service.calls == 3  # a day old: asked again


def test_a_device_that_refuses_an_instance_fails_the_plan_with_a_located_error(
    manifest: Callable[[float], Path], tmp_path: Path
) -> None:
    stack = qplan.load(manifest(2.0))
    store = SqliteStore(tmp_path / "state.db")
    service = Service({"FRESNEL": fresnel_specs(max_amp=1.5)})
    with pytest.raises(ManifestError) as info:
        check_devices(stack, store, now=NOW, make=service.make)
    (problem,) = info.value.diagnostics
    assert (problem.line, problem.column, problem.path) == (15, 11, "jobs.qpu.sweep.points[1]")
    assert problem.message == (
        "qpu[omega=2.0] cannot run on pq/FRESNEL (Fresnel as published on 2025-06-15): The "
        "pulse's amplitude goes over the maximum value allowed for the chosen channel"
    )


def test_offline_with_nothing_kept_falls_back_and_says_so(
    manifest: Callable[[float], Path], tmp_path: Path
) -> None:
    stack = qplan.load(manifest(2.0))
    store = SqliteStore(tmp_path / "state.db")
    offline = Service(error=QplanError("no Pasqal Cloud credentials: set PASQAL_TOKEN"))
    checks = check_devices(stack, store, now=NOW, make=offline.make)
    assert [(c.target, c.source, c.device, c.note) for c in checks] == [
        ("pq/EMU_FREE", SpecsSource.SEQUENCE, "", "no Pasqal Cloud credentials: set PASQAL_TOKEN"),
        (
            "pq/FRESNEL",
            SpecsSource.PULSER,
            "AnalogDevice",
            "no Pasqal Cloud credentials: set PASQAL_TOKEN",
        ),
    ]
    # AnalogDevice stands in for Fresnel: its limits still apply (4π rad/µs)
    with pytest.raises(ManifestError, match=r"pq/FRESNEL \(Pulser's AnalogDevice, offline\)"):
        check_devices(qplan.load(manifest(20.0)), store, now=NOW, make=offline.make)


def test_a_network_error_uses_what_the_state_kept_however_old(
    manifest: Callable[[float], Path], tmp_path: Path
) -> None:
    stack = qplan.load(manifest(2.0))
    store = SqliteStore(tmp_path / "state.db")
    store.put_device_specs("pq", {"FRESNEL": fresnel_specs()}, NOW - 10 * SPECS_MAX_AGE)
    down = Service(error=TransientError("Pasqal Cloud: connection refused"))
    checks = {c.target: c for c in check_devices(stack, store, now=NOW, make=down.make)}
    assert down.calls == 1
    kept = checks["pq/FRESNEL"]
    assert (kept.source, kept.device, kept.fetched_at) == (
        SpecsSource.CACHE,
        "Fresnel",
        NOW - 10 * SPECS_MAX_AGE,
    )
    assert kept.note == "its service could not be asked: Pasqal Cloud: connection refused"
    assert checks["pq/EMU_FREE"].source is SpecsSource.SEQUENCE  # none kept for it


def test_unreadable_specs_fall_back_to_the_stand_in(
    manifest: Callable[[float], Path], tmp_path: Path
) -> None:
    stack = qplan.load(manifest(2.0))
    service = Service({"FRESNEL": '{"not": "a device"}'})
    checks = check_devices(stack, SqliteStore(tmp_path / "s.db"), now=NOW, make=service.make)
    fresnel = next(c for c in checks if c.target == "pq/FRESNEL")
    assert fresnel.source is SpecsSource.PULSER
    assert fresnel.note.startswith("its published specifications cannot be read: ")
    emu = next(c for c in checks if c.target == "pq/EMU_FREE")
    assert emu.note == "its service publishes no specifications of EMU_FREE"


def test_a_stack_without_pasqal_pulser_jobs_asks_nothing(
    write: Callable[..., Path], tmp_path: Path
) -> None:
    text = (
        "version: 1\nstack: q\nprograms:\n  ry: {format: openqasm3, source: 'OPENQASM 3.0;'}\n"
        "jobs:\n  a: {target: local/braket_sv, program: ry, shots: 1}\n"
    )
    service = Service()
    assert (
        check_devices(qplan.load(write(text)), SqliteStore(tmp_path / "s.db"), make=service.make)
        == []
    )
    assert service.calls == 0


def test_the_plan_says_which_device_each_target_was_checked_against(
    manifest: Callable[[float], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the real provider, without credentials: offline, and the plan says so
    for name in ("PASQAL_TOKEN", "PASQAL_USERNAME", "PASQAL_PASSWORD", "PASQAL_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    path = manifest(2.0)
    result = plan(str(path), LoadOptions())
    lines = list(render_plan(to_document(result), verbose=False, state_location="x"))
    at = lines.index("Pulser sequences checked against:")
    assert lines[at + 1].startswith(
        "  pq/EMU_FREE  each sequence's own device, for want of the service's specifications ("
    )
    assert lines[at + 2].startswith(
        "  pq/FRESNEL   Pulser's AnalogDevice, standing in for the service's specifications ("
    )
    assert lines[-2].startswith("Plan: 3 to create")
    assert lines[-1].startswith("Estimated cost: ")  # the tally, then the cost
    assert not (path.parent / ".qplan").exists()  # planning still creates no state


def test_plans_without_pulser_jobs_on_pasqal_never_import_pulser(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from tests.conftest import copy_example

    folder = copy_example("quickstart", tmp_path / "q")
    code = (
        "import sys, json\n"
        "from qplan.cli.main import main\n"
        "for args in (['validate', 'qplan.yaml'], ['plan', 'qplan.yaml']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=folder
    )
    modules = json.loads(out.stdout.splitlines()[-1])
    assert [m for m in modules if m.split(".")[0] in ("pulser", "pasqal_cloud")] == []


def test_apply_checks_the_devices_before_it_sends_anything(
    manifest: Callable[[float], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from qplan.executor import Options
    from qplan.operations import apply, status

    for name in ("PASQAL_TOKEN", "PASQAL_USERNAME", "PASQAL_PASSWORD", "PASQAL_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    path = manifest(20.0)  # above AnalogDevice's amplitude, which stands in for Fresnel
    with pytest.raises(ManifestError, match=r"jobs\.qpu\.sweep\.points\[1\]: qpu\[omega=20\.0\]"):
        apply(str(path), LoadOptions(), Options(no_wait=True))
    _, rows, lock = status(str(path), LoadOptions())
    assert rows == [] and lock is None
