"""Azurite, Microsoft's Azure Storage emulator (npm ``azurite``), for the blobs of the Azure
Quantum emulator: installed by the test run itself, started on a free loopback port,
always stopped.

``Azurite()`` is a context manager::

    with Azurite() as azurite:
        service = BlobServiceClient.from_connection_string(azurite.connection_string)

It installs the pinned version with ``npm`` into ``.cache/azurite`` at the repository root
(once; later runs reuse it), and runs only the blob service, in memory, with telemetry off.
``--skipApiVersionCheck`` is needed: azure-storage-blob sends storage API versions newer
than Azurite knows. The account is Azurite's well-known development account.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

__all__ = ["ACCOUNT", "ACCOUNT_KEY", "AZURITE_VERSION", "Azurite", "AzuriteUnavailable"]

AZURITE_VERSION = "3.37.0"
ACCOUNT = "devstoreaccount1"
# Azurite's published development key (not a secret: every Azurite has it)
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "azurite"
START_TIMEOUT = 60.0


class AzuriteUnavailable(RuntimeError):
    """Azurite could not be installed or started (no node or npm, no registry)."""


def install(cache: Path = CACHE) -> Path:
    """The ``azurite-blob`` executable, installed with npm into ``cache`` if not there yet."""
    binary = cache / "node_modules" / ".bin" / "azurite-blob"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise AzuriteUnavailable("Azurite needs node and npm on the PATH")
    cache.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            npm,
            "install",
            "--prefix",
            str(cache),
            "--no-audit",
            "--no-fund",
            "--silent",
            f"azurite@{AZURITE_VERSION}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0 or not binary.exists():
        raise AzuriteUnavailable(f"npm install azurite@{AZURITE_VERSION} failed: {done.stderr}")
    return binary


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Azurite:
    """Azurite's blob service on 127.0.0.1; ``blob_endpoint`` and ``connection_string``
    once started."""

    def __init__(self, cache: Path = CACHE) -> None:
        self.cache = cache
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def start(self) -> None:
        binary = install(self.cache)
        self.port = _free_port()
        command = [
            str(binary),
            "--blobHost", "127.0.0.1",
            "--blobPort", str(self.port),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--silent",
        ]  # fmt: skip
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
            start_new_session=True,  # a Ctrl-C at the terminal is the test run's to handle
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                error = self._process.stderr.read().decode() if self._process.stderr else ""
                self._process = None
                raise AzuriteUnavailable(f"Azurite exited at start: {error.strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AzuriteUnavailable(f"Azurite did not listen on port {self.port} in {START_TIMEOUT}s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()

    def __enter__(self) -> Azurite:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
