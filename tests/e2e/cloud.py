"""A folder in which the end-to-end tests run qplan against a cloud provider's emulator: a
subclass says how the environment reaches its emulator; running qplan, applying with a
short poll interval and reading the results are the same for every cloud."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


class CloudFolder:
    timeout: float = 120.0

    def __init__(self, path: Path) -> None:
        self.path = path

    def environ(self) -> dict[str, str]:
        raise NotImplementedError

    def qplan(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [sys.executable, "-m", "qplan", *args],
                capture_output=True,
                text=True,
                cwd=self.path,
                env=self.environ(),
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:  # what it said until then
            raise AssertionError(
                f"qplan {args} did not end: {exc.stdout!r} {exc.stderr!r}"
            ) from None

    def apply(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.qplan("apply", "qplan.yaml", "--poll-interval", "0.2", *args)

    def results(self) -> dict[str, dict[str, int]]:
        """Counts by address, as ``qplan results --format json`` gives them."""
        shown = self.qplan("results", "qplan.yaml", "--format", "json")
        assert shown.returncode == 0, shown.stderr
        return {r["address"]: r["counts"] for r in json.loads(shown.stdout)}
