"""Where task results go: an S3 endpoint (moto's server in tests), or memory without one.

A task's objects are written under ``s3://{outputS3Bucket}/{outputS3KeyPrefix}/{taskId}/``
in order (``results.json`` last, so a reader that finds it finds the rest). CreateQuantumTask
checks the output bucket exists (HeadBucket) once per bucket, as the service refuses a bucket
the caller cannot write to.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from typing import Any

from tests.emulators.braket.protocol import validation

__all__ = ["ResultStore", "boto_client"]

_BOTO_LOCK = threading.Lock()


@functools.cache
def _boto_session() -> Any:
    """One boto3 Session for the emulators of the process: creating a client from a Session
    that has loaded the models costs milliseconds instead of about 0.1 s."""
    import boto3

    return boto3.session.Session()


def boto_client(
    service: str,
    endpoint_url: str,
    region: str,
    credentials: tuple[str, str],
    *,
    connections: int,
) -> Any:
    """A boto3 client of ``service`` at ``endpoint_url`` (standard retries, 3 attempts)."""
    from botocore.config import Config

    with _BOTO_LOCK:  # a boto3 Session is not thread-safe; its clients are
        return _boto_session().client(
            service,
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=credentials[0],
            aws_secret_access_key=credentials[1],
            config=Config(
                retries={"total_max_attempts": 3, "mode": "standard"},
                max_pool_connections=connections,
            ),
        )


class ResultStore:
    """S3 at ``endpoint_url`` (opened by ``open``, closed by ``close``), or memory if None."""

    def __init__(
        self,
        endpoint_url: str | None,
        *,
        region: str,
        credentials: tuple[str, str],
        connections: int,
    ) -> None:
        self._endpoint_url = endpoint_url
        self._region = region
        self._credentials = credentials
        self._connections = connections
        self._lock = threading.Lock()
        self._memory: dict[tuple[str, str], bytes] = {}  # (bucket, key) -> body
        self._known_buckets: set[str] = set()
        self._s3: Any = None

    def open(self) -> None:
        if not self._endpoint_url or self._s3 is not None:
            return
        self._s3 = boto_client(
            "s3",
            self._endpoint_url,
            self._region,
            self._credentials,
            connections=self._connections,
        )

    def close(self) -> None:
        if self._s3 is not None:
            self._s3.close()
            self._s3 = None

    def forget(self) -> None:
        """Drop what memory holds (S3 keeps its objects: the buckets belong to the tests)."""
        with self._lock:
            self._memory.clear()

    def check_bucket(self, bucket: str) -> None:
        """ValidationException if S3 has no such bucket (nothing to check in memory)."""
        with self._lock:
            known = bucket in self._known_buckets
        if self._s3 is None or known:
            return
        try:
            self._s3.head_bucket(Bucket=bucket)
        except Exception:
            raise validation(
                f"Caller doesn't have access to s3://{bucket} or it doesn't exist."
            ) from None
        with self._lock:
            self._known_buckets.add(bucket)

    def write(self, bucket: str, directory: str, objects: Mapping[str, bytes]) -> None:
        """Write the objects (relative path -> body) under the directory, in order."""
        if self._s3 is None:
            with self._lock:
                for path, body in objects.items():
                    self._memory[(bucket, f"{directory}/{path}")] = body
            return
        for path, body in objects.items():
            self._s3.put_object(
                Bucket=bucket, Key=f"{directory}/{path}", Body=body, ContentType="application/json"
            )

    def read(self, bucket: str, directory: str, path: str) -> str:
        """An object written under the directory; KeyError (memory) or the S3 client's
        ``ClientError`` (NoSuchKey) if there is none."""
        if self._s3 is None:
            with self._lock:
                body = self._memory.get((bucket, f"{directory}/{path}"))
            if body is None:
                raise KeyError(f"no object {path!r} under {directory}")
            return body.decode()
        answer = self._s3.get_object(Bucket=bucket, Key=f"{directory}/{path}")
        return str(answer["Body"].read().decode())
