"""What a quantum task runs: its ``action``, validated as the service does.

- ``braket.ir.openqasm.program`` v1: ``source`` (parsed by the OpenQASM 3 parser) and
  ``inputs`` (an object); every device advertises it.
- ``braket.ir.openqasm.program_set`` v1 (advertised by SV1 and DM1 with
  ``maximumExecutables`` and ``maximumTotalShots``; TN1 answers ValidationException): the
  action is validated by the SDK's ``ProgramSet`` model (every input value a list, the lists of
  a program equally long) and each source by the parser. Program ``p`` with list inputs runs one
  executable per input index ``k`` (inputs ``values[k]``), a program without inputs one
  executable. ``shots`` is the total: a positive multiple of the executable count, at most
  ``maximumTotalShots``, each executable running ``shots // executables`` (within the device's
  shots range). An invalid program set adds the modeled ``reason``
  (``ProgramSetValidationFailed``) and ``programSetValidationFailures`` (``programIndex``,
  ``errors``) when the fault lies in one program.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.emulators.braket.devices import (
    OPENQASM_ACTION,
    PROGRAM_SET_ACTION,
    PROGRAM_SET_MAX_EXECUTABLES,
    PROGRAM_SET_MAX_TOTAL_SHOTS,
    DeviceSpec,
)
from tests.emulators.braket.protocol import validation
from tests.emulators.kit import ApiError
from tests.emulators.kit.simulators import openqasm_error

__all__ = ["Action", "check_shots", "executable_inputs", "parse_action"]


def executable_inputs(inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The inputs of each executable of a program-set program, whose inputs are equally long
    lists (one item per executable); a program without inputs is one executable."""
    if not inputs:
        return [{}]
    count = len(next(iter(inputs.values())))
    return [{name: values[k] for name, values in inputs.items()} for k in range(count)]


@dataclass(frozen=True)
class Action:
    """What a task runs: one OpenQASM program, or the programs of a program set, each as
    ``(source, inputs)`` (in a program set every input value is a list)."""

    action_type: str
    programs: tuple[tuple[str, dict[str, Any]], ...]

    @property
    def program_set(self) -> bool:
        return self.action_type == PROGRAM_SET_ACTION

    @property
    def executable_count(self) -> int:
        if not self.program_set:
            return 1
        return sum(len(executable_inputs(inputs)) for _source, inputs in self.programs)

    def metadata(self) -> dict[str, Any]:
        """``actionMetadata`` of GetQuantumTask (the counts for program sets only)."""
        if not self.program_set:
            return {"actionType": self.action_type}
        return {
            "actionType": self.action_type,
            "programCount": len(self.programs),
            "executableCount": self.executable_count,
        }


def _program_set_error(failures: Mapping[int, list[str]], problems: list[str]) -> ApiError:
    """A ValidationException for an invalid program set; ``failures``: errors per program
    index, also returned as the modeled ``programSetValidationFailures`` member."""
    details: dict[str, Any] = {}
    if failures:
        details = {
            "reason": "ProgramSetValidationFailed",
            "programSetValidationFailures": [
                {"programIndex": index, "errors": errors}
                for index, errors in sorted(failures.items())
            ],
        }
    return validation(f"Invalid program set: {'; '.join(problems)}", details)


def _parse_program_set(action: Mapping[str, Any]) -> Action:
    from braket.ir.openqasm import ProgramSet
    from pydantic.v1 import ValidationError

    failures: dict[int, list[str]] = {}
    problems: list[str] = []

    def fail(location: tuple[Any, ...], message: str) -> None:
        problems.append(f"{'.'.join(map(str, location))}: {message}")
        if len(location) >= 2 and location[0] == "programs" and isinstance(location[1], int):
            failures.setdefault(location[1], []).append(message)

    try:
        program_set = ProgramSet.parse_obj(action)
    except ValidationError as exc:
        for problem in exc.errors():
            fail(tuple(problem["loc"]), str(problem["msg"]))
        raise _program_set_error(failures, problems) from None
    programs = tuple((p.source, dict(p.inputs or {})) for p in program_set.programs)
    for index, (source, inputs) in enumerate(programs):
        if not executable_inputs(inputs):
            fail(("programs", index), "the program has no executables (empty input lists)")
        parse_error = openqasm_error(source)
        if parse_error is not None:
            fail(("programs", index, "source"), f"Invalid OpenQASM program: {parse_error}")
    if problems:
        raise _program_set_error(failures, problems)
    return Action(PROGRAM_SET_ACTION, programs)


def parse_action(text: str, spec: DeviceSpec) -> Action:
    """The ``action`` member of CreateQuantumTask, for this device. Raises ValidationException."""
    try:
        action = json.loads(text)
    except ValueError:
        raise validation("'action' is not valid JSON") from None
    if not isinstance(action, dict):
        raise validation("'action' must be a JSON object")
    header = action.get("braketSchemaHeader")
    name = header.get("name") if isinstance(header, dict) else None
    if name == PROGRAM_SET_ACTION and name not in spec.actions:
        raise validation(
            f"Device {spec.name} ({spec.arn}) does not support program sets: it does not "
            f"advertise the action '{PROGRAM_SET_ACTION}'"
        )
    if name not in spec.actions:
        raise validation(
            f"Action type {name!r} is not supported by this device; supported: {list(spec.actions)}"
        )
    if name == PROGRAM_SET_ACTION:
        return _parse_program_set(action)
    source = action.get("source")
    if not isinstance(source, str) or not source.strip():
        raise validation("the OpenQASM program has no 'source'")
    inputs = action.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise validation("the OpenQASM program 'inputs' must be an object")
    error = openqasm_error(source)
    if error is not None:
        raise validation(f"Invalid OpenQASM program: {error}")
    return Action(OPENQASM_ACTION, ((source, dict(inputs)),))


def check_shots(spec: DeviceSpec, shots: int, action: Action) -> None:
    """``shots`` against the device's range; for a program set, the total over its
    executables. Raises ValidationException."""
    if not action.program_set:
        if not spec.shots_min <= shots <= spec.shots_max:
            raise validation(
                f"Number of shots {shots} is not within the shots range "
                f"[{spec.shots_min}, {spec.shots_max}] of device {spec.arn}"
            )
        return
    executables = action.executable_count
    if executables > PROGRAM_SET_MAX_EXECUTABLES:
        raise validation(
            f"The program set has {executables} executables; device {spec.name} accepts at "
            f"most {PROGRAM_SET_MAX_EXECUTABLES} (maximumExecutables)"
        )
    if shots <= 0 or shots % executables:
        raise validation(
            f"Number of shots {shots} is not a positive multiple of the {executables} "
            "executables of the program set ('shots' is the total over the executables)"
        )
    if shots > PROGRAM_SET_MAX_TOTAL_SHOTS:
        raise validation(
            f"Number of shots {shots} exceeds the maximum total shots "
            f"{PROGRAM_SET_MAX_TOTAL_SHOTS} of a program set on device {spec.name} "
            "(maximumTotalShots)"
        )
    if shots // executables > spec.shots_max:
        raise validation(
            f"{shots // executables} shots per executable are not within the shots range "
            f"[{spec.shots_min}, {spec.shots_max}] of device {spec.name}"
        )
