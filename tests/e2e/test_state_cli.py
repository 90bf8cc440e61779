"""`qplan state pull|push|migrate` end to end through the command line, on the quickstart
(the local provider): a stack's state pulled, pushed back and onto PostgreSQL, and
migrated there, with the same plan and results afterwards and no job run again. What ran
is counted with the local provider's run journal (see ``stacks``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import click
import pytest

from qplan.cli.app import cli
from qplan.state import SqliteStore
from tests.conftest import REPO, copy_example
from tests.e2e.stacks import Stack


class Quickstart(Stack):
    """The quickstart in a folder of its own; every output is checked for ``secret``."""

    secret: str | None = None

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [sys.executable, "-m", "qplan", *args],
            capture_output=True,
            text=True,
            cwd=self.folder,
            env=self.env,
            input=stdin,
            timeout=180,
            check=False,
        )
        assert "Traceback" not in out.stderr, out.stderr
        if self.secret:
            assert self.secret not in out.stdout + out.stderr
        return out

    def ok(self, *args: str, stdin: str | None = None) -> str:
        out = self.run(*args, stdin=stdin)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    def results(self, *state: str) -> list[object]:
        return list(json.loads(self.ok("results", "qplan.yaml", *state, "--format", "json")))


def quickstart_in(folder: Path, secret: str | None = None) -> Quickstart:
    stack = Quickstart(copy_example("quickstart", folder))
    stack.env.pop("QPLAN_STATE", None)  # the state next to the manifest unless told
    stack.secret = secret
    return stack


@pytest.fixture(scope="module")
def applied_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart applied once for the module (six runs)."""
    stack = quickstart_in(tmp_path_factory.mktemp("applied") / "q")
    stack.ok("apply", "qplan.yaml")
    assert len(stack.runs()) == 6
    return stack.folder


@pytest.fixture
def applied(applied_once: Path, tmp_path: Path) -> Quickstart:
    """A copy of the applied quickstart of its own: its state in .qplan/state.db, its run
    journal with the six runs."""
    shutil.copytree(applied_once, tmp_path / "q")
    stack = Quickstart(tmp_path / "q")
    stack.env.pop("QPLAN_STATE", None)
    assert len(stack.runs()) == 6
    return stack


@pytest.fixture
def pg(postgres_url: str, applied: Quickstart) -> str:
    """A fresh PostgreSQL database's URL (with a password, never to be printed)."""
    password = unquote(urlsplit(postgres_url).password or "")
    assert password
    applied.secret = password
    return postgres_url


def shown(url: str) -> str:
    """The URL as qplan shows it: without its password."""
    parts = urlsplit(url)
    return url.replace(f":{parts.password}@", "@")


def pulled(stack: Quickstart, *state: str) -> tuple[str, int, str]:
    """The stack's document, its serial, and its counts as the commands say them (how many
    events and serials an apply takes depends on how its runs' ends fall together)."""
    text = stack.ok("state", "pull", "qplan.yaml", *state)
    document = json.loads(text)
    return text, int(document["serial"]), f"6 rows, {len(document['events'])} events, 6 results"


def plan_body(stack: Quickstart, *state: str) -> list[str]:
    """The plan's lines after the first (which says where the state is, at what serial)."""
    lines = stack.ok("plan", "qplan.yaml", *state).splitlines()
    assert lines[0].startswith("Stack quickstart: state serial ")
    return lines[1:]


