"""Pulser sequences checked against the device of their target, by Pulser itself.

For each job whose target is given a device (``TargetDevice``), and whose program is a
Pulser sequence, this runs what Pulser runs before a sequence is sent, and reports what it
refuses as a located problem, before anything is sent:

1. once per program and target: the sequence replayed on the device
   (``Sequence.with_new_device``, not strict): its register or layout against the device
   (atom count, distances, layout filling), its channels (a match of each by type, basis
   and addressing), and every operation that does not depend on a variable (amplitude,
   detuning, durations); for a QPU also ``validate_sequence(mimic_qpu=True)`` (a real
   device, a register from a layout, a calibrated layout where the device takes no new
   one), and the job's shots against the device's ``max_runs``. A refusal here is the
   job's, at ``jobs.NAME.target`` (or ``shots``).
2. per instance, only what its point changes: the sequence built with the point's
   variables (once per distinct set of values: a pulse over the channel's limits, a
   duration out of bounds), and a mappable register's mapping built into a register and
   validated by the device (once per distinct mapping). When a target's qubit depends on
   a variable, each instance is built whole. A refusal here is the instance's, at its
   sweep entry when one holds it, else at ``jobs.NAME.target``, with its address.

Pulser is imported here, on first use: a stack without Pulser jobs on such targets never
imports it. Pulser's warnings are silenced: its refusals are errors, its advice is not.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from qplan.errors import Diagnostic
from qplan.manifest.params import format_value
from qplan.manifest.resolve import Job, Stack
from qplan.manifest.yamlsource import PathPart

__all__ = ["TargetDevice", "check_sequences", "device_name"]

SHOWN = 5
"""Instances of one job reported by address; the others are counted in one more line."""


@dataclass(frozen=True)
class TargetDevice:
    """What the Pulser jobs of one target are checked against.

    ``device``: a Pulser device (a ``BaseDevice``); None checks each sequence against the
    device it declares itself (what any emulator needs at the least). ``qpu``: the target
    is a QPU, whose rules Pulser adds (see the module). ``label``: how messages name the
    device and where its specifications came from.
    """

    device: Any | None
    qpu: bool = False
    label: str = ""


def device_name(device: Any) -> str:
    """A Pulser device's name, for messages."""
    return str(getattr(device, "name", "") or type(device).__name__)


def check_sequences(
    stack: Stack, devices: Mapping[str, TargetDevice], *, shown: int = SHOWN
) -> list[Diagnostic]:
    """The problems of every Pulser job of ``stack`` whose target (``provider/device``) is
    in ``devices``: empty when the devices run every instance."""
    jobs = [
        job
        for job in stack.jobs.values()
        if str(job.target) in devices and job.program.format == "pulser"
    ]
    if not jobs:
        return []
    problems: list[Diagnostic] = []
    checker = _Checker(stack, shown)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for job in jobs:
            problems.extend(checker.job(job, devices[str(job.target)]))
    return problems


def _reason(exc: BaseException) -> str:
    """Pulser's message, with the cause it chained (``switch_device`` says only which part
    failed), on one line."""
    parts = [str(exc).strip() or type(exc).__name__]
    cause = exc.__cause__
    if cause is not None and str(cause).strip() and str(cause).strip() not in parts[0]:
        parts.append(str(cause).strip())
    text = ": ".join(part.rstrip(".") for part in parts)
    return " ".join(text.split())


