"""What the Braket job container does around a hybrid job's code: its folders, its data from
S3, its environment, its log sent to CloudWatch Logs, its outputs back to S3.

A job runs in a fresh temporary folder::

    source.tar.gz   the algorithm's source (scriptModeConfig.s3Uri; a plain file is packed)
    code/           where the launcher unpacks it (QPLAN_HYBRID_CODE_DIR)
    input/{channel}/ each input channel's objects (AMZN_BRAKET_INPUT_DIR)
    results/        AMZN_BRAKET_JOB_RESULTS_DIR, archived to {s3Path}/output/model.tar.gz
    checkpoints/    AMZN_BRAKET_CHECKPOINT_DIR, from and back to checkpointConfig.s3Uri
    hyperparameters.json, failure.txt

A channel's ``s3Uri`` is a prefix: when every object under it lies in the "folder" it names,
that folder's contents go to ``input/{channel}/``; otherwise the objects it matches go there
under their names relative to its parent (as the SDK's local jobs download them). The process
is ``python -m qplan.providers.hybrid_launcher`` in its own session (so a cancel kills its
whole process group), stdout and stderr piped into one log.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.emulators.braket.hybrid import JobRequest, parse_s3_uri
from tests.emulators.braket.storage import boto_client

__all__ = ["LOG_GROUP", "JobCloud", "LogForwarder", "Workspace", "kill_group", "start_process"]

LOG_GROUP = "/aws/braket/jobs"
_MAX_EVENTS = 1000  # per PutLogEvents (the service takes 10,000 or 1 MB)


class JobCloud:
    """S3 and CloudWatch Logs (moto's server in tests) for the jobs of one emulator."""

    def __init__(self, endpoint_url: str, *, region: str, credentials: tuple[str, str]) -> None:
        self.s3: Any = boto_client("s3", endpoint_url, region, credentials, connections=10)
        self.logs: Any = boto_client("logs", endpoint_url, region, credentials, connections=10)
        self._lock = threading.Lock()
        self._groups: set[str] = set()

    def close(self) -> None:
        self.s3.close()
        self.logs.close()

    # --- S3 -----------------------------------------------------------------------------------

    def keys(self, bucket: str, prefix: str) -> list[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        return [
            item["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]

    def download(self, bucket: str, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.s3.download_file(bucket, key, str(path))

    def download_prefix(self, uri: str, into: Path) -> int:
        """The objects under ``uri`` into the folder (see the module doc); how many."""
        bucket, prefix = parse_s3_uri(uri)
        keys = [k for k in self.keys(bucket, prefix) if not k.endswith("/")]
        folder = prefix.rstrip("/")
        inside = bool(folder) and all(k.startswith(folder + "/") for k in keys)
        top = folder if inside else folder.rpartition("/")[0]
        for key in keys:
            relative = key[len(top) :].lstrip("/") if top else key
            self.download(bucket, key, into / relative)
        return len(keys)

    def upload(self, body: bytes, uri: str) -> None:
        bucket, key = parse_s3_uri(uri)
        self.s3.put_object(Bucket=bucket, Key=key, Body=body)

    def upload_folder(self, folder: Path, uri: str) -> None:
        bucket, prefix = parse_s3_uri(uri)
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                key = f"{prefix.rstrip('/')}/{path.relative_to(folder).as_posix()}"
                self.s3.upload_file(str(path), bucket, key.lstrip("/"))

    # --- CloudWatch Logs ----------------------------------------------------------------------

    def create_stream(self, group: str, stream: str) -> None:
        """The group (once) and the stream."""
        with self._lock:
            known = group in self._groups
        if not known:
            with contextlib.suppress(self.logs.exceptions.ResourceAlreadyExistsException):
                self.logs.create_log_group(logGroupName=group)
            with self._lock:
                self._groups.add(group)
        self.logs.create_log_stream(logGroupName=group, logStreamName=stream)

    def put(self, group: str, stream: str, events: list[dict[str, Any]]) -> None:
        for start in range(0, len(events), _MAX_EVENTS):
            self.logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                logEvents=events[start : start + _MAX_EVENTS],
            )


class LogForwarder:
    """Lines of a job's output: kept (``sink``) at once, sent to the stream on ``flush``."""

    def __init__(self, cloud: JobCloud | None, stream: str, sink: Callable[[str], None]) -> None:
        self._cloud = cloud
        self._stream = stream
        self._sink = sink
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []
        self._last_ms = 0
        self._send_lock = threading.Lock()
        if cloud is not None:
            cloud.create_stream(LOG_GROUP, stream)

    def add(self, line: str) -> None:
        self._sink(line)
        with self._lock:
            moment = max(self._last_ms, time.time_ns() // 1_000_000)
            self._last_ms = moment
            self._pending.append({"timestamp": moment, "message": line})

    def flush(self) -> None:
        """Send what came since the last flush (in order: one flush at a time)."""
        with self._send_lock:
            with self._lock:
                events, self._pending = self._pending, []
            if events and self._cloud is not None:
                self._cloud.put(LOG_GROUP, self._stream, events)

    def pump(self, pipe: io.BufferedReader) -> threading.Thread:
        """Read the pipe line by line on a thread until it closes (then close it)."""

        def read() -> None:
            with pipe:
                for raw in iter(pipe.readline, b""):
                    self.add(raw.decode("utf-8", "replace").rstrip("\r\n"))

        thread = threading.Thread(target=read, name="braket-job-log", daemon=True)
        thread.start()
        return thread


@dataclass(frozen=True)
class Workspace:
    """The folders of one job run (see the module doc)."""

    root: Path

    @property
    def source(self) -> Path:
        return self.root / "source.tar.gz"

    @property
    def code(self) -> Path:
        return self.root / "code"

    @property
    def input(self) -> Path:
        return self.root / "input"

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def hyperparameters(self) -> Path:
        return self.root / "hyperparameters.json"

    @property
    def failure(self) -> Path:
        return self.root / "failure.txt"

    def prepare(self, cloud: JobCloud, request: JobRequest) -> None:
        """Source, input channels, checkpoints and hyperparameters in place. Raises
        RuntimeError (the job's failure reason) when something is missing."""
        for folder in (self.code, self.input, self.results, self.checkpoints):
            folder.mkdir(parents=True, exist_ok=True)
        bucket, key = parse_s3_uri(request.source_uri)
        try:
            if request.compression == "GZIP":
                cloud.download(bucket, key, self.source)
            else:  # one file: packed under its own name, as the SDK packs a file
                plain = self.root / "plain" / Path(key).name
                cloud.download(bucket, key, plain)
                with tarfile.open(self.source, "w:gz") as tar:
                    tar.add(plain, arcname=plain.name)
        except Exception as exc:
            raise RuntimeError(
                f"Could not download the source from {request.source_uri}: {exc}"
            ) from None
        for channel in request.channels:
            if cloud.download_prefix(channel.s3_uri, self.input / channel.name) == 0:
                raise RuntimeError(f"No data found for channel '{channel.name}'")
        if request.checkpoint_uri is not None:
            cloud.download_prefix(request.checkpoint_uri.rstrip("/") + "/", self.checkpoints)
        self.hyperparameters.write_text(json.dumps(request.hyperparameters), encoding="utf-8")

    def environment(
        self, request: JobRequest, token: str, sdk: Mapping[str, str | None]
    ) -> dict[str, str]:
        """The process's environment: this one without AWS or job variables, then ``sdk``
        (endpoints, credentials, region), then the job's variables."""
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AWS_", "AMZN_BRAKET_", "BRAKET_", "QPLAN_HYBRID_"))
        }
        env.update({name: value for name, value in sdk.items() if value is not None})
        bucket, _ = parse_s3_uri(request.output_path)
        env.update(
            {
                "AMZN_BRAKET_JOB_NAME": request.name,
                "AMZN_BRAKET_DEVICE_ARN": request.device,
                "AMZN_BRAKET_HP_FILE": str(self.hyperparameters),
                "AMZN_BRAKET_INPUT_DIR": str(self.input),
                "AMZN_BRAKET_JOB_RESULTS_DIR": str(self.results),
                "AMZN_BRAKET_CHECKPOINT_DIR": str(self.checkpoints),
                "AMZN_BRAKET_OUT_S3_BUCKET": bucket,
                "AMZN_BRAKET_TASK_RESULTS_S3_URI": f"s3://{bucket}/jobs/{request.name}/tasks",
                "AMZN_BRAKET_JOB_TOKEN": token,
                "AMZN_BRAKET_SCRIPT_ENTRY_POINT": request.entry_point,
                "AMZN_BRAKET_SCRIPT_S3_URI": request.source_uri,
                "QPLAN_HYBRID_SOURCE": str(self.source),
                "QPLAN_HYBRID_CODE_DIR": str(self.code),
                "QPLAN_HYBRID_FAILURE_FILE": str(self.failure),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def failure_reason(self, exit_code: int) -> str:
        """The launcher's reason, else the exit status."""
        with contextlib.suppress(OSError):
            text = self.failure.read_text(encoding="utf-8").strip()
            if text:
                return text
        if exit_code < 0:
            return f"The job was killed by signal {-exit_code}"
        return f"The job exited with status {exit_code}"

    def collect(self, cloud: JobCloud, request: JobRequest) -> None:
        """Results to ``{s3Path}/output/model.tar.gz``, checkpoints back to their URI."""
        from qplan.providers.hybrid import output_archive

        cloud.upload(output_archive(self.results), f"{request.output_path}/output/model.tar.gz")
        if request.checkpoint_uri is not None:
            cloud.upload_folder(self.checkpoints, request.checkpoint_uri)


def start_process(workspace: Workspace, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """The launcher in its own session, in the workspace, output piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "qplan.providers.hybrid_launcher"],
        cwd=workspace.root,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill_group(process: subprocess.Popen[bytes], *, reaped_too: bool = False) -> None:
    """SIGKILL the process's group (its session), unless the process was already reaped
    (``reaped_too``: even then, for what it left behind in its group, just after its end)."""
    if process.returncode is not None and not reaped_too:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
