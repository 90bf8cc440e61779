"""The ``qplan`` command group, and how each outcome becomes an exit code.

No traceback reaches a user. Exit codes (the table in README.md):

- 0 success;
- 1 a QplanError, printed as its located diagnostics: invalid manifest or var values, a
  failed apply, a stale saved plan, a held lock;
- 2 only "changes present", under ``plan --detailed-exitcode``;
- 64 (EX_USAGE) every command-line mistake: click's usage errors (unknown command or
  option, missing argument, bad option value, missing file) and qplan's own (UsageError,
  or a ManifestError about a ``--var``), so that a typo never reads as "changes present";
- 70 anything else: an internal error, a bug in qplan, with its traceback under ``--debug``;
- 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

import click

from qplan import __version__
from qplan.cli.main import EXIT_INTERNAL, interrupted
from qplan.errors import EXIT_USAGE, QplanError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="qplan")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
def cli(debug: bool) -> None:
    """Plan and apply quantum jobs declared in a YAML manifest, exactly once."""


def _register() -> None:
    from qplan.cli import (
        apply,
        cancel,
        download,
        force_unlock,
        graph,
        init,
        lock,
        logs,
        metrics,
        plan,
        results,
        schema,
        show,
        state_cmd,
        status,
        validate,
    )

    for command in (
        init.init,
        validate.validate,
        plan.plan,
        apply.apply,
        results.results,
        cancel.cancel,
        cancel.destroy,
        show.show,
        graph.graph,
        status.status,
        logs.logs,
        metrics.metrics,
        download.download,
        force_unlock.force_unlock,
        lock.lock,
        state_cmd.state,
        schema.schema,
    ):
        # the whole first sentence in `qplan --help`: click would cut it to fit one line
        command.short_help = command.short_help or command.get_short_help_str(sys.maxsize)
        cli.add_command(command)


_register()


def run(args: Sequence[str]) -> None:
    """Run the command line ``args``; exits with the code of its outcome."""
    args = list(args)
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="qplan", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:  # unknown option or command, missing argument, bad value
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # click's word for a Ctrl-C
            interrupted(args)
        click.echo("qplan: aborted", err=True)
        sys.exit(1)
    except QplanError as exc:
        click.echo(str(exc), err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        else:
            click.echo(
                f"qplan: internal error: {type(exc).__name__}: {exc}\n"
                "This is a bug in qplan; run again with --debug for the traceback and report it.",
                err=True,
            )
        sys.exit(EXIT_INTERNAL)
    sys.exit(0)
