"""``qplan state pull|push|migrate``: move a stack's state whole, as a portable document or
from one backend to another."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qplan.cli.options import MANIFEST, stack_name_options

if TYPE_CHECKING:
    from qplan.operations import LoadOptions


@click.group("state")
def state() -> None:
    """Move a stack's state: pull it as a JSON document, push one, or migrate it to another
    backend."""


@state.command("pull")
@MANIFEST
@stack_name_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write the document to FILE (readable by its owner only); default stdout.",
)
def pull(manifest: str, options: LoadOptions, out: Path | None) -> None:
    """Write the state of MANIFEST's stack as a portable JSON document.

    Rows, the event log and the results they name; no secret and no state location. The
    same state gives the same bytes.
    """
    from qplan.operations import state_transfer
    from qplan.state import portable

    document = state_transfer.pull(manifest, options)
    counts = state_transfer.Counts.of(document)
    summary = f"Pulled stack {document['stack']} at serial {document['serial']}: {counts}"
    if out is None:
        portable.dump(document, sys.stdout)
        sys.stdout.flush()
        click.echo(f"{summary}.", err=True)
    else:
        portable.save(document, out)
        click.echo(f"{summary}, to {out}.")


@state.command("push")
@MANIFEST
@click.argument(
    "file",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=str),
    metavar="FILE",
)
@stack_name_options
@click.option(
    "--force",
    is_flag=True,
    help="Push even over a state of another lineage or with a newer serial.",
)
def push(manifest: str, file: str, options: LoadOptions, force: bool) -> None:
    """Load the state document FILE (- for stdin) into MANIFEST's stack.

    Holds the stack's lock. Refuses a document of another stack; and, unless --force, one
    of another lineage (not a copy of this stack) or older than the state (a lower serial).
    """
    from qplan.operations import state_transfer
    from qplan.state import portable

    if file == "-":
        document = portable.loads(sys.stdin.buffer.read(), "<stdin>")
    else:
        document = portable.load_file(Path(file))
    done = state_transfer.push(manifest, options, document, force)
    source = "stdin" if file == "-" else file
    if done.serial == done.serial_before:
        click.echo(
            f"Stack {done.stack} at {done.location} already holds the state in {source} "
            f"(serial {done.serial}): nothing changed."
        )
        return
    click.echo(
        f"Pushed stack {done.stack} from {source} to {done.location}: {done.counts}; "
        f"serial {done.serial_before} -> {done.serial}."
    )


@state.command("migrate")
@MANIFEST
@stack_name_options
@click.option(
    "--to",
    "to",
    required=True,
    metavar="URL",
    help="Where the state goes: a SQLite path, sqlite:///PATH or postgresql://... (as --state).",
)
@click.option("--force", is_flag=True, help="Replace the stack's state if the target has one.")
def migrate(manifest: str, options: LoadOptions, to: str, force: bool) -> None:
    """Copy the state of MANIFEST's stack to another backend, and check the copy.

    Holds the stack's lock on both sides. The target must not hold the stack yet (unless
    --force); the source is left as it was.
    """
    from qplan.operations import state_transfer
    from qplan.state.postgres import PostgresUrl, is_postgres_url

    done = state_transfer.migrate(manifest, options, to, force)
    click.echo(
        f"Migrated stack {done.stack} from {done.source} to {done.target}: {done.counts}; "
        f"checked (serial {done.serial} there)."
    )
    if done.log_kept:
        click.echo(
            "The target kept its own event log, and logged each row the copy changed after it."
        )
    click.echo(f"The source at {done.source} is left as it was.")
    shown = shlex.quote(done.target)
    click.echo(f"Point qplan at the new state: --state {shown} or QPLAN_STATE={shown}")
    if is_postgres_url(to) and PostgresUrl(to).password:
        click.echo("(the password is not shown: give it in the URL, PGPASSWORD or ~/.pgpass)")


for _command in state.commands.values():  # each whole first sentence in `qplan state --help`
    _command.short_help = _command.get_short_help_str(sys.maxsize)