def test_pull_push_round_trips_a_stack(applied: Quickstart, pg: str) -> None:
    plan = applied.ok("plan", "qplan.yaml")
    assert "No changes: the state matches the manifest (6 resources)." in plan
    results = applied.results()
    text, serial, counts = pulled(applied)
    again = applied.run("state", "pull", "qplan.yaml")
    assert again.stdout == text  # the same bytes
    assert again.stderr == f"Pulled stack quickstart at serial {serial}: {counts}.\n"
    document = json.loads(text)
    assert (document["format"], document["version"], document["stack"]) == (
        "qplan-state",
        1,
        "quickstart",
    )
    (applied.folder / "doc.json").write_text(text)

    # onto a fresh PostgreSQL state: the same plan and results, nothing run again
    pushed = applied.ok("state", "push", "qplan.yaml", "doc.json", "--state", pg)
    assert pushed == (
        f"Pushed stack quickstart from doc.json to {shown(pg)}: {counts}; "
        f"serial 0 -> {serial + 1}.\n"
    )
    assert plan_body(applied, "--state", pg) == plan.splitlines()[1:]
    assert applied.results("--state", pg) == results
    reapplied = applied.ok("apply", "qplan.yaml", "--state", pg)
    assert "No changes: the state matches the manifest (6 resources)." in reapplied
    assert len(applied.runs()) == 6
    from_pg = json.loads(pulled(applied, "--state", pg)[0])
    assert from_pg | {"serial": 0} == document | {"serial": 0}  # the same state, serial + 1

    # onto the state it came from, through stdin: nothing changes, not even the serial
    back = applied.ok("state", "push", "qplan.yaml", "-", stdin=text)
    assert back == (
        f"Stack quickstart at {applied.folder / '.qplan' / 'state.db'} already holds the "
        f"state in stdin (serial {serial}): nothing changed.\n"
    )
    assert applied.ok("plan", "qplan.yaml") == plan

    # into a file only its owner reads: the same bytes
    out = applied.ok("state", "pull", "qplan.yaml", "--out", "again.json")
    assert out == f"Pulled stack quickstart at serial {serial}: {counts}, to again.json.\n"
    path = applied.folder / "again.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text() == text


def test_push_refuses_an_older_serial_unless_forced(applied: Quickstart) -> None:
    text, serial, counts = pulled(applied)
    (applied.folder / "doc.json").write_text(text)
    applied.ok("destroy", "qplan.yaml", "--yes")
    refused = applied.run("state", "push", "qplan.yaml", "doc.json")
    assert refused.returncode == 1
    assert refused.stderr == (
        f"state push: the document's serial {serial} is older than the state's serial "
        f"{serial + 1} (stack quickstart at {applied.folder / '.qplan' / 'state.db'}): the "
        "state changed since the document was pulled; pull it again, or --force to push the "
        "older one\n"
    )
    assert "6 to create" in applied.ok("plan", "qplan.yaml")  # nothing was written
    forced = applied.ok("state", "push", "qplan.yaml", "doc.json", "--force")
    assert forced.endswith(f"{counts}; serial {serial + 1} -> {serial + 2}.\n")
    assert "No changes" in applied.ok("apply", "qplan.yaml")  # the older state is back
    assert len(applied.runs()) == 6


def test_push_refuses_a_copy_that_moved_on_apart_at_the_same_serial(
    applied: Quickstart,
) -> None:
    import json

    text, serial, _ = pulled(applied)
    applied.ok("destroy", "qplan.yaml", "--yes")  # the state moves on to serial + 1...
    document = json.loads(text)  # ...and so does a copy of it, elsewhere, differently
    document["serial"] = serial + 1
    document["rows"][0]["error"] = "changed in another copy"
    (applied.folder / "doc.json").write_text(json.dumps(document))
    refused = applied.run("state", "push", "qplan.yaml", "doc.json")
    assert refused.returncode == 1
    assert f"are both at serial {serial + 1} but differ" in refused.stderr
    assert "6 to create" in applied.ok("plan", "qplan.yaml")  # nothing was written
    applied.ok("state", "push", "qplan.yaml", "doc.json", "--force")
    assert "No changes" in applied.ok("plan", "qplan.yaml")


