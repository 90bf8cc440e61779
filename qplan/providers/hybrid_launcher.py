"""Run one hybrid job's entry point, as the Braket job container's launcher does.

Started as ``python -m qplan.providers.hybrid_launcher`` in a fresh process by the local
provider and by the test emulator of Braket, with the job's environment already set:

- ``AMZN_BRAKET_SCRIPT_ENTRY_POINT``: ``package.module:function`` or ``package.module``;
- ``QPLAN_HYBRID_SOURCE``: the gzipped tar of the source (the folder or file under its own
  name at the archive's root, as ``AwsQuantumJob.create`` lays it out);
- ``QPLAN_HYBRID_CODE_DIR``: where the source is unpacked; it goes first on ``sys.path``;
- ``QPLAN_HYBRID_FAILURE_FILE`` (optional): where the reason of a failure is written;
- the variables the SDK reads inside a job (``AMZN_BRAKET_JOB_NAME``,
  ``AMZN_BRAKET_DEVICE_ARN``, ``AMZN_BRAKET_HP_FILE``, ``AMZN_BRAKET_INPUT_DIR``,
  ``AMZN_BRAKET_JOB_RESULTS_DIR``, ``AMZN_BRAKET_CHECKPOINT_DIR``, ...).

Optional, for a caller that may end before the job does (the local provider):

- ``QPLAN_HYBRID_LIFELINE``: a file descriptor, the read end of a pipe whose only writer
  is the caller. When the pipe closes (the caller ended, however: SIGKILL included) the
  job ends at once, with every process of its process group when it leads one;
- ``QPLAN_HYBRID_OUTPUT``: where the results folder is archived (``model.tar.gz``) once
  the entry point has returned (or raised, if it left results);
- ``QPLAN_HYBRID_STATUS_FILE``: where the job's final status is written last, all at
  once, as JSON: ``status`` (``COMPLETED`` or ``FAILED``), ``reason``, ``started_at``,
  ``ended_at`` (seconds since the epoch). A caller killed right after the job ended
  therefore loses nothing: both files are there, whole, for the next one to find.

With a function, it is called with no argument (hyperparameters are read from the
hyperparameters file, as on Braket); a module alone is run as ``__main__``. Everything the
job prints is its log: the caller sends stdout and stderr to it. Exit status 0: the job
completed; 1: it raised (the traceback is in the log, its last line in the failure file).

Standard library only: it must start fast and import nothing the job does not.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import runpy
import signal
import sys
import tarfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

__all__ = ["archive_results", "main", "unpack", "write_json"]


def unpack(archive: str | Path, into: str | Path) -> None:
    """Extract a source archive, refusing members that would land outside ``into``."""
    target = Path(into)
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(target, filter="data")


def write_json(path: str | Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` all at once (a temporary file renamed over it): a reader
    finds the whole document or none."""
    target = Path(path)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    with open(partial, "w", encoding="utf-8") as out:
        json.dump(data, out, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, target)


def archive_results(results_dir: str | Path, path: str | Path) -> None:
    """``model.tar.gz`` of the results folder's files, written all at once at ``path``."""
    folder = Path(results_dir)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for item in sorted(folder.rglob("*")) if folder.is_dir() else ():
            tar.add(item, arcname=str(item.relative_to(folder)), recursive=False)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    partial.write_bytes(buffer.getvalue())
    os.replace(partial, target)


def _end_with_caller(fd: int) -> None:
    """Block until the lifeline closes (nothing is ever written to it), then end the job:
    its whole process group when it leads one (the entry point's own children too), else
    this process alone."""
    with contextlib.suppress(OSError):
        while os.read(fd, 4096):
            pass
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(1)


def _watch_lifeline() -> None:
    fd = os.environ.get("QPLAN_HYBRID_LIFELINE")
    if fd and fd.isdigit():
        threading.Thread(
            target=_end_with_caller, args=(int(fd),), name="qplan-lifeline", daemon=True
        ).start()


def _fail(reason: str) -> int:
    failure = os.environ.get("QPLAN_HYBRID_FAILURE_FILE")
    if failure:
        Path(failure).write_text(reason[-1024:], encoding="utf-8")
    return 1


def _run(entry: str) -> str | None:
    """Unpack and run the entry point: None when it completed, else why it failed (its
    traceback printed to the log)."""
    code = Path(os.environ["QPLAN_HYBRID_CODE_DIR"])
    try:
        unpack(os.environ["QPLAN_HYBRID_SOURCE"], code)
        for name in ("AMZN_BRAKET_JOB_RESULTS_DIR", "AMZN_BRAKET_CHECKPOINT_DIR"):
            folder = os.environ.get(name)
            if folder:
                Path(folder).mkdir(parents=True, exist_ok=True)
        sys.path.insert(0, str(code))
        os.chdir(code)
        module, _, function = entry.partition(":")
        if function:
            getattr(importlib.import_module(module), function)()
        else:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if exc.code in (None, 0):
            return None
        return f"the job exited with status {exc.code}"
    except BaseException as exc:
        traceback.print_exc()
        return f"{type(exc).__name__}: {exc}"
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
    return None


def _conclude(reason: str | None, started_at: float) -> None:
    """The output archive, then the final status: the last thing the job writes."""
    output = os.environ.get("QPLAN_HYBRID_OUTPUT")
    results = os.environ.get("AMZN_BRAKET_JOB_RESULTS_DIR")
    if output and results:
        folder = Path(results)
        if reason is None or (folder.is_dir() and any(folder.iterdir())):
            archive_results(folder, output)
    status = os.environ.get("QPLAN_HYBRID_STATUS_FILE")
    if status:
        write_json(
            status,
            {
                "status": "COMPLETED" if reason is None else "FAILED",
                "reason": reason,
                "started_at": started_at,
                "ended_at": time.time(),
            },
        )


def main() -> int:
    started_at = time.time()
    _watch_lifeline()
    reason = _run(os.environ["AMZN_BRAKET_SCRIPT_ENTRY_POINT"])
    code = 0 if reason is None else _fail(reason)
    try:
        _conclude(reason, started_at)
    except OSError as exc:
        print(f"qplan: the job's output could not be written: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
