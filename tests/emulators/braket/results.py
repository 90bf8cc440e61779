"""What a task run writes under its directory ``s3://{bucket}/{outputS3KeyPrefix}/{taskId}/``.

- A single program: ``results.json``, a ``GateModelTaskResult``
  (``braket.task_result.gate_model_task_result`` v1, ``taskMetadata.id`` = the task ARN,
  ``deviceId`` = the device ARN, ``simulatorMetadata.executionDuration``). A failed one
  writes nothing.
- A program set, in the files the SDK's ``ProgramSetQuantumTaskResult`` reads (paths inside a
  program are relative to the program's directory)::

    results.json                       ProgramSetTaskResult (s3Location = [bucket, directory])
    metadata.json                      ProgramSetTaskMetadata
    programs/{p}/results.json          ProgramResult
    programs/{p}/program.json          the Program, with its list inputs
    programs/{p}/executables/{k}.json  ProgramSetExecutableResult or ...Failure

  A failing executable (injected: retryable, category DEVICE; a simulation error: not
  retryable, COMPILATION) does not fail the task; a task failed as a whole still writes its
  results, every executable failed, as the SDK reads results of FAILED program sets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.braket.programs import executable_inputs
from tests.emulators.braket.protocol import iso, now_ms
from tests.emulators.braket.tasks import Task
from tests.emulators.kit.simulators import run_openqasm

__all__ = ["Interrupted", "Results", "program_result", "program_set_results"]

# (the executable's inputs) -> why it fails, or None: it runs
ExecutableFault = Callable[[Mapping[str, Any]], str | None]


class Interrupted(Exception):
    """The task left RUNNING (a cancel) between two executables of its program set."""


@dataclass
class Results:
    """The objects of a run (relative path -> body, in write order, ``results.json`` last)
    and the number of shots that succeeded."""

    objects: dict[str, bytes] = field(default_factory=dict)
    successful_shots: int = 0


def _json_default(value: Any) -> Any:
    """JSON for what the local simulators put in results: numpy arrays and complex numbers
    (written as ``[re, im]``, which ``GateModelQuantumTaskResult.cast_result_types`` reads)."""
    import numpy as np
    from pydantic.v1.json import pydantic_encoder

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, complex | np.complexfloating):
        return [float(value.real), float(value.imag)]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return pydantic_encoder(value)


def _to_json(document: Any) -> bytes:
    """A result document (a ``BraketSchemaBase``) as written to S3."""
    return str(document.json(exclude_none=True, encoder=_json_default)).encode()


def _simulator_parameters(text: str | None) -> Any:
    """The request's ``deviceParameters`` as ``GateModelSimulatorDeviceParameters`` (for the
    result's task metadata), or None if absent or in another schema."""
    from braket.device_schema.simulators import GateModelSimulatorDeviceParameters

    if not text:
        return None
    try:
        return GateModelSimulatorDeviceParameters.parse_raw(text)
    except Exception:
        return None


def _additional_metadata(program: Any, duration_ms: int) -> Any:
    from braket.task_result import AdditionalMetadata, SimulatorMetadata

    return AdditionalMetadata(
        action=program, simulatorMetadata=SimulatorMetadata(executionDuration=duration_ms)
    )


def _executable_failure(index: int, reason: str, *, retryable: bool, category: str) -> Any:
    from braket.task_result import ProgramSetExecutableFailure
    from braket.task_result.program_set_executable_failure_v1 import (
        ProgramSetExecutableFailureMetadata,
    )

    metadata = ProgramSetExecutableFailureMetadata(
        failureReason=reason, retryable=retryable, category=category
    )
    return ProgramSetExecutableFailure(inputsIndex=index, failureMetadata=metadata)


def program_result(task: Task) -> bytes:
    """``results.json`` of a single program: a ``GateModelTaskResult``."""
    from braket.task_result import TaskMetadata

    source, inputs = task.action.programs[0]
    result, program, duration_ms = run_openqasm(
        source, inputs, task.shots, simulator=task.device.simulator
    )
    result.taskMetadata = TaskMetadata(
        id=task.arn,
        shots=task.shots,
        deviceId=task.device.arn,
        deviceParameters=_simulator_parameters(task.request.device_parameters),
        createdAt=iso(task.created_ms),
        endedAt=iso(now_ms()),
        status="COMPLETED",
    )
    result.additionalMetadata = _additional_metadata(program, duration_ms)
    return _to_json(result)


