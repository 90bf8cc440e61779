"""`qplan plan`, `show`, `graph`, `status` and `force-unlock` through the command line. The
tests taking ``state_backend`` run on SQLite and on PostgreSQL; the others on SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import psycopg
import pytest

import qplan
from qplan.jobstatus import JobStatus
from qplan.planner import JobFingerprinter
from qplan.state import StateError, StateStore, Transition
from tests.conftest import CLOUD_ENV, EXAMPLES, REPO, copy_example
from tests.e2e.stacks import opened, state_env


def run(*args: str, cwd: Path, state: str | None = None) -> subprocess.CompletedProcess[str]:
    """qplan in ``cwd``, its state at ``state`` (None: the default SQLite file)."""
    return subprocess.run(
        [sys.executable, "-m", "qplan", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=state_env(state, {**os.environ, **CLOUD_ENV}),
        check=False,
    )


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    """A copy of the quickstart example, so that its state lands in a temporary folder."""
    target = tmp_path / "quickstart"
    copy_example("quickstart", target)
    return target


def complete(folder: Path, addresses: list[str], state: str | None = None) -> None:
    """Record ``addresses`` as succeeded, as apply would, in the state at ``state``."""
    stack = qplan.load(folder / "qplan.yaml")
    with opened(state, folder / "qplan.yaml", create=True) as store:
        record(store, stack, addresses)


def record(store: StateStore, stack: qplan.Stack, addresses: list[str]) -> None:
    for job in stack.jobs.values():
        fp = JobFingerprinter(job)
        for address in job.addresses():
            if address not in addresses:
                continue
            first = Transition(
                address,
                JobStatus.SUBMITTING,
                kind="job",
                job=job.name,
                fingerprint=fp(address),
                attempt=1,
                provider="local",
                target=str(job.target),
            )
            store.apply(stack.name, [first])
            store.apply(
                stack.name, [Transition(address, JobStatus.SUCCEEDED, provider_job_id="local-1")]
            )


def test_plan_of_a_new_stack(quickstart: Path, state_backend: str | None) -> None:
    result = run("plan", "qplan.yaml", cwd=quickstart, state=state_backend)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Stack quickstart: state serial 0 in ")
    assert "+ job     bell      local/braket_sv  1 to create" in result.stdout
    assert "+ job     rotation  local/braket_sv  5 to create" in result.stdout
    assert lines[-2] == (
        "Plan: 6 to create, 0 to retry, 0 to replace, 0 to cancel, 0 to forget; "
        "0 unchanged, 0 in flight."
    )
    assert lines[-1].startswith("Estimated cost: free; prices as of ")  # all local
    assert not (quickstart / ".qplan").exists()  # planning writes no state
    if state_backend is not None:  # nor makes a schema in the database
        with psycopg.connect(state_backend) as connection:
            schemas = connection.execute("SELECT nspname FROM pg_namespace").fetchall()
        assert ("qplan",) not in schemas


def test_detailed_exitcode(quickstart: Path) -> None:
    assert run("plan", "qplan.yaml", "--detailed-exitcode", cwd=quickstart).returncode == 2
    complete(
        quickstart,
        [
            "bell",
            *[
                f"rotation[theta={t}]"
                for t in (
                    "0.0",
                    "0.785398163397448",
                    "1.5707963267949",
                    "2.35619449019234",
                    "3.14159265358979",
                )
            ],
        ],
    )
    result = run("plan", "qplan.yaml", "--detailed-exitcode", cwd=quickstart)
    assert result.returncode == 0, result.stdout
    assert (
        result.stdout.splitlines()[-1]
        == "No changes: the state matches the manifest (6 resources)."
    )
    (quickstart / "qplan.yaml").write_text("not: [valid")
    assert run("plan", "qplan.yaml", "--detailed-exitcode", cwd=quickstart).returncode == 1


def test_verbose_lists_changed_instances(quickstart: Path) -> None:
    complete(quickstart, ["bell"])
    result = run("plan", "qplan.yaml", "-v", cwd=quickstart)
    assert "+ rotation[theta=0.785398163397448]" in result.stdout
    assert "  = bell" not in result.stdout.replace("= job", "")  # unchanged ones are not listed
    assert "1 unchanged" in result.stdout


def test_json_follows_the_published_schema(quickstart: Path) -> None:
    complete(quickstart, ["bell"])
    result = run("plan", "qplan.yaml", "--json", cwd=quickstart)
    doc = json.loads(result.stdout)
    schema = json.loads((REPO / "schemas" / "plan.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert doc["counts"] == {"create": 5, "noop": 1}
    assert doc["state_serial"] == 2
    rotation = next(r for r in doc["resources"] if r["name"] == "rotation")
    assert [i["action"] for i in rotation["instances"]] == ["create"] * 5


def test_saved_plan_show_and_staleness(quickstart: Path, state_backend: str | None) -> None:
    state = state_backend
    assert (
        run("plan", "qplan.yaml", "--out", "plan.json", cwd=quickstart, state=state).returncode == 0
    )
    current = run("show", "plan.json", cwd=quickstart, state=state)
    assert current.returncode == 0, current.stderr
    assert current.stdout.splitlines()[-1] == (
        "plan.json is current: `qplan apply plan.json` would do exactly this."
    )
    complete(quickstart, ["bell"], state)
    stale = run("show", "plan.json", cwd=quickstart, state=state)
    assert stale.returncode == 1
    assert "saved plan is stale: the state of stack quickstart changed" in stale.stderr
    assert "(serial 0, now 2)" in stale.stderr
    saved = json.loads((quickstart / "plan.json").read_text())
    assert "QPLAN" not in json.dumps(saved)  # nothing from the environment


def test_graph_formats(quickstart: Path) -> None:
    dot = run("graph", "qplan.yaml", cwd=quickstart)
    assert dot.returncode == 0
    assert '"bell" -> "rotation";' in dot.stdout
    import pydot

    (graph,) = pydot.graph_from_dot_data(dot.stdout)
    assert {n.get_name().strip('"') for n in graph.get_nodes()} >= {"bell", "rotation"}
    expanded = run("graph", "qplan.yaml", "--expand", cwd=quickstart)
    (graph,) = pydot.graph_from_dot_data(expanded.stdout)
    assert len(graph.get_subgraphs()) == 2
    mermaid = run("graph", "qplan.yaml", "--format", "mermaid", cwd=quickstart)
    assert mermaid.stdout.splitlines() == [
        "flowchart LR",
        '  n0["bell<br/>local/braket_sv<br/>1 instance"]',
        '  n1["rotation<br/>local/braket_sv<br/>5 instances"]',
        "  n0 --> n1",
    ]


def test_graph_of_a_session(tmp_path: Path) -> None:
    result = run(
        "graph", str(EXAMPLES / "azure-session" / "qplan.yaml"), "--format", "mermaid", cwd=tmp_path
    )
    assert (
        '  n0(["session scan<br/>az/ionq.simulator<br/>on_job_failure: continue"])' in result.stdout
    )
    assert result.stdout.count("-.->") == 3


def test_status_times_are_utc_with_a_z_like_event_stamps(quickstart: Path) -> None:
    import datetime as dt

    complete(quickstart, ["bell"])
    with opened(None, quickstart / "qplan.yaml") as store:
        (row,) = store.rows("quickstart")
    expected = dt.datetime.fromtimestamp(row.updated_at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    table = run("status", "qplan.yaml", cwd=quickstart).stdout.splitlines()
    assert table[1].split()[4] == expected
    data = json.loads(run("status", "qplan.yaml", "--json", cwd=quickstart).stdout)
    assert data["resources"][0]["updated_at"] == expected


def test_status_and_force_unlock(quickstart: Path, state_backend: str | None) -> None:
    state, manifest = state_backend, quickstart / "qplan.yaml"
    empty = run("status", "qplan.yaml", cwd=quickstart, state=state)
    assert empty.stdout == "Stack quickstart has no resources in its state yet.\n"
    complete(quickstart, ["bell"], state)
    table = run("status", "qplan.yaml", cwd=quickstart, state=state)
    header, row = table.stdout.splitlines()
    assert header.split() == [
        "ADDRESS",
        "STATUS",
        "ATTEMPT",
        "PROVIDER",
        "JOB",
        "ID",
        "LAST",
        "CHANGE",
        "ERROR",
    ]
    assert row.split()[:4] == ["bell", "succeeded", "1", "local-1"]
    data = json.loads(run("status", "qplan.yaml", "--json", cwd=quickstart, state=state).stdout)
    assert [(r["address"], r["status"]) for r in data["resources"]] == [("bell", "succeeded")]
    with opened(state, manifest) as holder:
        holder.acquire("quickstart", "apply", "someone")
        locked = run("status", "qplan.yaml", cwd=quickstart, state=state)
        assert "stack quickstart is locked by someone@" in locked.stderr
        broken = run("force-unlock", "qplan.yaml", "--yes", cwd=quickstart, state=state)
        assert broken.returncode == 0, broken.stderr
        assert broken.stdout.startswith("Broke the lock: stack quickstart is locked by someone@")
        with opened(state, manifest) as store:
            assert store.lock_info("quickstart") is None
        if state is not None:  # on PostgreSQL the holder's session ended with the lock
            with pytest.raises(StateError):
                holder.serial("quickstart")
    assert (
        run("force-unlock", "qplan.yaml", "--yes", cwd=quickstart, state=state).stdout
        == "The stack was not locked.\n"
    )


def test_force_unlock_takes_y_like_apply(quickstart: Path) -> None:
    result = run("force-unlock", "qplan.yaml", "-y", cwd=quickstart)
    assert (result.returncode, result.stdout) == (0, "The stack was not locked.\n"), result.stderr


BIG = """\
version: 1
stack: "big-{{ vars.env }}"
vars: {env: dev}
programs:
  r:
    format: openqasm3
    source: "OPENQASM 3.0; input float a; input float b; qubit q; ry(a) q; rz(b) q;"
