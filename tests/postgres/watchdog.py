"""The lifeline of the test run's PostgreSQL server: runs the server as its child and stops it
when the test run is gone.

    python watchdog.py FD [--user NAME] -- POSTGRES ARGS...

``FD`` is the read end of a pipe whose write end only the test run holds. Nothing is ever
written to it: end of file means the test run closed it (``PostgresServer.stop``) or died
(even by SIGKILL). Then the server gets SIGINT (a fast shutdown) and, 10 s later, SIGKILL
with all its backends (it runs in a process group of its own). The watchdog also ends when
the server ends by itself, with its exit status.

It writes the server's pid on a line of its standard output, then closes it; the server's
output goes to the watchdog's standard error. Only the standard library: it runs isolated.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from typing import Any

KILL_AFTER = 10.0


def _wait_either(fd: int, process: subprocess.Popen[bytes]) -> bool:
    """Whether the owner is gone (end of file on ``fd``) while the server still runs."""
    try:
        pidfd: int | None = os.pidfd_open(process.pid)
    except (AttributeError, OSError):  # not Linux 5.3+: poll the server
        pidfd = None
    try:
        while True:
            watched = [fd] if pidfd is None else [fd, pidfd]
            ready, _, _ = select.select(watched, [], [], 0.2 if pidfd is None else None)
            if fd in ready and not os.read(fd, 4096):
                return process.poll() is None
            if process.poll() is not None:
                return False
    finally:
        if pidfd is not None:
            os.close(pidfd)


def main(argv: list[str]) -> int:
    fd = int(argv[0])
    rest = argv[1:]
    switch: dict[str, Any] = {}
    if rest[:1] == ["--user"]:
        import pwd

        entry = pwd.getpwnam(rest[1])
        switch = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        rest = rest[2:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    process = subprocess.Popen(
        rest,
        stdin=subprocess.DEVNULL,
        stdout=sys.stderr.fileno(),
        stderr=sys.stderr.fileno(),
        process_group=0,  # its backends with it, for a last SIGKILL to all of them
        **switch,
    )
    sys.stdout.write(f"{process.pid}\n")
    sys.stdout.flush()
    sys.stdout.close()
    if _wait_either(fd, process):
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=KILL_AFTER)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    code = process.wait()
    return code if code >= 0 else 128 - code  # killed by signal N: 128 + N, as a shell says


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
