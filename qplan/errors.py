"""Errors raised by qplan, and the located diagnostics they carry.

Exception tree::

    QplanError                  anything qplan reports to a user; exit code 1
    ├── ManifestError           a manifest (or var file) is invalid; carries Diagnostics
    └── UsageError              a command was called wrongly (bad --var, missing file)

Every error a user can cause is one of these. The CLI prints them without a traceback;
any other exception is a bug in qplan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Diagnostic", "ManifestError", "QplanError", "UsageError"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One located problem: ``file:line:col: path: message``.

    ``line`` and ``column`` are 1-based; 0 means the position is unknown (the whole file,
    or a value given on the command line). ``path`` is the dotted path of the offending
    key in the manifest (``jobs.rabi.sweep.grid.theta``), empty for the whole document.
    """

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.column}"
        if self.path:
            return f"{where}: {self.path}: {self.message}"
        return f"{where}: {self.message}"

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line, self.column, self.path, self.message)


class QplanError(Exception):
    """Base of every error qplan reports to a user."""

    exit_code = 1


class UsageError(QplanError):
    """A command was called with arguments that cannot work."""


class ManifestError(QplanError):
    """A manifest is invalid. ``diagnostics`` lists every problem found, sorted by position."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        unique = {(d.file, d.line, d.column, d.path, d.message): d for d in diagnostics}
        self.diagnostics: tuple[Diagnostic, ...] = tuple(
            sorted(unique.values(), key=Diagnostic.sort_key)
        )
        count = len(self.diagnostics)
        super().__init__(
            "\n".join(str(d) for d in self.diagnostics)
            + f"\n{count} error{'s' if count != 1 else ''}"
        )