def test_push_refuses_another_stack_and_another_lineage(
    applied: Quickstart, tmp_path: Path
) -> None:
    (applied.folder / "doc.json").write_text(applied.ok("state", "pull", "qplan.yaml"))
    document = str(applied.folder / "doc.json")
    other = quickstart_in(tmp_path / "other")
    other.ok("apply", "qplan.yaml")  # the same stack's name, applied apart: another lineage
    refused = other.run("state", "push", "qplan.yaml", document)
    assert refused.returncode == 1
    assert re.fullmatch(
        r"state push: stack quickstart at \S+ has another lineage \(\w{12}\) than the "
        r"document \(\w{12}\): it is not a copy of the same stack; --force replaces it\n",
        refused.stderr,
    )
    assert other.ok("state", "pull", "qplan.yaml") != applied.ok("state", "pull", "qplan.yaml")
    assert "Pushed stack quickstart" in other.ok("state", "push", "qplan.yaml", document, "--force")
    pulled = json.loads(other.ok("state", "pull", "qplan.yaml"))
    assert pulled["lineage"] == json.loads(Path(document).read_text())["lineage"]

    renamed = quickstart_in(tmp_path / "renamed")
    manifest = renamed.folder / "qplan.yaml"
    manifest.write_text(manifest.read_text().replace("stack: quickstart", "stack: renamed"))
    for force in ((), ("--force",)):
        refused = renamed.run("state", "push", "qplan.yaml", document, *force)
        assert refused.returncode == 1
        assert refused.stderr == (
            "state push: the document holds stack quickstart, but qplan.yaml is stack "
            "renamed: push a stack's state with its own manifest\n"
        )


def test_push_refuses_what_is_not_a_state_document(applied: Quickstart) -> None:
    (applied.folder / "plan.json").write_text(applied.ok("plan", "qplan.yaml", "--json"))
    refused = applied.run("state", "push", "qplan.yaml", "plan.json")
    assert (refused.returncode, refused.stderr) == (
        1,
        'plan.json: not a qplan state document (no "format": "qplan-state")\n',
    )
    refused = applied.run("state", "push", "qplan.yaml", "-", stdin='{"format": "qplan-state"')
    assert (refused.returncode, refused.stderr) == (
        1,
        "<stdin>:1:25: not a qplan state document: invalid JSON: Expecting ',' delimiter\n",
    )
    missing = applied.run("state", "push", "qplan.yaml", "nowhere.json")
    assert missing.returncode == 64 and "'nowhere.json' does not exist" in missing.stderr


def test_migrate_moves_the_quickstart_to_postgresql(applied: Quickstart, pg: str) -> None:
    results = applied.results()
    plan = applied.ok("plan", "qplan.yaml")
    text, serial, counts = pulled(applied)
    state = applied.folder / ".qplan" / "state.db"
    out = applied.ok("state", "migrate", "qplan.yaml", "--to", pg)
    assert out.splitlines() == [
        f"Migrated stack quickstart from {state} to {shown(pg)}: {counts}; checked "
        f"(serial {serial + 1} there).",
        f"The source at {state} is left as it was.",
        f"Point qplan at the new state: --state {shown(pg)} or QPLAN_STATE={shown(pg)}",
        "(the password is not shown: give it in the URL, PGPASSWORD or ~/.pgpass)",
    ]
    again = applied.ok("apply", "qplan.yaml", "--state", pg)
    assert "No changes: the state matches the manifest (6 resources)." in again
    assert len(applied.runs()) == 6  # no job ran again
    assert applied.results("--state", pg) == results
    assert plan_body(applied, "--state", pg) == plan.splitlines()[1:]
    assert applied.ok("plan", "qplan.yaml") == plan  # the source as it was
    assert pulled(applied)[0] == text
    copied = json.loads(pulled(applied, "--state", pg)[0])
    assert copied | {"serial": 0} == json.loads(text) | {"serial": 0}
    # the URL as printed, with the password where libpq also looks for it
    applied.env.update(QPLAN_STATE=shown(pg), PGPASSWORD=str(urlsplit(pg).password))
    assert applied.results() == results


