"""Entry point of the ``qplan`` command. It imports next to nothing before its ``try``, so
that a Ctrl-C at any moment after Python itself has started, even while qplan is still
importing, ends with exit 130 and one line, never a traceback. The commands, and the
exit code of every outcome, are in ``qplan.cli.app``.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # as typing's, without importing typing before the ``try``
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, NoReturn

__all__ = ["EXIT_INTERNAL", "EXIT_INTERRUPTED", "interrupted", "main"]

EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        from qplan.cli.app import run

        run(args)
    except KeyboardInterrupt:
        interrupted(args)
    finally:
        _ignore_ctrl_c()  # the outcome is decided: a Ctrl-C during the teardown changes nothing
        # CPython ends itself with SIGINT at exit when a KeyboardInterrupt once left an
        # exec() or eval() of source text, even one caught since (a dataclass being made
        # while a module imports): the code above is the outcome. Running such source to
        # its end clears that mark.
        exec("None")


def interrupted(args: Sequence[str]) -> NoReturn:
    """Say that a Ctrl-C stopped the command, and how to go on; exit 130. Nothing is lost
    by it: an apply resumes where it stopped."""
    _ignore_ctrl_c()  # one more Ctrl-C cannot cut this short
    command = next((a for a in args if not a.startswith("-")), "")
    if command == "apply":
        message = "Interrupted: run `qplan apply` again to resume.\n"
    else:
        message = "qplan: interrupted\n"
    os.write(2, message.encode())
    sys.exit(EXIT_INTERRUPTED)


def _ignore_ctrl_c() -> None:
    import signal  # here, not above: the module imports nothing but qplan before its try
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def __getattr__(name: str) -> Any:
    """``cli`` (the command group) for those who import it from here."""
    if name == "cli":
        from qplan.cli.app import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
