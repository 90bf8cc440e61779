"""Runners sharing one PostgreSQL database, as real `qplan` processes against a real server.

Two runners on one stack: the second is refused at once, naming the holder. Four runners on
four stacks of one database apply at the same time. A runner killed mid-apply is followed by
one on another host (a UTS namespace under another host name): the server ended the dead
runner's session and its lock with it, so no force-unlock is needed, and nothing runs twice
or is lost (the local provider's run journal, written by its workers, says what really ran;
the Braket emulator counts the tasks). Passwords, in the URL or in PGPASSWORD, reach no
output, file or row, even a password left unencoded in a URL.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from qplan.providers.braket import _tag
from tests.conftest import ry_program
from tests.e2e.processes import another_host, kill_tagged, new_tag
from tests.e2e.stacks import Stack, opened
from tests.e2e.test_braket_cli import (
    POINTS,
    Folder,
    check_results,
    kill_while_creating,
    per_address,
)
from tests.emulators.braket.fixture import BraketEmulatorEnv

ROTATIONS = 5000  # per run: about half a second of a worker's time


def slow_manifest(stack: str, points: int, workers: int = 1, rotations: int = ROTATIONS) -> str:
    """A stack of ``points`` runs on the local provider, each long enough to overlap others
    (a loop of rotations: the simulator's own time, not a sleep)."""
    loop = f"for int i in [1:{rotations}] {{ ry(theta) q; }}\n" if rotations else ""
    source = f"OPENQASM 3.0;\ninput float theta;\nqubit q;\nbit c;\n{loop}c = measure q;\n"
    return (
        f"version: 1\nstack: {stack}\nproviders:\n  local: {{type: local, workers: {workers}}}\n"
        + ry_program(source)
        + "jobs:\n  scan:\n    target: local/braket_sv\n    program: ry\n    shots: 20\n"
        + f"    sweep: {{grid: {{theta: {{linspace: [0, 0.001, {points}]}}}}}}\n"
    )


@pytest.fixture
def tag() -> Iterator[str]:
    """Every process a test starts carries it; whatever is left of them is killed after."""
    value = new_tag()
    yield value
    kill_tagged(value)


def output(stack: Stack) -> str:
    log = stack.folder / "output.log"
    return log.read_text() if log.exists() else ""


def windows(stack: Stack) -> tuple[float, float]:
    """When the stack's first run started and its last one ended."""
    lines = stack.lines()
    return min(r["at"] for r in lines), max(r["at"] for r in lines)


def test_a_second_apply_of_a_stack_is_refused_at_once_naming_the_holder(
    tmp_path: Path, postgres_url: str, tag: str
) -> None:
    stack = Stack.write(tmp_path / "s", slow_manifest("shared", 4), tag, postgres_url)
    first = stack.start("apply", "qplan.yaml")
    stack.wait_for("start", 1)  # the first holds the lock: it runs
    second = stack.qplan("apply", "qplan.yaml")
    assert first.poll() is None, output(stack)  # refused while the first still runs
    assert second.returncode == 1, second.stdout + second.stderr
    holder = f"{getpass.getuser()}@{socket.gethostname()} (pid {first.pid}, apply)"
    assert f"stack shared is locked by {holder}" in second.stderr
    assert "Traceback" not in second.stderr
    assert first.wait(timeout=120) == 0, output(stack)
    addresses = {a for a, (s, _, _) in stack.rows().items() if s == "succeeded"}
    assert len(addresses) == 4
    assert stack.count("start") == stack.count("end") == Counter(dict.fromkeys(addresses, 1))


def test_four_stacks_in_one_database_apply_at_the_same_time(
    tmp_path: Path, postgres_url: str, tag: str
) -> None:
    stacks = [
        Stack.write(tmp_path / f"s{i}", slow_manifest(f"stack-{i}", 3), tag, postgres_url)
        for i in range(4)
    ]
    started = time.monotonic()
    applies = [stack.start("apply", "qplan.yaml") for stack in stacks]  # a fresh database
    codes = [apply.wait(timeout=180) for apply in applies]
    took = time.monotonic() - started
    assert codes == [0] * 4, [output(stack) for stack in stacks]
    for stack in stacks:
        rows = stack.rows()
        assert len(rows) == 3 and {s for s, _, _ in rows.values()} == {"succeeded"}
        assert stack.count("start") == stack.count("end") == Counter(dict.fromkeys(rows, 1))
    spans = [windows(stack) for stack in stacks]
    # all four ran at one moment: no runner waited for another's apply to end
    assert max(start for start, _ in spans) < min(end for _, end in spans), (spans, took)


def test_a_killed_runner_is_followed_by_one_on_another_host_without_force_unlock(
    tmp_path: Path, postgres_url: str, tag: str
) -> None:
    points = 8
    manifest = slow_manifest("resumed", points, workers=2, rotations=1500)
    stack = Stack.write(tmp_path / "s", manifest, tag, postgres_url)
    killed = subprocess.Popen(
        [sys.executable, "-m", "qplan", "apply", "qplan.yaml"],
        cwd=stack.folder,
        env=stack.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its fork server and workers die with it
    )
    try:
        deadline = time.monotonic() + 60
        while sum(stack.count("end").values()) < 2:  # some runs done, others in flight
            assert time.monotonic() < deadline and killed.poll() is None, "no runs ended"
            time.sleep(0.01)
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
    before = stack.lines()
    done = {r["address"] for r in before if r["event"] == "end"}
    unfinished = {r["address"] for r in before if r["event"] == "start"} - done
    assert unfinished, before  # killed with runs in flight
    assert 0 < len(done) < points
    with stack.store() as store:
        assert {r.status.value for r in store.rows("resumed")} - {"succeeded"}, "nothing in flight"
        info = store.lock_info("resumed")
        assert info is not None and (info.host, info.pid) == (socket.gethostname(), killed.pid)
        deadline = time.monotonic() + 10
        while not info.stale:  # the server ends the dead runner's session, and its lock
            assert time.monotonic() < deadline, "the killed runner's lock was never released"
            time.sleep(0.05)
            info = store.lock_info("resumed")
            assert info is not None

    resumed = subprocess.run(
        [*another_host("ci-runner-7"), sys.executable, "-m", "qplan", "apply", "qplan.yaml"],
        cwd=stack.folder,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr  # not refused: taken over
    assert "locked" not in resumed.stderr and "Traceback" not in resumed.stderr
    rows = stack.rows()
    assert len(rows) == points and {s for s, _, _ in rows.values()} == {"succeeded"}
    with stack.store() as store:
        successes = Counter(
            e["address"] for e in store.events("resumed") if e["new_status"] == "succeeded"
        )
        kept = [r.result_hash and store.result(r.result_hash) for r in store.rows("resumed")]
        assert store.lock_info("resumed") is None
    assert successes == Counter(dict.fromkeys(rows, 1))  # one recorded success each
    assert len(kept) == points and all(kept)  # and its result: none lost
    starts, ends = stack.count("start"), stack.count("end")
    assert set(ends.values()) == {1}  # no run finished twice
    for address in rows:
        # a run that had finished is recorded, never run again; one in flight ended with its
        # runner and runs again (or, had it written its result just before, is adopted)
        assert starts[address] == 1 or (address in unfinished and starts[address] == 2)


def test_a_braket_runner_killed_before_its_state_write_is_resumed_on_another_host(
    tmp_path: Path, braket_emulator: BraketEmulatorEnv, postgres_url: str
) -> None:
    env = braket_emulator
    folder = Folder(tmp_path, env, postgres_url)
    kill_while_creating(folder, env, 2.0, POINTS)
    resumed = subprocess.run(
        [*another_host("ci-runner-8"), sys.executable, "-m", "qplan", "apply", "qplan.yaml"],
        cwd=folder.path,
        env=folder.environ(),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "adopted" in resumed.stdout
    rows = folder.rows()
    assert per_address(env) == Counter({_tag(a): 1 for a in rows})  # one task per address
    assert {s for s, _ in rows.values()} == {"succeeded"}
    check_results(folder)


# --- secrets -------------------------------------------------------------------------------


@pytest.fixture
def role(postgres_url: str) -> Iterator[tuple[str, str]]:
    """A role of its own (name, password) owning the test's database, whose password has
    the characters a URL must encode and a random part to look for."""
    name = f"r_{secrets.token_hex(4)}"
    password = f"pw:/@?#%&= {secrets.token_hex(8)}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
        database = urlsplit(postgres_url).path.lstrip("/")
        admin.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                sql.Identifier(database), sql.Identifier(name)
            )
        )
    try:
        yield name, password
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER").format(sql.Identifier(database))
            )
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def as_role(url: str, name: str, password: str | None) -> str:
    """``url`` for role ``name``, with ``password`` (encoded) or without one."""
    parts = urlsplit(url)
    user = name if password is None else f"{name}:{quote(password, safe='')}"
    return urlunsplit(parts._replace(netloc=f"{user}@{parts.hostname}:{parts.port}"))