def test_migrate_refuses_a_target_holding_the_stack_unless_forced(
    applied: Quickstart, pg: str
) -> None:
    _, serial, counts = pulled(applied)
    applied.ok("state", "migrate", "qplan.yaml", "--to", pg)
    refused = applied.run("state", "migrate", "qplan.yaml", "--to", pg)
    assert refused.returncode == 1
    assert refused.stderr == (
        f"state migrate: {shown(pg)} already holds stack quickstart (serial {serial + 1}: "
        f"{counts}); --force replaces it\n"
    )
    forced = applied.ok("state", "migrate", "qplan.yaml", "--to", pg, "--force")
    assert f"{counts}; checked (serial {serial + 2} there)" in forced
    assert "No changes" in applied.ok("apply", "qplan.yaml", "--state", pg)
    assert len(applied.runs()) == 6

    # the other way, back into a SQLite file of its own
    back = applied.ok("state", "migrate", "qplan.yaml", "--state", pg, "--to", "copy.db")
    assert back.startswith(f"Migrated stack quickstart from {shown(pg)} to copy.db: 6 rows")
    assert "No changes" in applied.ok("apply", "qplan.yaml", "--state", "sqlite:copy.db")

    same = applied.run("state", "migrate", "qplan.yaml", "--to", ".qplan/state.db")
    assert same.returncode == 64
    assert same.stderr == "--to: .qplan/state.db is where the state already is\n"
    scheme = applied.run("state", "migrate", "qplan.yaml", "--to", "mysql://h/db")
    assert scheme.returncode == 64 and scheme.stderr.startswith("--to: unsupported state URL")


def test_a_held_lock_stops_push_and_migrate(applied: Quickstart, tmp_path: Path) -> None:
    (applied.folder / "doc.json").write_text(applied.ok("state", "pull", "qplan.yaml"))
    store = SqliteStore(applied.folder / ".qplan" / "state.db")
    try:
        with store.acquire("quickstart", "apply", "someone"):
            for args in (("push", "doc.json"), ("migrate", "--to", str(tmp_path / "t.db"))):
                locked = applied.run("state", args[0], "qplan.yaml", *args[1:])
                assert locked.returncode == 1
                assert locked.stderr.startswith(
                    f"stack quickstart is locked by someone@{socket.gethostname()} "
                    f"(pid {os.getpid()}, apply) since "
                ), locked.stderr
    finally:
        store.close()
    assert not (tmp_path / "t.db").exists()  # refused before the target was opened


def test_a_stack_never_applied_has_nothing_to_pull_or_migrate(tmp_path: Path) -> None:
    stack = quickstart_in(tmp_path / "q")
    state = stack.folder / ".qplan" / "state.db"
    pulled = stack.run("state", "pull", "qplan.yaml")
    assert (pulled.returncode, pulled.stdout) == (1, "")
    assert pulled.stderr == (
        f"state pull: stack quickstart has no state at {state} (never applied): nothing to pull\n"
    )
    moved = stack.run("state", "migrate", "qplan.yaml", "--to", "t.db")
    assert moved.returncode == 1 and moved.stderr.endswith("nothing to migrate\n")
    assert not state.exists() and not (stack.folder / "t.db").exists()


def test_the_readme_gives_each_state_command_with_exactly_its_options() -> None:
    readme = (REPO / "README.md").read_text()
    group = cli.commands["state"]
    assert isinstance(group, click.Group)
    for name, command in group.commands.items():
        spans = re.findall(rf"^- `(qplan state {name} [^`]*)`", readme, re.MULTILINE)
        assert len(spans) == 1, f"README: want one line opening with - `qplan state {name} ...`"
        written = set(re.findall(r"(?<![\w-])--?[a-z][\w-]*", spans[0]))
        offered = {f for p in command.params if isinstance(p, click.Option) for f in p.opts}
        assert written == offered, name
