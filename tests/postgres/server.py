"""A throwaway PostgreSQL server on 127.0.0.1, for the tests: installed when missing, started
from a fresh ``initdb`` in a temporary folder, always stopped and removed.

``PostgresServer()`` is a context manager::

    with PostgresServer() as server:
        url = server.create_database("a_test")   # postgresql://qplan:...@127.0.0.1:PORT/a_test
        ...
        server.drop_database("a_test")

Binaries: ``initdb`` and ``postgres`` on the PATH, else the highest version under
``/usr/lib/postgresql/*/bin``, else (as root, with apt-get) Debian's ``postgresql`` package,
installed without the cluster the package would otherwise create and start on port 5432.

The superuser is ``qplan`` with a random password, and the server only takes connections
that authenticate with it (scram-sha-256) over TCP on 127.0.0.1: no Unix socket. initdb
refuses to run as root, so as root the cluster belongs to the ``postgres`` user (else
``nobody``). Durability is off (``fsync``, ``synchronous_commit``, ``full_page_writes``):
the cluster lives as long as the test run.

The server never outlives the test run, even one killed by SIGKILL: it runs under
``watchdog.py``, which holds the read end of a pipe whose write end only this process holds,
and stops the server when the pipe closes. The write end is not inherited by other programs
(pipes are close-on-exec) nor kept by forked children (closed after every fork).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import psycopg
from psycopg import sql

__all__ = ["PostgresServer", "PostgresUnavailable", "find_binaries", "install"]

USER = "qplan"
HOST = "127.0.0.1"
MIN_VERSION = (13, 0)  # DROP DATABASE ... WITH (FORCE)
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0  # the watchdog's SIGKILL comes after 10 s
DEBIAN_ROOT = Path("/usr/lib/postgresql")
CREATECLUSTER = Path("/etc/postgresql-common/createcluster.conf")
INSTALL_LOCK = Path(tempfile.gettempdir()) / "qplan-postgres-install.lock"
WATCHDOG = Path(__file__).with_name("watchdog.py")
SETTINGS = {
    "listen_addresses": HOST,
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "128MB",
    "password_encryption": "scram-sha-256",
    "logging_collector": "off",
    "log_min_messages": "warning",
}


class PostgresUnavailable(RuntimeError):
    """PostgreSQL could not be found, installed, initialised or started."""


# -- binaries --------------------------------------------------------------------------------


def _version_key(folder: Path) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in folder.name.split("."))
    except ValueError:
        return (-1,)


def find_binaries() -> tuple[Path, Path] | None:
    """``(initdb, postgres)``: on the PATH, else the highest version under
    ``/usr/lib/postgresql/*/bin``; None if there is neither."""
    initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
    if initdb is not None and postgres is not None:
        return Path(initdb), Path(postgres)
    versions = sorted(DEBIAN_ROOT.glob("*/bin"), key=lambda path: _version_key(path.parent))
    for folder in reversed(versions):
        initdb_path, postgres_path = folder / "initdb", folder / "postgres"
        if os.access(initdb_path, os.X_OK) and os.access(postgres_path, os.X_OK):
            return initdb_path, postgres_path
    return None


def _apt_get(arguments: list[str], timeout: float) -> None:
    command = ["apt-get", *arguments]
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise PostgresUnavailable(f"{' '.join(command)} took more than {timeout:.0f} s") from error
    if done.returncode != 0:
        raise PostgresUnavailable(
            f"{' '.join(command)} failed (exit status {done.returncode}): "
            f"{done.stderr.strip()[-3000:]}"
        )


def install() -> tuple[Path, Path]:
    """``(initdb, postgres)``, installing Debian's ``postgresql`` package if there is none."""
    found = find_binaries()
    if found is not None:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PostgresUnavailable(
            "PostgreSQL's initdb and postgres are neither on the PATH nor under "
            f"{DEBIAN_ROOT}/*/bin, and installing them needs root and apt-get: "
            "install PostgreSQL 13 or newer (Debian/Ubuntu: apt-get install postgresql)"
        )
    with open(INSTALL_LOCK, "a") as lock:  # parallel test runs install once
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = find_binaries()
        if found is not None:
            return found
        if not CREATECLUSTER.exists():
            # no cluster of the package's own, started on port 5432
            CREATECLUSTER.parent.mkdir(parents=True, exist_ok=True)
            CREATECLUSTER.write_text("create_main_cluster = false\n")
        _apt_get(["update", "-q"], timeout=300)
        _apt_get(["install", "-y", "-q", "postgresql"], timeout=900)
    found = find_binaries()
    if found is None:
        raise PostgresUnavailable(
            f"apt-get installed postgresql, but no initdb and postgres under {DEBIAN_ROOT}/*/bin"
        )
    return found