class _Checker:
    def __init__(self, stack: Stack, shown: int) -> None:
        self.stack = stack
        self.shown = shown
        self.loaded: dict[str, Any] = {}  # program name -> Sequence, or the error text
        self.placed: dict[tuple[str, str], Any] = {}  # (program, target) -> same

    def _load(self, job: Job) -> Any:
        name = job.program.name
        if name not in self.loaded:
            from pulser import Sequence

            text = job.program.text
            try:
                self.loaded[name] = Sequence.from_abstract_repr(
                    text.decode() if isinstance(text, bytes) else text
                )
            except Exception as exc:  # Pulser raises many kinds: its message is the point
                self.loaded[name] = _Refused(_reason(exc))
        return self.loaded[name]

    def _place(self, job: Job, rules: TargetDevice) -> Any:
        key = (job.program.name, str(job.target))
        if key not in self.placed:
            sequence = self._load(job)
            if not isinstance(sequence, _Refused):
                try:
                    sequence = _on_device(sequence, rules)
                except Exception as exc:
                    sequence = _Refused(_reason(exc))
            self.placed[key] = sequence
        return self.placed[key]

    def job(self, job: Job, rules: TargetDevice) -> list[Diagnostic]:
        base: list[PathPart] = ["jobs", job.name]
        on = f"{job.target} ({rules.label})" if rules.label else str(job.target)
        sequence = self._place(job, rules)
        if isinstance(sequence, _Refused):
            message = f"{on} cannot run program {job.program.name}: {sequence.reason}"
            return [self.stack.diagnostic([*base, "target"], message)]
        problems: list[Diagnostic] = []
        max_runs = getattr(sequence.device, "max_runs", None) if rules.qpu else None
        if max_runs is not None and job.shots > max_runs:
            problems.append(
                self.stack.diagnostic(
                    [*base, "shots"],
                    f"{job.shots} shots is more than {on} runs per job ({max_runs})",
                )
            )
        failed = 0
        for index, address, reason in self._instances(job, sequence):
            failed += 1
            if failed <= self.shown:
                problems.append(
                    self.stack.diagnostic(
                        _point_path(job, index), f"{address} cannot run on {on}: {reason}"
                    )
                )
        if failed > self.shown:
            problems.append(
                self.stack.diagnostic(
                    [*base, "target"],
                    f"... and {failed - self.shown} more instances of {job.name} that {on} "
                    "cannot run",
                )
            )
        return problems

    def _instances(self, job: Job, sequence: Any) -> Iterator[tuple[int, str, str]]:
        """``(index, address, reason)`` of each instance the device refuses."""
        mappable = sequence.is_register_mappable()
        if not (sequence.is_parametrized() or mappable):
            return
        qubits = job.program.parameters.get("qubits")
        whole = bool(qubits is not None and qubits.targets and qubits.targets.variable)
        built: dict[str, bool] = {}  # variables' values -> built without a refusal
        registers: dict[str, str | None] = {}  # mapping -> refusal of its register
        for index, instance in enumerate(job.instances()):
            values = dict(instance.inputs)
            mapping = values.pop("qubits", None) if mappable else None
            key = format_value(values)
            if whole or not built.get(key, False):
                reason = _build(sequence, values, mapping)
                built[key] = built.get(key, False) or reason is None
                if mapping is not None and reason is None:
                    registers[format_value(mapping)] = None
            else:  # the pulses passed with these values: only the register is new
                mapped = format_value(mapping)
                if mapped not in registers:
                    registers[mapped] = _register(sequence, mapping)
                reason = registers[mapped]
            if reason is not None:
                yield index, instance.address, reason


@dataclass(frozen=True)
class _Refused:
    reason: str


def _on_device(sequence: Any, rules: TargetDevice) -> Any:
    """The sequence replayed on the target's device, with a QPU's rules when it is one."""
    placed = sequence
    if rules.device is not None and sequence.device != rules.device:
        placed = sequence.with_new_device(rules.device, strict=False)
    if rules.qpu:
        from pulser.backend.qpu import QPUBackend

        QPUBackend.validate_sequence(placed, mimic_qpu=True)
    return placed


def _build(sequence: Any, values: Mapping[str, Any], mapping: Any) -> str | None:
    try:
        if mapping is None:
            sequence.build(**values)
        else:
            sequence.build(qubits=mapping, **values)
    except Exception as exc:
        return _reason(exc)
    return None


def _register(sequence: Any, mapping: Any) -> str | None:
    """What the device says of the register a mapping builds (as ``build`` would)."""
    try:
        register = sequence.get_register(include_mappable=True).build_register(mapping)
        sequence.device.validate_register(register)
    except Exception as exc:
        return _reason(exc)
    return None


def _point_path(job: Job, index: int) -> list[PathPart]:
    """Where instance ``index`` of ``job`` is written: its sweep entry when one holds it
    alone (a point, or the item of a one-axis grid or of a zip), else the job's target."""
    base: list[PathPart] = ["jobs", job.name]
    spec = job.spec.sweep
    if spec is None or job.sweep is None:
        return [*base, "target"]
    if spec.points is not None:
        return [*base, "sweep", "points", index]
    if spec.points_file is not None:
        return [*base, "sweep", "points_file"]
    axes = spec.grid if spec.grid is not None else spec.zip
    kind = "grid" if spec.grid is not None else "zip"
    if axes is None or (kind == "grid" and len(axes) != 1):
        return [*base, "target"]
    name, axis = next(iter(axes.items()))
    if isinstance(axis, list):
        return [*base, "sweep", kind, name, index]
    return [*base, "sweep", kind, name]
