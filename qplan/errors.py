"""Errors raised by qplan, and the located diagnostics they carry.

Exception tree::

    QplanError                  anything qplan reports to a user; exit code 1
    ├── ManifestError           a manifest (or var file) is invalid; carries Diagnostics;
    │                           exit code 64 when a --var names an undeclared variable
    └── UsageError              a command was called wrongly (bad --var, unknown address,
                                unsupported --state); exit code 64

Every error a user can cause is one of these. The CLI prints them without a traceback;
any other exception is a bug in qplan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["EXIT_USAGE", "Diagnostic", "ManifestError", "QplanError", "UsageError"]

EXIT_USAGE = 64
"""The exit code of every command-line mistake: EX_USAGE from sysexits.h. Never 2, which
``plan --detailed-exitcode`` uses for "changes present"."""


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

    exit_code = EXIT_USAGE


class ManifestError(QplanError):
    """A manifest is invalid. ``diagnostics`` lists every problem found, sorted by position.

    ``command_line``: some of the problems are in the command line rather than in a file (a
    ``--var`` naming a variable the manifest does not declare); the exit code is then
    EXIT_USAGE, as for any usage error, and the diagnostics still say where.
    """

    def __init__(self, diagnostics: Iterable[Diagnostic], *, command_line: bool = False) -> None:
        unique = {(d.file, d.line, d.column, d.path, d.message): d for d in diagnostics}
        self.diagnostics: tuple[Diagnostic, ...] = tuple(
            sorted(unique.values(), key=Diagnostic.sort_key)
        )
        if command_line:
            self.exit_code = EXIT_USAGE
        count = len(self.diagnostics)
        super().__init__(
            "\n".join(str(d) for d in self.diagnostics)
            + f"\n{count} error{'s' if count != 1 else ''}"
        )