@pytest.mark.parametrize("where", ["url", "PGPASSWORD"])
def test_passwords_reach_no_output_file_or_row(
    tmp_path: Path, postgres_url: str, role: tuple[str, str], where: str
) -> None:
    name, password = role
    secret = password.rsplit(" ", 1)[1]  # in every form the password takes: plain, encoded
    wrong_secret = secrets.token_hex(8)
    wrong_password = password.replace(secret, wrong_secret)
    stack = Stack.write(tmp_path / "s", slow_manifest("secrets", 2, rotations=0))
    if where == "url":
        url = as_role(postgres_url, name, password)
    else:
        url = as_role(postgres_url, name, None)
        stack.env["PGPASSWORD"] = password
    assert url.startswith("postgresql://") and (secret in url) == (where == "url")
    state = ("--state", url)
    shown = as_role(postgres_url, name, None)  # where the state is, as qplan shows it

    outputs = []

    def qplan(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        done = stack.qplan(*args)
        outputs.append(done)
        assert done.returncode == code, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        return done

    qplan("validate", "qplan.yaml")
    planned = qplan("plan", "qplan.yaml", *state, "--out", "plan.json")
    assert shown in planned.stdout
    assert "Apply complete: 2 created; 2 succeeded." in qplan("apply", "qplan.yaml", *state).stdout
    qplan("status", "qplan.yaml", *state)
    stale = qplan("show", "plan.json", *state, code=1)
    assert "saved plan is stale" in stale.stderr
    assert len(json.loads(qplan("results", "qplan.yaml", *state, "--format", "json").stdout)) == 2
    if where == "url":
        wrong = as_role(postgres_url, name, wrong_password)
    else:
        stack.env["PGPASSWORD"] = wrong_password
        wrong = url
    refused = qplan("apply", "qplan.yaml", "--state", wrong, code=1)
    assert refused.stderr.startswith(f"{shown}: connection failed:"), refused.stderr
    assert "password authentication failed" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    for done in outputs:
        for hidden in (secret, wrong_secret):
            assert hidden not in done.stdout + done.stderr, done.args
    files = [p for p in stack.folder.rglob("*") if p.is_file()]
    assert stack.folder / "plan.json" in files and (stack.folder / ".qplan").is_dir()
    for path in files:
        data = path.read_bytes()
        assert secret.encode() not in data and wrong_secret.encode() not in data, path
    with opened(postgres_url, stack.manifest) as store:
        document = store.export_stack("secrets")  # type: ignore[attr-defined]
        lock = store.lock_info("secrets")
    assert len(document["rows"]) == 2 and document["events"]
    assert secret not in repr(document) and wrong_secret not in repr(document)
    assert lock is None


@pytest.mark.parametrize("mark", ["/", "#", "@"])
def test_a_password_left_unencoded_in_the_url_is_never_shown(tmp_path: Path, mark: str) -> None:
    """A password pasted into the URL without percent-encoding its ``/``, ``#`` or ``@``: the
    URL no longer says what the user meant, which is the user's mistake (exit 1 or 64, not
    an internal error), and no part of the password appears in what qplan says."""
    first, second = secrets.token_hex(6), secrets.token_hex(6)
    url = f"postgresql://qplan:{first}{mark}{second}@127.0.0.1:5432/qplan?connect_timeout=2"
    stack = Stack.write(tmp_path / "s", slow_manifest("unencoded", 1, rotations=0))
    done = stack.qplan("status", "qplan.yaml", "--state", url)
    said = done.stdout + done.stderr
    assert done.returncode in (1, 64), said
    assert "internal error" not in said and "Traceback" not in said
    assert first not in said and second not in said, said
