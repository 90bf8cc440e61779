"""Amazon Braket, through amazon-braket-sdk's ``AwsSession`` (boto3 underneath).

Exactly once on a service whose SDK never sends a clientToken:

- each submission calls ``AwsSession.create_quantum_task`` directly with ``clientToken`` =
  the idempotency key (48 hex characters, within the 64 allowed) and tags naming the stack,
  the address, the fingerprint, the attempt and the key;
- botocore's own retries are off, so a timeout or a 5xx after sending reaches the executor
  as *ambiguous*: it is then looked up, never blindly resent;
- lookup by key: ``SearchQuantumTasks`` cannot filter on tags, so tasks created since the
  intent (``createdAt`` window, 100 per page) are listed and matched on the ``qplan-key`` tag.

Observation is in bulk: one ``SearchQuantumTasks`` per device and per 100 tasks of the
window, never one ``GetQuantumTask`` per task. Hybrid jobs (``braket.hybrid``, job ARNs):
``braket_jobs``. Results are read from S3 (``results.json``)
and parsed by the SDK's ``GateModelQuantumTaskResult``. Credentials come from the standard
AWS chain only; endpoints from ``AWS_ENDPOINT_URL_BRAKET`` / ``AWS_ENDPOINT_URL_S3``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import math
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qplan.addresses import parse_address
from qplan.jobstatus import JobStatus, from_provider
from qplan.manifest.models import BraketProvider as BraketConfig
from qplan.providers.base import (
    AmbiguousError,
    Capabilities,
    Dispatch,
    Observation,
    PermanentError,
    Provider,
    Receipt,
    TransientError,
)

__all__ = ["DEVICE_ARNS", "BraketTaskProvider", "device_arn"]

DEVICE_ARNS = {
    "sv1": "arn:aws:braket:::device/quantum-simulator/amazon/sv1",
    "dm1": "arn:aws:braket:::device/quantum-simulator/amazon/dm1",
    "tn1": "arn:aws:braket:::device/quantum-simulator/amazon/tn1",
    "ionq/aria-1": "arn:aws:braket:us-east-1::device/qpu/ionq/Aria-1",
    "ionq/forte-1": "arn:aws:braket:us-east-1::device/qpu/ionq/Forte-1",
    "ionq/forte-enterprise-1": "arn:aws:braket:us-east-1::device/qpu/ionq/Forte-Enterprise-1",
    "iqm/garnet": "arn:aws:braket:eu-north-1::device/qpu/iqm/Garnet",
    "iqm/emerald": "arn:aws:braket:eu-north-1::device/qpu/iqm/Emerald",
    "rigetti/ankaa-3": "arn:aws:braket:us-west-1::device/qpu/rigetti/Ankaa-3",
    "quera/aquila": "arn:aws:braket:us-east-1::device/qpu/quera/Aquila",
}
_TRANSIENT = {"ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"}
_PERMANENT = {
    "ValidationException",
    "DeviceOfflineException",
    "DeviceRetiredException",
    "ServiceQuotaExceededException",
    "AccessDeniedException",
    "ResourceNotFoundException",
    "ConflictException",
}
_TAG_UNSAFE = re.compile(r"[^\w.:/=+\-@ ]")
PROGRAM_SET_ACTION = "braket.ir.openqasm.program_set"
PROGRAM_HEADER = {"name": "braket.ir.openqasm.program", "version": "1"}
PAGE = 100  # summaries per SearchQuantumTasks call
ARNS_PER_SEARCH = 10  # task ARNs one SearchQuantumTasks filter takes
CACHED_SETS = 1024  # ProgramSet results kept for their members (more than one poll finishes)
IN_FLIGHT_STATUSES = ("CREATED", "QUEUED", "RUNNING", "CANCELLING")
FINAL_STATUSES = ("COMPLETED", "FAILED", "CANCELLED")
LOOKBACK = 600.0  # seconds before an intent in which its task may have been created
CLOCK_SKEW = 5.0  # seconds the service's createdAt may precede this machine's clock


def device_arn(device: str) -> str:
    return DEVICE_ARNS.get(device, device)


def _tag(value: str) -> str:
    """A tag value Braket accepts: letters, digits, spaces and _ . : / = + - @ only."""
    return _TAG_UNSAFE.sub("_", value)[:256]


# one executable of a ProgramSet task: (counts, measured qubits, result path) or why it failed
_Executable = tuple[dict[str, int], list[int], str] | str


def _billed(arn: str, task: _Task, execution_ms: Any) -> dict[str, Any]:
    """What the service bills a task by: its ARN (members of one program set share it:
    a sum counts each task once), the shots it records (a set's: all its executables'),
    and on a simulator the execution time it reports, in milliseconds."""
    billed: dict[str, Any] = {"task": arn, "shots": int(task.shots or 0)}
    if isinstance(execution_ms, int | float) and not isinstance(execution_ms, bool):
        billed["execution_ms"] = execution_ms
    return billed


def _arn_filters(arns: Sequence[str]) -> list[dict[str, Any]]:
    """Filters naming ``arns``, as many per filter as one search takes."""
    chunks = (arns[i : i + ARNS_PER_SEARCH] for i in range(0, len(arns), ARNS_PER_SEARCH))
    return [{"name": "quantumTaskArn", "operator": "EQUAL", "values": list(c)} for c in chunks]


def _status_filter(statuses: Sequence[str]) -> dict[str, Any]:
    return {"name": "status", "operator": "EQUAL", "values": list(statuses)}


def _check_format(dispatch: Dispatch) -> None:
    if dispatch.format != "openqasm3" or not isinstance(dispatch.program, str):
        where = dispatch.members[0].address
        raise PermanentError(f"{where}: Braket runs openqasm3 here, not {dispatch.format}")


def member_id(arn: str, index: int) -> str:
    """The job id of the ``index``-th executable of a ProgramSet task."""
    return f"{arn}#{index}"


def split_id(job_id: str) -> tuple[str, int | None]:
    """``(task ARN, executable index)``; the index is None for a task of its own."""
    base, sep, index = job_id.rpartition("#")
    if sep and index.isdigit():
        return base, int(index)
    return job_id, None


def _receipt(arn: str, members: int | None) -> Receipt:
    if members is None:
        return Receipt(arn, (arn,))
    return Receipt(arn, tuple(member_id(arn, i) for i in range(members)))


def _epoch(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value)


@dataclass
class _Task:
    """What this process knows of a task. ``created``: the service's createdAt once a
    summary showed it, else this machine's clock at submission (``margin`` then allows for
    the clocks' skew)."""

    device: str
    created: float
    bucket: str = ""
    directory: str = ""
    margin: float = 0.0
    shots: int | None = None  # as the service records it: every executable's of a set


