"""What every state store guarantees, on a real SQLite file and a real PostgreSQL database:
rows per resource, checked transitions, an append-only event log, results stored once,
consistent snapshots, whole-stack copies, and writers of one stack that never lose a change."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from qplan.jobstatus import InvalidTransition, JobStatus
from qplan.state import StateError, Transition
from qplan.state.sql import SqlStore
from tests.unit.state.conftest import new

S = JobStatus


def test_each_change_bumps_the_serial_and_logs_an_event(store: SqlStore) -> None:
    assert store.serial("s") == 0
    assert store.apply("s", [new("a"), new("b")]) == 1
    assert store.apply("s", [Transition("a", S.QUEUED, provider_job_id="job-1")]) == 2
    assert store.serial("s") == 2
    assert store.serial("other") == 0
    events = store.events("s", "a")
    assert [(e["old_status"], e["new_status"], e["serial"]) for e in events] == [
        (None, "submitting", 1),
        ("submitting", "queued", 2),
    ]
    row = store.row("s", "a")
    assert row is not None
    assert (row.status, row.provider_job_id, row.idempotency_key) == (S.QUEUED, "job-1", "key-a")
    assert [r.address for r in store.rows("s")] == ["a", "b"]


def test_a_bad_transition_writes_nothing(store: SqlStore) -> None:
    store.apply("s", [new("a")])
    with pytest.raises(InvalidTransition):
        store.apply("s", [Transition("a", S.QUEUED), Transition("a", S.SUBMITTING)])
    assert store.row("s", "a").status is S.SUBMITTING  # type: ignore[union-attr]
    assert store.serial("s") == 1
    assert len(store.events("s")) == 1
    with pytest.raises(StateError, match="a new row needs"):
        store.apply("s", [Transition("b", S.SUBMITTING)])
    assert store.serial("s") == 1  # and the store goes on working after a failed transaction
    assert store.apply("s", [Transition("a", S.QUEUED)]) == 2


def test_events_are_append_only_and_results_never_deleted(store: SqlStore) -> None:
    store.apply("s", [new("a")])
    digest = store.put_result(b'{"00": 10}')
    for statement, why in (
        ("UPDATE events SET detail = 'x'", "append-only"),
        ("DELETE FROM events", "append-only"),
        ("DELETE FROM results", "never deleted"),
    ):
        with pytest.raises(StateError, match=why):
            store._x(statement)
    assert store.result(digest) == b'{"00": 10}'
    assert len(store.events("s")) == 1


def test_results_are_stored_once_by_content(store: SqlStore) -> None:
    first = store.put_result(b"same")
    second = store.put_result(b"same")
    assert first == second
    assert store._x("SELECT COUNT(*) FROM results").fetchone()[0] == 1
    data = bytes(range(256)) * 10  # binary, with NULs: stored as it is
    assert store.result(store.put_result(data)) == data


def test_results_and_transitions_are_one_transaction(store: SqlStore) -> None:
    store.apply("s", [new("a")])
    with pytest.raises(StateError, match="a new row needs"):
        store.apply("s", [Transition("b", S.SUBMITTING)], [b"lost with the transaction"])
    assert store._x("SELECT COUNT(*) FROM results").fetchone()[0] == 0


def test_forget_keeps_the_history(store: SqlStore) -> None:
    digest = store.put_result(b"counts")
    store.apply("s", [new("a")])
    store.apply("s", [Transition("a", S.SUCCEEDED, result_hash=digest)])
    assert store.generation("s") == 0
    store.forget("s", ["a"])
    assert store.row("s", "a") is None
    assert store.generation("s") == 1
    last = store.events("s", "a")[-1]
    assert (last["old_status"], last["new_status"], last["result_hash"]) == (
        "succeeded",
        None,
        digest,
    )
    assert store.result(digest) == b"counts"


def test_snapshot_reads_every_row_with_its_serial(store: SqlStore) -> None:
    store.apply("s", [new(f"a[i={i}]") for i in range(100)])
    store.apply("t", [new("other")])
    snap = store.snapshot("s")
    assert (snap.serial, snap.generation) == (1, 0)
    assert len(snap.rows) == 100
    assert snap.rows["a[i=7]"].status is S.SUBMITTING
    assert snap.rows["a[i=7]"].fingerprint == "fp1"
    assert store.snapshot("nothing").rows == {}


def test_device_specs_are_kept_per_provider_and_replaced_whole(store: SqlStore) -> None:
    assert store.device_specs("pq") == {}
    store.put_device_specs("pq", {"FRESNEL": '{"name": "Fresnel"}', "EMU_FREE": "{}"}, 100.0)
    store.put_device_specs("other", {"FRESNEL": "{}"}, 50.0)
    kept = store.device_specs("pq")
    assert sorted(kept) == ["EMU_FREE", "FRESNEL"]
    assert (kept["FRESNEL"].specs, kept["FRESNEL"].fetched_at) == ('{"name": "Fresnel"}', 100.0)
    store.put_device_specs("pq", {"FRESNEL": '{"name": "Fresnel 2"}'}, 200.0)
    kept = store.device_specs("pq")
    assert list(kept) == ["FRESNEL"] and kept["FRESNEL"].fetched_at == 200.0
    assert list(store.device_specs("other")) == ["FRESNEL"]
    assert store.serial("pq") == 0  # a cache: no stack moved


def test_writers_of_one_stack_never_lose_a_change(open_state: Callable[..., SqlStore]) -> None:
    # four connections change one stack at once: every change gets its own serial, in order
    open_state().apply("s", [new(f"a{i}") for i in range(4)])
    stores = [open_state() for _ in range(4)]
    errors: list[BaseException] = []

    def work(i: int, store: SqlStore) -> None:
        try:
            for n in range(15):
                status = S.QUEUED if n == 0 else S.RUNNING
                store.apply("s", [Transition(f"a{i}", status, provider_job_id=f"j{i}-{n}")])
        except BaseException as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i, s)) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    check = open_state()
    assert check.serial("s") == 1 + 4 * 15
    serials = [e["serial"] for e in check.events("s")]
    assert serials == sorted(serials) and len(set(serials[4:])) == 60
    assert {r.provider_job_id for r in check.rows("s")} == {f"j{i}-14" for i in range(4)}


def test_a_stack_copied_whole_reads_the_same(open_state: Callable[..., SqlStore]) -> None:
    source = open_state()
    digest = store_result = source.put_result(b"kept")
    source.apply("s", [new("a"), new("b")])
    source.apply("s", [Transition("a", S.SUCCEEDED, result_hash=digest)])
    source.forget("s", ["b"])
    doc = source.export_stack("s")
    assert doc["results"] == {store_result: b"kept"}
    assert (doc["serial"], doc["generation"]) == (3, 1) and doc["lineage"]
    other = open_state()
    other.import_stack({**doc, "stack": "copy"})
    assert [r.address for r in other.rows("copy")] == ["a"]
    assert other.row("copy", "a").result_hash == digest  # type: ignore[union-attr]
    assert other.lineage("copy") == doc["lineage"]
    assert other.serial("copy") == 4  # past the copied serial: plans saved before are stale
    assert len(other.events("copy")) == len(doc["events"])
    again = other.export_stack("copy")
    assert again["rows"][0] | {"stack": "s"} == doc["rows"][0]


def test_a_push_over_a_stack_keeps_its_log_append_only(open_state: Callable[..., SqlStore]) -> None:
    store = open_state()
    store.apply("s", [new("a")])
    doc = store.export_stack("s")
    store.apply("s", [Transition("a", S.QUEUED, provider_job_id="j1")])
    events = store.events("s")
    store.import_stack(doc)  # an older copy pushed back (forced): the log keeps both
    assert store.row("s", "a").status is S.SUBMITTING  # type: ignore[union-attr]
    after = store.events("s")
    assert after[: len(events)] == events
    assert after[-1]["detail"] == "state push" and after[-1]["new_status"] == "submitting"
    assert store.generation("s") == 1  # keys made after the push differ from those before
    store.apply("s", [Transition("a", S.QUEUED)])  # and the stack goes on


def test_a_copy_with_a_tampered_result_is_refused(open_state: Callable[..., SqlStore]) -> None:
    store = open_state()
    digest = store.put_result(b"good")
    store.apply("s", [new("a")])
    store.apply("s", [Transition("a", S.SUCCEEDED, result_hash=digest)])
    doc = store.export_stack("s")
    doc["results"][digest] = b"evil"
    target = open_state()
    with pytest.raises(StateError, match="does not match its hash"):
        target.import_stack({**doc, "stack": "t"})
    assert target.serial("t") == 0 and list(target.rows("t")) == []
