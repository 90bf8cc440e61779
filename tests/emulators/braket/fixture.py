"""Pytest fixtures (and a context manager for scripts) running the Braket emulator with S3 and
STS served by moto's ``ThreadedMotoServer``, all on 127.0.0.1.

The root ``tests/conftest.py`` loads them (``pytest_plugins = ["tests.emulators.braket.fixture"]``);
then::

    def test_something(braket_emulator):
        braket_emulator.config.update(queue_time=0.1)
        braket_emulator.faults.throttle(operations=["CreateQuantumTask"], next=2)
        device = AwsDevice(braket_emulator.device_arn("sv1"))
        ...

    def test_a_job(braket_emulator, tmp_path):
        braket_emulator.config.update(job_queue_time=0.05, job_slots=1)
        job = AwsQuantumJob.create(device=braket_emulator.device_arn("sv1"),
                                   source_module=str(folder), entry_point="pkg.mod:main",
                                   role_arn="arn:aws:iam::123456789012:role/jobs",
                                   wait_until_complete=False)
        braket_emulator.emulator.wait_for_job_status(job.arn)

Servers start once per test run and always stop at its end: ``braket_moto_server`` (one moto
server for S3, STS and CloudWatch Logs; moto keeps its state in process-global backends anyway)
and ``braket_emulator_server`` (one emulator). ``braket_emulator`` (per test) resets the
emulator (no task, no hybrid job and no job process, no call, no fault rule, the initial
config), creates a fresh bucket, points the environment the SDKs read at the servers with
``monkeypatch`` (``environment.braket_env_vars``: ``AWS_ENDPOINT_URL_BRAKET`` and
``BRAKET_ENDPOINT`` at the emulator; ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL_STS`` and
``AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`` at moto; fake credentials, region us-east-1, no profile or
config files, no ``AMZN_BRAKET_*`` context) and yields a ``BraketEmulatorEnv``; afterwards it
resets the emulator again (so that nothing scheduled runs into the next test and every job
process is killed, even when the test failed) and deletes the bucket. Hybrid jobs' processes
get the same environment from the emulator, so that their SDK reaches this emulator and moto.

Outside pytest (benchmarks), ``braket_stack()`` starts its own emulator (and moto) as a
context manager.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.emulators.braket.admin import EmulatorAdmin
from tests.emulators.braket.config import EmulatorConfig
from tests.emulators.braket.devices import DEVICES
from tests.emulators.braket.emulator import BraketEmulator
from tests.emulators.braket.environment import (
    ACCOUNT_ID,
    FAKE_CREDENTIALS,
    REGION,
    braket_env_vars,
)
from tests.emulators.kit import CallLog, Fault, Faults
from tests.emulators.kit.environ import apply_with, patched_environ, set_environ

__all__ = [
    "BraketEmulatorEnv",
    "braket_emulator",
    "braket_emulator_server",
    "braket_env_vars",
    "braket_moto_server",
    "braket_stack",
    "start_moto",
    "stop_moto",
]


@functools.cache
def _session() -> Any:
    """One boto3 Session with the fake credentials for the helpers here (clients from a warm
    Session cost milliseconds; a new Session costs about 0.1 s). Main thread use only."""
    import boto3

    return boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )


def start_moto() -> tuple[Any, str]:
    """A ``ThreadedMotoServer`` on a free loopback port, started; returns (server, URL)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def stop_moto(server: Any) -> None:
    """Stop the moto server and close its listening socket."""
    server.stop()
    inner = getattr(server, "_server", None)
    if inner is not None:
        inner.server_close()


@dataclass
class BraketEmulatorEnv:
    """What the fixture yields: URLs, the bucket, and the emulator's config, fault rules and
    call record."""

    url: str
    s3_url: str
    bucket: str
    emulator: BraketEmulator
    region: str = REGION
    account_id: str = ACCOUNT_ID

    @property
    def config(self) -> EmulatorConfig:
        return self.emulator.config

    @property
    def faults(self) -> Faults:
        return self.emulator.faults

    @property
    def calls(self) -> CallLog:
        return self.emulator.calls

    @property
    def admin(self) -> EmulatorAdmin:
        return EmulatorAdmin(self.url)

    @staticmethod
    def device_arn(name: str = "sv1") -> str:
        """ARN of ``sv1``, ``dm1`` or ``tn1``."""
        arn = f"arn:aws:braket:::device/quantum-simulator/amazon/{name}"
        if arn not in DEVICES:
            raise KeyError(name)
        return arn

    def braket_client(self, *, retries: int | None = 1, **config: Any) -> Any:
        """A boto3 ``braket`` client on the emulator. ``retries`` = total attempts
        (1: botocore retries nothing; None: botocore's defaults, standard mode, 3 attempts)."""
        from botocore.config import Config

        if retries is not None:
            config.setdefault("retries", {"total_max_attempts": retries})
        return _session().client("braket", endpoint_url=self.url, config=Config(**config))

    def s3_client(self) -> Any:
        return _session().client("s3", endpoint_url=self.s3_url)

    def logs_client(self) -> Any:
        """CloudWatch Logs (moto), where the hybrid jobs' logs go."""
        return _session().client("logs", endpoint_url=self.s3_url)

    def aws_session(self, **config: Any) -> Any:
        """An ``AwsSession`` on the emulator (``config``: botocore ``Config`` arguments)."""
        from botocore.config import Config
        from braket.aws import AwsSession

        return AwsSession(boto_session=_session(), config=Config(**config) if config else None)


