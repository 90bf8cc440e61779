"""Device checks before a plan: each Pulser job on a Pasqal target is checked against the
device its service publishes, so that a sequence the device cannot run is an error before
anything is sent.

Where a target's device comes from, in order:

1. the specifications kept in the state (table ``device_specs``), while younger than
   ``SPECS_MAX_AGE`` and unless a refresh is asked for: plans stay fast and work offline;
2. the service, through the provider's ``device_specs()``; what it returns replaces what
   the state kept for that provider (a plan that finds no state file keeps them for the
   run only: planning creates no state);
3. the state's specifications however old, when the service cannot be reached;
4. offline, nothing kept: Pulser's bundled ``AnalogDevice`` for Fresnel and its emulator
   (``BUNDLED``); for the other emulators, each sequence's own declared device (what any
   emulator needs at the least; their published specifications are looser or unknown).

A plan never fails because a service is out of reach (no credentials, no SDK, no network):
the plan says which source each target was checked against, and why. It fails, with
located errors, when a device refuses an instance (``manifest.pulser_devices``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Mapping
from importlib.util import find_spec

from qplan.errors import ManifestError, QplanError
from qplan.manifest import Stack
from qplan.manifest.models import ProviderConfig
from qplan.manifest.pulser_devices import TargetDevice, check_sequences, device_name
from qplan.planner import DeviceCheck, SpecsSource
from qplan.providers import Provider, make_provider
from qplan.state import DeviceSpecs, StateError, StateStore

__all__ = ["BUNDLED", "QPUS", "SPECS_MAX_AGE", "MakeProvider", "check_devices"]

SPECS_MAX_AGE = 24 * 3600.0
"""Seconds for which specifications kept in the state are used without asking the service."""

BUNDLED = {"FRESNEL": "AnalogDevice", "FRESNEL_CAN1": "AnalogDevice", "EMU_FRESNEL": "AnalogDevice"}
"""Pulser's bundled device that stands in for a Pasqal device type whose specifications
cannot be had. ``AnalogDevice`` is Pulser's model of Fresnel."""

QPUS = frozenset({"FRESNEL", "FRESNEL_CAN1"})
"""Pasqal device types that are QPUs: Pulser adds its QPU rules to their checks."""

MakeProvider = Callable[[str, ProviderConfig], Provider]


def check_devices(
    stack: Stack,
    store: StateStore,
    *,
    refresh: bool = False,
    now: float | None = None,
    make: MakeProvider | None = None,
) -> list[DeviceCheck]:
    """Check every Pulser job of ``stack`` on a Pasqal target against its device; returns
    what each target was checked against (empty when no job needs it: Pulser is then not
    imported). ``refresh``: ask the services even when the state keeps fresh specs;
    ``make``: how a provider is made (``make_provider``). Raises ManifestError with the
    located problems when a device cannot run an instance."""
    targets = sorted(
        {
            str(job.target): job.target
            for job in stack.jobs.values()
            if job.target.provider_type == "pasqal" and job.program.format == "pulser"
        }.values(),
        key=str,
    )
    if not targets:
        return []
    if find_spec("pulser") is None:
        note = "Pulser is not installed: pip install 'qplan[pasqal]'"
        return [DeviceCheck(str(t), SpecsSource.UNCHECKED, note=note) for t in targets]
    clock = time.time() if now is None else now
    by_provider: dict[str, list[str]] = {}
    for target in targets:
        by_provider.setdefault(target.provider, []).append(target.device)
    checks: list[DeviceCheck] = []
    rules: dict[str, TargetDevice] = {}
    for provider, devices in by_provider.items():
        specs, source, note = _specs(
            stack, store, provider, devices, refresh=refresh, now=clock, make=make
        )
        for device in devices:
            name = f"{provider}/{device}"
            rules[name], check = _choose(name, device, specs.get(device), source, note)
            checks.append(check)
    problems = check_sequences(stack, rules)
    if problems:
        raise ManifestError(problems)
    return checks


def _specs(
    stack: Stack,
    store: StateStore,
    provider: str,
    devices: list[str],
    *,
    refresh: bool,
    now: float,
    make: MakeProvider | None,
) -> tuple[Mapping[str, DeviceSpecs], SpecsSource, str]:
    """The specifications of ``provider``'s devices, where they came from, and why not
    from the service when they did not."""
    kept = store.device_specs(provider)
    fresh = all(d in kept and now - kept[d].fetched_at < SPECS_MAX_AGE for d in devices)
    if fresh and not refresh:
        return kept, SpecsSource.CACHE, ""
    try:
        made = (make or make_provider)(provider, stack.providers[provider])
        try:
            published = made.device_specs()
        finally:
            made.close()
    except (QplanError, ImportError) as exc:
        why = str(exc)
    except Exception as exc:  # a provider that maps not all it meets: still not a reason to fail
        why = f"{type(exc).__name__}: {exc}"
    else:
        if published:
            with contextlib.suppress(StateError):  # else kept for this run only
                store.put_device_specs(provider, published, now)
            return (
                {d: DeviceSpecs(provider, d, text, now) for d, text in published.items()},
                SpecsSource.SERVICE,
                "",
            )
        why = f"provider {provider} publishes no device specifications"
    if kept:
        return kept, SpecsSource.CACHE, f"its service could not be asked: {why}"
    return {}, SpecsSource.SEQUENCE, why


def _choose(
    target: str, device: str, specs: DeviceSpecs | None, source: SpecsSource, why: str
) -> tuple[TargetDevice, DeviceCheck]:
    """The device ``target`` is checked against, and the record that says which."""
    qpu = device in QPUS
    if specs is not None:
        from pulser.json.abstract_repr.deserializer import deserialize_device

        try:
            found = deserialize_device(specs.specs)
        except Exception as exc:  # specs newer than this Pulser reads, or damaged
            why = f"its published specifications cannot be read: {' '.join(str(exc).split())}"
        else:
            name = device_name(found)
            day = dt.datetime.fromtimestamp(specs.fetched_at, dt.UTC).strftime("%Y-%m-%d")
            return (
                TargetDevice(found, qpu, f"{name} as published on {day}"),
                DeviceCheck(target, source, name, specs.fetched_at, why),
            )
    elif not why:
        why = f"its service publishes no specifications of {device}"
    stand_in = BUNDLED.get(device)
    if stand_in is not None:
        import pulser.devices

        bundled = getattr(pulser.devices, stand_in)
        return (
            TargetDevice(bundled, qpu, f"Pulser's {stand_in}, offline"),
            DeviceCheck(target, SpecsSource.PULSER, stand_in, note=why),
        )
    return (
        TargetDevice(None, qpu, "the sequence's own device, offline"),
        DeviceCheck(target, SpecsSource.SEQUENCE, note=why),
    )