# -- processes -------------------------------------------------------------------------------


def _owner() -> pwd.struct_passwd | None:
    """Whom initdb and the server run as: None (this process's user) unless root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresUnavailable(
        "initdb does not run as root, and there is no postgres or nobody user"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


_LIFELINES: set[int] = set()


def _close_lifelines() -> None:
    # a forked child (multiprocessing, say) must not keep the server alive after the test run
    for fd in _LIFELINES:
        with contextlib.suppress(OSError):
            os.close(fd)
    _LIFELINES.clear()


os.register_at_fork(after_in_child=_close_lifelines)


class _Exited(Exception):
    """The server ended while starting."""


# -- the server ------------------------------------------------------------------------------


class PostgresServer:
    """A PostgreSQL cluster in a temporary folder, served on ``127.0.0.1:port`` once started.

    ``user`` (a superuser) and ``password`` authenticate; ``url(database)`` says both;
    ``version`` is the server's ``(major, minor)``; ``pid`` the postmaster's process id.
    """

    def __init__(self) -> None:
        self.user = USER
        self.password = secrets.token_urlsafe(24)
        self.port = 0
        self.version: tuple[int, int] = (0, 0)
        self.pid: int | None = None
        self.folder: Path | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._lifeline: int | None = None
        self._log: Path | None = None
        self._admin: psycopg.Connection[tuple[object, ...]] | None = None
        self._create_options = sql.SQL("TEMPLATE template0")
        self._lock = threading.RLock()

    # -- addresses

    def url(self, database: str = "postgres") -> str:
        """``postgresql://qplan:PASSWORD@127.0.0.1:PORT/DATABASE``."""
        return (
            f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@{HOST}:{self.port}/{quote(database, safe='')}"
        )

    # -- databases

    def create_database(self, name: str) -> str:
        """A new, empty database ``name`` (UTF8, locale C), and its url."""
        self._execute(
            sql.SQL("CREATE DATABASE {} {}").format(sql.Identifier(name), self._create_options)
        )
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drops database ``name`` if it exists, ending the sessions still connected to it."""
        self._execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )

    def _execute(self, statement: sql.Composed) -> None:
        with self._lock:
            if self._watchdog is None:
                raise PostgresUnavailable("the PostgreSQL server is not running")
            if self._admin is None or self._admin.closed or self._admin.broken:
                self._admin = self._connect()
            self._admin.execute(statement)

    def _connect(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url(database), autocommit=True, connect_timeout=10)

    # -- life

    def start(self) -> None:
        """Initialises the cluster and starts the server; PostgresUnavailable if it cannot."""
        with self._lock:
            if self._watchdog is not None:
                return
            try:
                initdb, postgres = install()
                owner = _owner()
                self.folder = Path(tempfile.mkdtemp(prefix="qplan-postgres-"))
                if owner is not None:
                    os.chown(self.folder, owner.pw_uid, owner.pw_gid)
                self._initdb(initdb, owner)
                for attempt in range(3):
                    try:
                        self._serve(postgres, owner)
                        break
                    except _Exited as error:
                        self._halt()
                        if attempt == 2 or "could not bind" not in str(error):
                            raise PostgresUnavailable(str(error)) from None
                self._prepare()
            except BaseException:
                self.stop()
                raise

    def _initdb(self, initdb: Path, owner: pwd.struct_passwd | None) -> None:
        assert self.folder is not None
        pwfile = self.folder / "pwfile"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as stream:
            stream.write(self.password + "\n")
        if owner is not None:
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        command = [
            str(initdb),
            "-D", str(self.folder / "data"),
            "-U", self.user,
            "-E", "UTF8",
            "--locale=C",
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "--no-sync",
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=120,
                cwd=self.folder,
                check=False,
                user=None if owner is None else owner.pw_uid,
                group=None if owner is None else owner.pw_gid,
                extra_groups=None if owner is None else [],
            )
        except subprocess.TimeoutExpired as error:
            raise PostgresUnavailable("initdb took more than 120 s") from error
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            raise PostgresUnavailable(
                f"initdb failed (exit status {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-3000:]}"
            )

    def _serve(self, postgres: Path, owner: pwd.struct_passwd | None) -> None:
        assert self.folder is not None
        self.port, self.pid = _free_port(), None
        self._log = self.folder / "postgres.log"
        command = [str(postgres), "-D", str(self.folder / "data"), "-p", str(self.port)]
        for name, value in SETTINGS.items():
            command += ["-c", f"{name}={value}"]
        read_end, self._lifeline = os.pipe()  # both close-on-exec: only the watchdog gets one
        _LIFELINES.add(self._lifeline)
        user = ["--user", owner.pw_name] if owner is not None else []
        try:
            with open(self._log, "wb") as log:
                self._watchdog = subprocess.Popen(
                    [sys.executable, "-I", str(WATCHDOG), str(read_end), *user, "--", *command],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    pass_fds=(read_end,),
                    cwd=self.folder,
                    start_new_session=True,  # a Ctrl-C at the terminal is the test run's to handle
                )
        finally:
            os.close(read_end)
        assert self._watchdog.stdout is not None
        line = self._watchdog.stdout.readline()
        self._watchdog.stdout.close()
        if not line.strip().isdigit():
            raise _Exited(f"the PostgreSQL server did not start:\n{self._log_tail()}")
        self.pid = int(line)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._watchdog.poll() is not None:
                raise _Exited(f"the PostgreSQL server exited at start:\n{self._log_tail()}")
            try:
                self._admin = self._connect()
                return
            except psycopg.OperationalError as error:
                if "password authentication failed" in str(error):
                    raise PostgresUnavailable(f"the server refused its password: {error}") from None
                if time.monotonic() > deadline:
                    raise PostgresUnavailable(
                        f"the PostgreSQL server did not accept connections on port {self.port}"
                        f" within {START_TIMEOUT:.0f} s ({str(error).strip()}):\n{self._log_tail()}"
                    ) from None
                time.sleep(0.05)

    def _prepare(self) -> None:
        assert self._admin is not None
        number = self._admin.info.server_version  # e.g. 150018
        self.version = (number // 10000, number % 10000)
        if self.version < MIN_VERSION:
            raise PostgresUnavailable(
                f"PostgreSQL {self.version[0]} is too old: the tests need 13 or newer"
            )
        if self.version >= (15, 0):
            # with fsync off, copying template0's few files is a little faster than WAL_LOG
            self._create_options = sql.SQL("TEMPLATE template0 STRATEGY FILE_COPY")

    def _log_tail(self, size: int = 4000) -> str:
        if self._log is None or not self._log.exists():
            return "(no log)"
        data = self._log.read_bytes()[-size:]
        return data.decode(errors="replace").strip() or "(empty log)"

    def _halt(self) -> None:
        """Stops the server (fast shutdown, SIGKILL if it lingers) and its watchdog."""
        if self._admin is not None:
            with contextlib.suppress(Exception):
                self._admin.close()
            self._admin = None
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None and self.pid is not None and watchdog.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGINT)  # fast shutdown
        self._close_lifeline()  # the watchdog's SIGINT, then its SIGKILL after 10 s
        if watchdog is None:
            return
        try:
            watchdog.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            for group in (self.pid, watchdog.pid):
                if group is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(group, signal.SIGKILL)
            watchdog.wait(timeout=10)
        if watchdog.stdout is not None:
            watchdog.stdout.close()

    def _close_lifeline(self) -> None:
        lifeline, self._lifeline = self._lifeline, None
        if lifeline is not None:
            _LIFELINES.discard(lifeline)
            os.close(lifeline)

    def stop(self) -> None:
        """Stops the server and removes its folder; does nothing if there is none."""
        with self._lock:
            self._halt()
            folder, self.folder = self.folder, None
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._watchdog is not None and self._watchdog.poll() is None

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