jobs:
  scan:
    target: local/braket_sv
    program: r
    shots: 1
    sweep: {grid: {a: {range: [0, 1500, 1]}, b: {range: [0, 1000, 1]}}}  # 1,500,000 points
"""


def test_graph_and_force_unlock_never_refuse_a_large_sweep(tmp_path: Path) -> None:
    """They expand no sweep (graph draws counts, --expand has its own cap), so a sweep above
    --max-sweep-points is no reason to refuse them, and they do not offer the option."""
    (tmp_path / "qplan.yaml").write_text(BIG)
    graph = run("graph", "qplan.yaml", "--format", "mermaid", cwd=tmp_path)
    assert graph.returncode == 0, graph.stderr
    assert '  n0["scan<br/>local/braket_sv<br/>1500000 instances"]' in graph.stdout
    unlock = run("force-unlock", "qplan.yaml", "-y", cwd=tmp_path)
    assert (unlock.returncode, unlock.stdout) == (0, "The stack was not locked.\n"), unlock.stderr
    for command in ("graph", "force-unlock"):
        assert "--max-sweep-points" not in run(command, "--help", cwd=tmp_path).stdout


def test_force_unlock_finds_a_templated_stack_name_with_var(tmp_path: Path) -> None:
    (tmp_path / "qplan.yaml").write_text(BIG)
    with opened(None, tmp_path / "qplan.yaml", create=True) as store:
        store.acquire("big-prod", "apply", "someone")
    unlock = run("force-unlock", "qplan.yaml", "-y", "--var", "env=prod", cwd=tmp_path)
    assert unlock.stdout.startswith("Broke the lock: stack big-prod is locked by someone@")


def test_show_checks_a_plan_with_the_variables_it_was_made_with(quickstart: Path) -> None:
    made = run("plan", "qplan.yaml", "--var", "shots=500", "--out", "p.json", cwd=quickstart)
    assert made.returncode == 0, made.stderr
    without = run("show", "p.json", cwd=quickstart)
    assert without.returncode == 1
    assert "saved plan is stale: the manifest, its programs or its variables changed" in (
        without.stderr
    )
    assert run("show", "p.json", "--var", "shots=500", cwd=quickstart).returncode == 0


QUICKSTART_POINTS = [
    f"rotation[theta={t}]"
    for t in ("0.0", "0.785398163397448", "1.5707963267949", "2.35619449019234", "3.14159265358979")
]


def test_points_dropped_from_a_sweep_are_counted_on_their_job(quickstart: Path) -> None:
    complete(quickstart, ["bell", *QUICKSTART_POINTS])
    manifest = quickstart / "qplan.yaml"
    text = manifest.read_text().replace("3.141592653589793, 5]", "3.141592653589793, 3]")
    bell = (
        '  bell:\n    target: local/braket_sv\n    program: bell\n    shots: "{{ vars.shots }}"\n'
    )
    manifest.write_text(text.replace(bell, "").replace("    after: [bell]\n", ""))  # job gone

    result = run("plan", "qplan.yaml", "-v", cwd=quickstart)
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines[2:7] == [
        ["-/+", "job", "rotation", "local/braket_sv", "2", "to", "forget,", "3", "unchanged"],
        [
            "-",
            "rotation[theta=0.785398163397448]",
            "(succeeded,",
            "no",
            "longer",
            "in",
            "the",
            "sweep)",
        ],
        [
            "-",
            "rotation[theta=2.35619449019234]",
            "(succeeded,",
            "no",
            "longer",
            "in",
            "the",
            "sweep)",
        ],
        ["-", "gone", "bell", "(not", "in", "the", "manifest)", "1", "to", "forget"],
        ["-", "bell", "(succeeded,", "no", "longer", "in", "the", "manifest)"],
    ]
    assert "gone    rotation" not in result.stdout

    doc = json.loads(run("plan", "qplan.yaml", "--json", cwd=quickstart).stdout)
    schema = json.loads((REPO / "schemas" / "plan.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert doc["counts"] == {"forget": 3, "noop": 3}

    applied = run("apply", "qplan.yaml", cwd=quickstart)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines()[-1] == "Apply complete: 3 forgotten."
    with opened(None, quickstart / "qplan.yaml") as store:
        assert sorted(r.address for r in store.rows("quickstart")) == [
            QUICKSTART_POINTS[0],
            QUICKSTART_POINTS[2],
            QUICKSTART_POINTS[4],
        ]