def _create_bucket(moto_url: str) -> str:
    bucket = f"qplan-emulator-{uuid.uuid4().hex[:12]}"
    s3 = _session().client("s3", endpoint_url=moto_url)
    try:
        s3.create_bucket(Bucket=bucket)
    finally:
        s3.close()
    return bucket


def _delete_bucket(moto_url: str, bucket: str) -> None:
    """Best effort: moto keeps every bucket of the session in memory otherwise."""
    s3 = _session().client("s3", endpoint_url=moto_url)
    try:
        for _ in range(1000):  # bounded: 1000 pages of 1000 keys
            listing = s3.list_objects_v2(Bucket=bucket)
            keys = [{"Key": o["Key"]} for o in listing.get("Contents", [])]
            if not keys:
                break
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        s3.delete_bucket(Bucket=bucket)
    except Exception:  # already gone or moto stopped: nothing to clean
        pass
    finally:
        s3.close()


def _emulator(moto_url: str, **kwargs: Any) -> BraketEmulator:
    return BraketEmulator(s3_endpoint_url=moto_url, region=REGION, account_id=ACCOUNT_ID, **kwargs)


@contextlib.contextmanager
def braket_stack(
    *,
    moto_url: str | None = None,
    set_env: bool = True,
    max_workers: int = 4,
    faults: Iterable[Fault] = (),
    **config: Any,
) -> Iterator[BraketEmulatorEnv]:
    """Moto (unless ``moto_url`` is given) + bucket + emulator, for scripts and benchmarks.
    ``faults``: rules the emulator starts with and returns to on ``reset()`` (e.g.
    ``[Fault.latency(0.2)]``); ``config``: ``EmulatorConfig`` fields. With ``set_env`` the
    process environment is changed for the duration (not thread-safe, like any change of
    ``os.environ``)."""
    with contextlib.ExitStack() as stack:
        if moto_url is None:
            moto, moto_url = start_moto()
            stack.callback(stop_moto, moto)
        emulator = _emulator(
            moto_url, config=EmulatorConfig(**config), faults=faults, max_workers=max_workers
        )
        if set_env:  # restored at the end; the Braket endpoints are set once it listens
            endpoints = {"AWS_ENDPOINT_URL_BRAKET": None, "BRAKET_ENDPOINT": None}
            stack.enter_context(patched_environ({**braket_env_vars(None, moto_url), **endpoints}))
        bucket = _create_bucket(moto_url)
        url = stack.enter_context(emulator).url
        if set_env:
            set_environ({"AWS_ENDPOINT_URL_BRAKET": url, "BRAKET_ENDPOINT": url})
        yield BraketEmulatorEnv(url=url, s3_url=moto_url, bucket=bucket, emulator=emulator)


@pytest.fixture(scope="session")
def braket_moto_server() -> Iterator[str]:
    """URL of one moto server (S3, STS, CloudWatch Logs) on 127.0.0.1 for the whole test run."""
    server, url = start_moto()
    try:
        yield url
    finally:
        stop_moto(server)


@pytest.fixture(scope="session")
def braket_emulator_server(braket_moto_server: str) -> Iterator[BraketEmulator]:
    """One Braket emulator for the whole test run, writing results to moto."""
    with _emulator(braket_moto_server) as emulator:
        yield emulator


@pytest.fixture
def braket_emulator(
    braket_emulator_server: BraketEmulator,
    braket_moto_server: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[BraketEmulatorEnv]:
    """The emulator, reset, with a fresh bucket and the SDK environment pointed at it."""
    emulator = braket_emulator_server
    emulator.reset()
    apply_with(monkeypatch, braket_env_vars(emulator.url, braket_moto_server))
    bucket = _create_bucket(braket_moto_server)
    try:
        yield BraketEmulatorEnv(
            url=emulator.url, s3_url=braket_moto_server, bucket=bucket, emulator=emulator
        )
    finally:
        emulator.reset()
        _delete_bucket(braket_moto_server, bucket)