def search_all(
    search: Callable[..., Mapping[str, Any]], filters: list[dict[str, Any]], field: str
) -> list[dict[str, Any]]:
    """Every summary a Search* call gives for ``filters`` (``field`` of its answers), 100 a
    page. The SDK's errors go through as they are."""
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"filters": filters, "maxResults": PAGE}
        if token:
            kwargs["nextToken"] = token
        page = search(**kwargs)
        found.extend(page.get(field, []))
        token = page.get("nextToken")
        if not token:
            return found


class BraketTaskProvider(Provider):
    def __init__(self, name: str, config: BraketConfig, *, clock: Any = time.time) -> None:
        import boto3
        from botocore.config import Config
        from braket.aws import AwsSession

        self.name = name
        self.config = config
        self.clock = clock
        self.capabilities = Capabilities(
            submit_rate=18.0,  # below the documented CreateQuantumTask quota (20/s, burst 40)
            submit_burst=36,
            submit_concurrency=8,
            max_in_flight=1000,  # observing them costs one search call per 100 per poll
            max_observe=1000,
            durable_jobs=True,
            poll_interval=2.0,
        )
        boto_session = boto3.Session(region_name=config.region)
        no_retries = Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=60)
        self.session = AwsSession(boto_session=boto_session, config=no_retries)
        self.client = self.session.braket_client
        self._tasks: dict[str, _Task] = {}
        self._sets: OrderedDict[str, list[_Executable]] = OrderedDict()
        self._reading: dict[str, threading.Lock] = {}
        self._s3: Any = None
        self._set_limits: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        from qplan.providers.braket_jobs import BraketJobs  # it builds on this module

        self.jobs = BraketJobs(self.session, config, errors=self._map, clock=clock)
        self.hybrid_jobs = self.jobs

    # --- errors ---------------------------------------------------------------------------

    def _map(self, exc: Exception, address: str, *, submitting: bool) -> Exception:
        from botocore.exceptions import (
            ClientError,
            ConnectionClosedError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        where = f"{address}: " if address else ""
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            message = f"{where}Braket {code}: {error.get('Message', '')}".rstrip(": ")
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code in _TRANSIENT or status == 429:
                return TransientError(message)
            if code in _PERMANENT or 400 <= status < 500:
                return PermanentError(message)
            return AmbiguousError(message) if submitting else TransientError(message)
        if isinstance(exc, EndpointConnectionError):
            return TransientError(f"{where}Braket unreachable: {exc}")  # nothing was sent
        if isinstance(exc, ReadTimeoutError | ConnectionClosedError):
            return (
                AmbiguousError(f"{where}no answer from Braket: {exc}")
                if submitting
                else TransientError(str(exc))
            )
        return (
            AmbiguousError(f"{where}{type(exc).__name__}: {exc}")
            if submitting
            else TransientError(str(exc))
        )

    # --- the protocol -----------------------------------------------------------------------

    def submit(self, dispatch: Dispatch) -> Receipt:
        """One task: a program and its inputs, or for a native batch a ProgramSet task (the
        members' shared program with list-valued inputs, one executable per member in
        order; ``shots`` is the total over the executables). A hybrid job: CreateJob."""
        if dispatch.format == "braket.hybrid":
            return self.jobs.submit(dispatch, device_arn(dispatch.device))
        _check_format(dispatch)
        if not dispatch.batch:
            member = dispatch.members[0]
            action: dict[str, Any] = {
                "braketSchemaHeader": PROGRAM_HEADER,
                "source": dispatch.program,
                "inputs": dict(member.inputs),
            }
            tags = {
                "qplan-address": _tag(member.address),
                "qplan-fingerprint": member.fingerprint,
            }
            arn = self._create(dispatch, action, dispatch.shots, tags)
            return _receipt(arn, None)
        members = dispatch.members
        names = set(members[0].inputs)
        for member in members:
            if set(member.inputs) != names:
                raise PermanentError(f"{member.address}: a native batch runs one program")
        action = {
            "braketSchemaHeader": {"name": PROGRAM_SET_ACTION, "version": "1"},
            "programs": [
                {
                    "braketSchemaHeader": PROGRAM_HEADER,
                    "source": dispatch.program,
                    "inputs": {name: [m.inputs[name] for m in members] for name in names},
                }
            ],
        }
        job = parse_address(members[0].address).name
        tags = {
            "qplan-address": _tag(f"{job}[{len(members)} points]"),
            "qplan-members": str(len(members)),
        }
        arn = self._create(dispatch, action, dispatch.shots * len(members), tags)
        return _receipt(arn, len(members))

    def batch_limit(self, device: str, format: str, shots: int) -> int:
        """Executables per ProgramSet task on ``device``, from its capabilities (1: the
        device runs no program sets)."""
        if format != "openqasm3":
            return 1
        arn = device_arn(device)
        with self._lock:
            limits = self._set_limits.get(arn)
        if limits is None:
            try:
                document = self.client.get_device(deviceArn=arn)
            except Exception as exc:
                raise self._map(exc, "", submitting=False) from None
            actions = json.loads(document.get("deviceCapabilities") or "{}").get("action", {})
            properties = actions.get(PROGRAM_SET_ACTION) or {}
            limits = (
                int(properties.get("maximumExecutables", 1)),
                int(properties.get("maximumTotalShots", 0)),
            )
            with self._lock:
                self._set_limits[arn] = limits
        executables, total_shots = limits
        if total_shots:
            executables = min(executables, total_shots // max(shots, 1))
        return max(1, executables)

    def _create(
        self, dispatch: Dispatch, action: dict[str, Any], shots: int, own_tags: dict[str, str]
    ) -> str:
        key = dispatch.key
        tags = {k: _tag(str(v)) for k, v in dispatch.tags.items()}
        tags.update(own_tags)
        tags.update(
            {
                "qplan-stack": _tag(dispatch.stack),
                "qplan-attempt": str(dispatch.attempt),
                "qplan-key": key,
            }
        )
        arn_device = device_arn(dispatch.device)
        request: dict[str, Any] = {
            "clientToken": key[:64],
            "deviceArn": arn_device,
            "outputS3Bucket": self.config.s3_bucket,
            "outputS3KeyPrefix": f"{self.config.s3_prefix}/{dispatch.stack}",
            "shots": shots,
            "action": json.dumps(action),
            "tags": tags,
        }
        reservation = dispatch.settings.get("reservation_arn")
        if reservation:
            request["associations"] = [{"arn": reservation, "type": "RESERVATION_TIME_WINDOW_ARN"}]
        created = self.clock()
        try:
            arn = self.session.create_quantum_task(**request)
        except Exception as exc:
            raise self._map(exc, dispatch.members[0].address, submitting=True) from None
        with self._lock:
            self._tasks[arn] = _Task(arn_device, created, margin=CLOCK_SKEW)
        return str(arn)

    def _search(self, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            found = search_all(self.client.search_quantum_tasks, filters, "quantumTasks")
        except Exception as exc:
            raise self._map(exc, "", submitting=False) from None
        for summary in found:
            self._remember(summary)
        return found

    def _remember(self, summary: dict[str, Any]) -> _Task:
        """Keep what a task summary (or GetQuantumTask) says of where and when it is."""
        task = _Task(
            summary["deviceArn"],
            _epoch(summary["createdAt"]),
            summary.get("outputS3Bucket", ""),
            summary.get("outputS3Directory", ""),
            shots=summary.get("shots"),
        )
        with self._lock:
            self._tasks[summary["quantumTaskArn"]] = task
        return task

    @staticmethod
    def _since(epoch: float, *, up: bool = False) -> str:
        """A createdAt filter value, in whole seconds: rounded down, or ``up``."""
        second = math.ceil(epoch) if up else math.floor(epoch)
        return dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def lookup(self, keys: Sequence[str], since: float | None = None) -> dict[str, Receipt]:
        """Tasks by their tags, then hybrid jobs (``BraketJobs.lookup``) for the keys not
        found; keys this process sent as jobs are not searched among tasks."""
        tasks = [key for key in keys if not self.jobs.made(key)]
        found = self._lookup_tasks(tasks, since) if tasks else {}
        rest = [key for key in keys if key not in found]
        return {**found, **self.jobs.lookup(rest, since)} if rest else found

    def _lookup_tasks(self, keys: Sequence[str], since: float | None) -> dict[str, Receipt]:
        wanted = set(keys)
        start = (since if since is not None else self.clock() - 86400.0) - LOOKBACK
        found: dict[str, Receipt] = {}
        for summary in self._search([self._created(">=", start)]):
            tags = summary.get("tags", {})
            if tags.get("qplan-key") in wanted:
                members = tags.get("qplan-members")
                found[tags["qplan-key"]] = _receipt(
                    summary["quantumTaskArn"], int(members) if members else None
                )
        return found

    def observe(self, job_ids: Sequence[str]) -> dict[str, Observation]:
        """Statuses of tasks, and of members of ProgramSet tasks (``arn#k``): a member of a
        completed task succeeded unless its executable failed. Hybrid jobs: their own."""
        out = self.jobs.observe([j for j in job_ids if self.jobs.owns(j)])
        job_ids = [j for j in job_ids if not self.jobs.owns(j)]
        bases = list(dict.fromkeys(split_id(job_id)[0] for job_id in job_ids))
        statuses = self._statuses(bases)
        reasons: dict[str, str | None] = {}  # one GetQuantumTask per failed task
        for job_id in job_ids:
            arn, index = split_id(job_id)
            raw = statuses.get(arn)
            if raw is None:
                continue  # not listed yet (eventual consistency): next poll
            status = from_provider("braket", raw)
            error = None
            if status is JobStatus.FAILED:
                if arn not in reasons:
                    reasons[arn] = self._failure_reason(arn)
                error = reasons[arn]
                if error is None:
                    continue  # its reason cannot be read now: next poll
            elif status is JobStatus.SUCCEEDED and index is not None:
                try:
                    outcome = self._executables(arn)[index]
                except TransientError:
                    continue  # results not readable yet: next poll
                except PermanentError:
                    pass  # succeeded as a task: reading its result says what is wrong
                except IndexError:
                    status, error = JobStatus.FAILED, f"no executable {index} in {arn}"
                else:
                    if isinstance(outcome, str):
                        status, error = JobStatus.FAILED, outcome
            out[job_id] = Observation(job_id, status, error)
        return out

    def _statuses(self, arns: list[str]) -> dict[str, str]:
        for by_arn in _arn_filters([a for a in arns if a not in self._tasks]):
            self._search([by_arn])  # tasks of an earlier process: their device and creation
        by_device: dict[str, list[str]] = {}
        for arn in arns:
            task = self._tasks.get(arn)
            if task is not None:
                by_device.setdefault(task.device, []).append(arn)
        statuses: dict[str, str] = {}
        for device, group in by_device.items():
            statuses.update(self._device_statuses(device, group))
        return statuses

    def _device_statuses(self, device: str, arns: list[str]) -> dict[str, str]:
        """One device's watched tasks, in as few pages of 100 summaries as this process's
        knowledge of the device's tasks allows:

        - when the window from the oldest watched task takes no more pages than the watched
          tasks themselves, list it;
        - else (an old task still runs among many finished since): list the window's tasks
          still in flight (status filter), then the watched ones that have just finished,
          by a window around them or by ARN (10 per call), whichever takes fewer calls.
          That costs at most the same pages, and one page when none has just finished.
        Anything still missing (a clock far off, or lag) is asked by ARN."""
        created = sorted(t.created for t in self._tasks.values() if t.device == device)
        low_of = {a: self._tasks[a].created - self._tasks[a].margin for a in arns}
        high_of = {a: self._tasks[a].created + self._tasks[a].margin for a in arns}
        on_device = {"name": "deviceArn", "operator": "EQUAL", "values": [device]}
        start = min(low_of.values())
        wanted = set(arns)
        statuses: dict[str, str] = {}

        def take(filters: list[dict[str, Any]]) -> None:
            for summary in self._search([on_device, *filters]):
                if summary["quantumTaskArn"] in wanted:
                    statuses[summary["quantumTaskArn"]] = summary["status"]

        window = len(created) - bisect.bisect_left(created, start)
        if -(-window // PAGE) <= -(-len(arns) // PAGE):  # listing all costs no extra page
            take([self._created(">=", start)])
        else:
            take([self._created(">=", start), _status_filter(IN_FLIGHT_STATUSES)])
            done = [a for a in arns if a not in statuses]
            if done:
                low = min(low_of[a] for a in done)
                high = max(high_of[a] for a in done)
                between = bisect.bisect_right(created, high) - bisect.bisect_left(created, low)
                if -(-between // PAGE) <= -(-len(done) // ARNS_PER_SEARCH):  # fewer calls
                    take([self._created("between", low, high), _status_filter(FINAL_STATUSES)])
        for by_arn in _arn_filters([a for a in arns if a not in statuses]):
            take([by_arn])
        return statuses

    def _created(self, op: str, *epochs: float) -> dict[str, Any]:
        operator = {">=": "GTE", "between": "BETWEEN"}[op]
        values = [self._since(e, up=i > 0) for i, e in enumerate(epochs)]
        return {"name": "createdAt", "operator": operator, "values": values}

    def _failure_reason(self, arn: str) -> str | None:
        """Why a task failed, from GetQuantumTask; None when that call failed for now (the
        task is observed again next poll, instead of failing with no reason)."""
        try:
            task = self.client.get_quantum_task(quantumTaskArn=arn)
        except Exception as exc:
            mapped = self._map(exc, "", submitting=False)
            if isinstance(mapped, TransientError):
                return None
            return f"failed (reason unavailable: {exc})"
        return str(task.get("failureReason") or "failed")

    def _location(self, arn: str) -> _Task:
        task = self._tasks.get(arn)
        if task is None or not task.directory or task.shots is None:
            try:
                meta = self.client.get_quantum_task(quantumTaskArn=arn)
            except Exception as exc:
                raise self._map(exc, "", submitting=False) from None
            task = self._remember({**meta, "quantumTaskArn": arn})
        return task

    def _read(self, bucket: str, key: str) -> str:
        """One S3 object, through one client shared by every read of this provider."""
        with self._lock:
            if self._s3 is None:
                self._s3 = self.session.boto_session.client("s3", region_name=self.config.region)
            s3 = self._s3
        try:
            return str(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8"))
        except Exception as exc:
            raise self._map(exc, "", submitting=False) from None

    def result(self, job_id: str) -> dict[str, Any]:
        from braket.tasks import GateModelQuantumTaskResult

        if self.jobs.owns(job_id):
            return self.jobs.result(job_id)
        arn, index = split_id(job_id)
        task = self._location(arn)
        location = f"s3://{task.bucket}/{task.directory}"
        if index is not None:
            outcome = self._executables(arn)[index]
            if isinstance(outcome, str):
                raise PermanentError(f"{job_id}: {outcome}")
            counts, qubits, key = outcome
            raw = {"measured_qubits": qubits, "task": arn, "executable": index}
            return {
                "counts": counts,
                "raw": {**raw, "results": f"s3://{task.bucket}/{key}"},
                "billed": _billed(arn, task, None),
            }
        parsed = GateModelQuantumTaskResult.from_string(
            self._read(task.bucket, f"{task.directory}/results.json")
        )
        counts = {str(k): int(v) for k, v in sorted(parsed.measurement_counts.items())}
        simulator = getattr(parsed.additional_metadata, "simulatorMetadata", None)
        return {
            "counts": counts,
            "raw": {
                "measured_qubits": list(parsed.measured_qubits),
                "task": job_id,
                "results": f"{location}/results.json",
            },
            "billed": _billed(arn, task, getattr(simulator, "executionDuration", None)),
        }

    def _executables(self, arn: str) -> list[_Executable]:
        """The outcomes of a completed ProgramSet task, in executable order (program by
        program, then by input index), read once from S3 and kept for its members: the
        members read at once wait for one read (a lock per task)."""
        with self._lock:
            reading = self._reading.setdefault(arn, threading.Lock())
        with reading:
            with self._lock:
                cached = self._sets.get(arn)
                if cached is not None:
                    self._sets.move_to_end(arn)
                    return cached
            try:
                outcomes = self._read_program_set(arn)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise PermanentError(f"{arn}: program set results unreadable: {exc}") from None
            with self._lock:
                self._sets[arn] = outcomes
                while len(self._sets) > CACHED_SETS:
                    self._reading.pop(self._sets.popitem(last=False)[0], None)
        return outcomes

    def _read_program_set(self, arn: str) -> list[_Executable]:
        from concurrent.futures import ThreadPoolExecutor

        from braket.schema_common import BraketSchemaBase

        task = self._location(arn)
        document = BraketSchemaBase.parse_raw_schema(
            self._read(task.bucket, f"{task.directory}/results.json")
        )
        bucket, prefix = document.s3Location or (task.bucket, task.directory)

        def load(item: Any, folder: str = prefix) -> Any:
            """A schema object, or the object at a path relative to ``folder``."""
            if isinstance(item, str):
                return BraketSchemaBase.parse_raw_schema(self._read(bucket, f"{folder}/{item}"))
            return item

        # a program's executables are named relative to the program's own folder
        folders = [
            f"{prefix}/{item.rpartition('/')[0]}".rstrip("/") if isinstance(item, str) else prefix
            for item in document.programResults
        ]
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="qplan-s3") as pool:
            programs = list(pool.map(load, document.programResults))
            entries = [
                list(pool.map(load, p.executableResults, [folder] * len(p.executableResults)))
                for p, folder in zip(programs, folders, strict=True)
            ]
        shots = 0
        outcomes: list[_Executable] = []
        for program, folder, executables in zip(programs, folders, entries, strict=True):
            paths = program.executableResults
            ordered = sorted(zip(executables, paths, strict=True), key=lambda e: e[0].inputsIndex)
            for executable, path in ordered:
                failure = getattr(executable, "failureMetadata", None)
                if failure is not None:
                    outcomes.append(f"executable failed: {failure.failureReason}")
                    continue
                if executable.measurements:
                    counts = Counter("".join(map(str, shot)) for shot in executable.measurements)
                else:
                    shots = shots or self._shots_per_executable(document, load)
                    probabilities = executable.measurementProbabilities or {}
                    counts = Counter({k: round(p * shots) for k, p in probabilities.items()})
                where = f"{folder}/{path}" if isinstance(path, str) else f"{prefix}/results.json"
                qubits = list(executable.measuredQubits or [])
                outcomes.append(({k: int(counts[k]) for k in sorted(counts)}, qubits, where))
        return outcomes

    @staticmethod
    def _shots_per_executable(document: Any, load: Any) -> int:
        metadata = load(document.taskMetadata)
        count = sum(len(p.executables) for p in metadata.programMetadata)
        return int(metadata.requestedShots) // max(count, 1)

    def cancel(self, job_ids: Sequence[str]) -> None:
        from botocore.exceptions import ClientError

        self.jobs.cancel([j for j in job_ids if self.jobs.owns(j)])
        job_ids = [j for j in job_ids if not self.jobs.owns(j)]
        for arn in dict.fromkeys(split_id(job_id)[0] for job_id in job_ids):
            try:
                self.session.cancel_quantum_task(arn)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ConflictException":
                    continue  # already final: nothing to cancel
                raise self._map(exc, "", submitting=False) from None