@dataclass(frozen=True)
class _ExecutableRun:
    document: Any  # ProgramSetExecutableResult or ProgramSetExecutableFailure
    metadata: Any  # its entry of ProgramMetadata.executables
    duration_ms: int = 0
    failed: bool = False


def _run_executable(
    task: Task, source: str, inputs: Mapping[str, Any], index: int, shots: int, failure: str | None
) -> _ExecutableRun:
    """Run one executable (``failure``: it fails with this reason, as a retryable DEVICE
    failure); a simulation error fails it as a COMPILATION failure not worth a retry."""
    from braket.task_result import ProgramSetExecutableResult
    from braket.task_result.program_set_executable_result_v1 import (
        ProgramSetExecutableResultMetadata,
    )

    if failure is not None:
        document = _executable_failure(index, failure, retryable=True, category="DEVICE")
        return _ExecutableRun(document, document.failureMetadata, failed=True)
    try:
        result, _program, duration_ms = run_openqasm(
            source, inputs, shots, simulator=task.device.simulator
        )
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        document = _executable_failure(index, reason, retryable=False, category="COMPILATION")
        return _ExecutableRun(document, document.failureMetadata, failed=True)
    document = ProgramSetExecutableResult(
        inputsIndex=index,
        measurements=result.measurements,
        measurementProbabilities=result.measurementProbabilities,
        measuredQubits=result.measuredQubits,
    )
    return _ExecutableRun(document, ProgramSetExecutableResultMetadata(), duration_ms)


def program_set_results(
    task: Task,
    failure: str | None,
    *,
    executable_fault: ExecutableFault,
    interrupted: Callable[[], str | None],
) -> Results:
    """Run the executables of a program set and build its files (see the module doc).
    ``failure``: the task fails as a whole, every executable with this reason;
    ``executable_fault(inputs)``: the injected failure of one executable, if any;
    ``interrupted()``: why the run must stop before the next executable (raises
    ``Interrupted``), or None."""
    from braket.ir.openqasm import Program
    from braket.task_result import ProgramResult, ProgramSetTaskMetadata, ProgramSetTaskResult
    from braket.task_result.program_set_task_metadata_v1 import ProgramMetadata

    shots = task.shots // task.action.executable_count
    results = Results()
    program_paths: list[str] = []
    program_metadata: list[Any] = []
    failed = 0
    for index, (source, inputs) in enumerate(task.action.programs):
        directory = f"programs/{index}"
        executable_paths: list[str] = []
        executables: list[Any] = []
        duration_ms = 0
        for k, values in enumerate(executable_inputs(inputs)):
            reason = interrupted()
            if reason is not None:
                raise Interrupted(reason)
            fault = failure if failure is not None else executable_fault(values)
            run = _run_executable(task, source, values, k, shots, fault)
            path = f"executables/{k}.json"
            results.objects[f"{directory}/{path}"] = _to_json(run.document)
            executable_paths.append(path)
            executables.append(run.metadata)
            failed += run.failed
            duration_ms += run.duration_ms
        program = Program(source=source, inputs=inputs or None)
        results.objects[f"{directory}/program.json"] = _to_json(program)
        results.objects[f"{directory}/results.json"] = _to_json(
            ProgramResult(
                source="program.json",
                executableResults=executable_paths,
                additionalMetadata=_additional_metadata(program, duration_ms),
            )
        )
        program_paths.append(f"{directory}/results.json")
        program_metadata.append(ProgramMetadata(executables=executables))
    results.successful_shots = shots * (task.action.executable_count - failed)
    results.objects["metadata.json"] = _to_json(
        ProgramSetTaskMetadata(
            id=task.arn,
            deviceId=task.device.arn,
            requestedShots=task.shots,
            successfulShots=results.successful_shots,
            programMetadata=program_metadata,
            deviceParameters=_simulator_parameters(task.request.device_parameters),
            createdAt=iso(task.created_ms),
            endedAt=iso(now_ms()),
            status="COMPLETED" if failure is None else "FAILED",
            totalFailedExecutables=failed,
        )
    )
    results.objects["results.json"] = _to_json(
        ProgramSetTaskResult(
            programResults=program_paths,
            taskMetadata="metadata.json",
            s3Location=(task.bucket, task.directory),
        )
    )
    return results
