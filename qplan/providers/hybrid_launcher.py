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

With a function, it is called with no argument (hyperparameters are read from the
hyperparameters file, as on Braket); a module alone is run as ``__main__``. Everything the
job prints is its log: the caller sends stdout and stderr to it. Exit status 0: the job
completed; 1: it raised (the traceback is in the log, its last line in the failure file).

Standard library only: it must start fast and import nothing the job does not.
"""

from __future__ import annotations

import importlib
import os
import runpy
import sys
import tarfile
import traceback
from pathlib import Path

__all__ = ["main", "unpack"]


def unpack(archive: str | Path, into: str | Path) -> None:
    """Extract a source archive, refusing members that would land outside ``into``."""
    target = Path(into)
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(target, filter="data")


def _fail(reason: str) -> int:
    failure = os.environ.get("QPLAN_HYBRID_FAILURE_FILE")
    if failure:
        Path(failure).write_text(reason[-1024:], encoding="utf-8")
    return 1


def main() -> int:
    entry = os.environ["AMZN_BRAKET_SCRIPT_ENTRY_POINT"]
    code = Path(os.environ["QPLAN_HYBRID_CODE_DIR"])
    unpack(os.environ["QPLAN_HYBRID_SOURCE"], code)
    for name in ("AMZN_BRAKET_JOB_RESULTS_DIR", "AMZN_BRAKET_CHECKPOINT_DIR"):
        folder = os.environ.get(name)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(code))
    os.chdir(code)
    module, _, function = entry.partition(":")
    try:
        if function:
            getattr(importlib.import_module(module), function)()
        else:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if exc.code in (None, 0):
            return 0
        return _fail(f"the job exited with status {exc.code}")
    except BaseException as exc:
        traceback.print_exc()
        sys.stderr.flush()
        return _fail(f"{type(exc).__name__}: {exc}")
    finally:
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
