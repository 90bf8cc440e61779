"""The portable state document: the same state gives the same bytes, a document read back
writes the same bytes again and loads into another store as the same state, and every
mistake in a document is refused with the file and the field named."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from qplan.jobstatus import JobStatus
from qplan.state import SqliteStore, StateError, Transition, content_hash, portable
from qplan.state.sql import ROW_FIELDS, SqlStore
from tests.unit.state.conftest import new

S = JobStatus


def _filled(store: SqlStore) -> dict[str, Any]:
    """A stack with a result, a forgotten row and a row in flight; its export."""
    ok = store.put_result(b'{"00": 48, "11": 52}')
    old = store.put_result(b'{"0": 100}')
    store.apply("s", [new("a"), new("b[theta=0.5]"), new("c")])
    store.apply("s", [Transition("b[theta=0.5]", S.SUCCEEDED, result_hash=old)])
    store.apply("s", [Transition("a", S.QUEUED, provider_job_id="local-1", member=0)])
    store.apply("s", [Transition("a", S.SUCCEEDED, result_hash=ok, detail="done é")])
    store.forget("s", ["b[theta=0.5]"])
    return store.export_stack("s")


def test_the_same_state_gives_the_same_bytes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    text = portable.dumps(_filled(store))
    assert portable.dumps(store.export_stack("s")) == text  # pulled again: the same bytes
    assert text.isascii() and text.endswith("}\n")
    document = json.loads(text)
    assert list(document) == sorted(document)
    assert (document["format"], document["version"], document["stack"]) == ("qplan-state", 1, "s")
    assert [r["address"] for r in document["rows"]] == ["a", "c"]
    assert sorted(document["rows"][0]) == sorted(ROW_FIELDS.split(", ")[1:])  # no stack
    assert all("id" not in e and "stack" not in e for e in document["events"])
    assert document["events"][-1]["detail"] == "forgotten"  # the forgotten row's result is kept
    assert sorted(document["results"]) == sorted(
        {content_hash(b'{"00": 48, "11": 52}'), content_hash(b'{"0": 100}')}
    )
    lists = [document[k] for k in ("events", "results", "rows")]
    assert len(text.splitlines()) == 2 + 7 + sum(2 + len(x) for x in lists)  # a line each
    back = portable.loads(text.encode(), "doc.json")
    assert portable.dumps(back) == text  # read back, written again: the same bytes


def test_a_document_loads_into_another_backend_as_the_same_state(
    open_state: Callable[..., SqlStore], tmp_path: Path
) -> None:
    source = SqliteStore(tmp_path / "source.db")
    text = portable.dumps(_filled(source))
    target = open_state()
    target.import_stack(portable.loads(text, "doc.json"))
    copied = target.export_stack("s")
    assert copied["rows"] == source.export_stack("s")["rows"]
    assert copied["results"] == source.export_stack("s")["results"]
    assert copied["lineage"] == source.lineage("s")
    again = json.loads(portable.dumps(copied))
    assert again["serial"] == source.serial("s") + 1  # past the copied one
    assert again | {"serial": 0} == json.loads(text) | {"serial": 0}


def test_a_document_holds_no_location(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "secret-folder" / "state.db")
    text = portable.dumps(_filled(store))
    assert "secret-folder" not in text and "://" not in text and str(tmp_path) not in text
    assert set(json.loads(text)) == {
        "format", "version", "stack", "lineage", "serial", "generation", "created_at", "rows",
        "events", "results",
    }  # fmt: skip


def test_a_stack_without_state_is_not_written(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    with pytest.raises(StateError, match="stack s has no state"):
        portable.dumps(store.export_stack("s"))


def test_save_writes_a_file_only_its_owner_reads(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    state = _filled(store)
    out = tmp_path / "doc.json"
    out.write_text("old")
    out.chmod(0o644)
    portable.save(state, out)
    assert out.read_text() == portable.dumps(state)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".doc")] == []
    assert portable.load_file(out)["rows"] == [
        {k: v for k, v in r.items() if k != "stack"} for r in state["rows"]
    ]
    with pytest.raises(StateError, match=r"^/nonexistent/doc\.json: cannot write"):
        portable.save(state, Path("/nonexistent/doc.json"))
    with pytest.raises(StateError, match=r"missing\.json: cannot read the state document"):
        portable.load_file(tmp_path / "missing.json")


@pytest.fixture
def good(tmp_path: Path) -> dict[str, Any]:
    """A parsed document that loads."""
    document: dict[str, Any] = json.loads(
        portable.dumps(_filled(SqliteStore(tmp_path / "state.db")))
    )
    return document


def _refused(document: Any) -> str:
    text = document if isinstance(document, (str, bytes)) else json.dumps(document)
    with pytest.raises(StateError) as caught:
        portable.loads(text, "doc.json")
    return str(caught.value)


def _result(document: dict[str, Any], data: bytes) -> str:
    return next(d for d, v in document["results"].items() if base64.b64decode(v) == data)


def test_not_a_document_is_refused_saying_where(good: dict[str, Any]) -> None:
    assert _refused('{\n  "format": \n}') == (
        "doc.json:3:1: not a qplan state document: invalid JSON: Expecting value"
    )
    assert _refused(b"\xff\xfe{}") == (
        "doc.json: not a qplan state document: not UTF-8 text (byte 0)"
    )
    assert _refused([1, 2]) == 'doc.json: not a qplan state document (no "format": "qplan-state")'
    assert _refused({"format": "qplan-plan"}) == (
        'doc.json: not a qplan state document (no "format": "qplan-state")'
    )
    assert _refused('{"format": "qplan-state", "format": "qplan-state"}') == (
        "doc.json: not a qplan state document: the key 'format' appears twice in one object"
    )
    text = portable.dumps(portable.loads(json.dumps(good), "x")).replace(
        '"created_at": ', '"created_at": NaN, "x": ', 1
    )
    assert _refused(text) == "doc.json: not a qplan state document: NaN is not a JSON number"


def test_a_newer_version_is_refused(good: dict[str, Any]) -> None:
    assert _refused(good | {"version": 2}) == (
        "doc.json: version: state document version 2 was written by a newer qplan (this one "
        "reads version 1); upgrade qplan"
    )
    assert _refused(good | {"version": "1"}) == (
        'doc.json: version: "1" is not a version of this format'
    )
    assert _refused(good | {"version": 0}) == "doc.json: version: 0 is not a version of this format"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("lineage"), "doc.json: missing field 'lineage'"),
        (lambda d: d.update(owner="me"), "doc.json: owner: unknown field"),
        (lambda d: d.update(stack=""), "doc.json: stack: must not be empty"),
        (lambda d: d.update(serial=True), "doc.json: serial: must be an integer, got true"),
        (lambda d: d.update(generation=-1), "doc.json: generation: -1 is negative"),
        (lambda d: d.update(created_at=None), "doc.json: created_at: must be a number, got null"),
        (lambda d: d.update(rows={}), "doc.json: rows: must be a list, got an object"),
        (lambda d: d.update(results=[]), "doc.json: results: must be an object, got a list"),
        (lambda d: d["rows"].append(7), "doc.json: rows[2]: must be an object, got 7"),
        (lambda d: d["rows"][1].pop("target"), "doc.json: rows[1]: missing field 'target'"),
        (lambda d: d["rows"][0].update(stack="s"), "doc.json: rows[0].stack: unknown field"),
        (
            lambda d: d["rows"][0].update(status="runing"),
            "doc.json: rows[0].status: must be a job status (cancelled, cancelling, failed, "
            'queued, running, submitting, succeeded), got "runing"',
        ),
        (
            lambda d: d["rows"][0].update(attempt=1.5),
            "doc.json: rows[0].attempt: must be an integer, got 1.5",
        ),
        (
            lambda d: d["rows"][0].update(kind=None),
            "doc.json: rows[0].kind: must be a string, got null",
        ),
        (
            lambda d: d["rows"].append(dict(d["rows"][0])),
            "doc.json: rows[2].address: 'a' appears in two rows",
        ),
        (
            lambda d: d["rows"][0].update(result_hash="ABC"),
            'doc.json: rows[0].result_hash: must be a SHA-256 hash in lower-case hex, got "ABC"',
        ),
        (
            lambda d: d["events"][0].update(id=1),
            "doc.json: events[0].id: unknown field",
        ),
        (
            lambda d: d["events"][0].update(serial=99),
            "doc.json: events[0].serial: 99 is past the document's serial 5",
        ),
        (
            lambda d: d["events"][2].update(new_status="done"),
            "doc.json: events[2].new_status: must be a job status (cancelled, cancelling, "
            'failed, queued, running, submitting, succeeded), got "done"',
        ),
    ],
)
def test_each_mistake_is_refused_at_its_field(
    good: dict[str, Any], change: Callable[[dict[str, Any]], object], message: str
) -> None:
    change(good)
    assert _refused(good) == message


def test_results_are_checked_against_their_hashes(good: dict[str, Any]) -> None:
    digest = _result(good, b'{"00": 48, "11": 52}')
    short = digest[:12]
    bad = json.loads(json.dumps(good))
    bad["results"][digest] = "not base64!"
    assert _refused(bad) == f"doc.json: results.{short}: not valid base64"
    bad["results"][digest] = base64.b64encode(b'{"00": 100}').decode()
    assert _refused(bad) == f"doc.json: results.{short}: its content does not match its hash"
    bad["results"][digest] = 12
    assert _refused(bad) == f"doc.json: results.{short}: must be base64 text, got 12"
    bad["results"] = {digest.upper(): good["results"][digest]}
    assert _refused(bad) == (
        f"doc.json: results.{digest.upper()[:12]}: a result's key must be its SHA-256 hash "
        "in lower-case hex"
    )
    missing = json.loads(json.dumps(good))
    del missing["results"][digest]
    assert _refused(missing) == (
        f"doc.json: rows[0].result_hash: names result {short}, which the document does not hold"
    )
    extra = json.loads(json.dumps(good))
    data = b"nobody's"
    extra["results"][content_hash(data)] = base64.b64encode(data).decode()
    assert _refused(extra) == (
        f"doc.json: results.{content_hash(data)[:12]}: no row or event names this result"
    )
    forgotten = _result(good, b'{"0": 100}')  # named by events only: the row was forgotten
    del good["results"][forgotten]
    assert _refused(good).startswith("doc.json: events[")


def test_a_document_pushed_back_where_it_came_from_changes_nothing(
    open_state: Callable[..., SqlStore],
) -> None:
    store = open_state()
    state = _filled(store)
    events = store.events("s")
    serial, generation = store.serial("s"), store.generation("s")
    assert store.import_stack(portable.loads(portable.dumps(state), "doc.json")) == serial
    assert (store.serial("s"), store.generation("s")) == (serial, generation)
    assert store.events("s") == events  # not one event more
    store.apply("s", [Transition("c", S.QUEUED)])
    assert store.import_stack(state) == serial + 2  # a change since: the older copy is a push
    assert store.row("s", "c").status is S.SUBMITTING  # type: ignore[union-attr]
    assert store.events("s")[-1]["detail"] == "state push"
