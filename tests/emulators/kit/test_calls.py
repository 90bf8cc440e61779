"""The call record, in process and over the control channel."""

from __future__ import annotations

import itertools
import threading
import time
import urllib.error

import pytest

from tests.emulators.kit import AdminClient
from tests.emulators.kit.toy import ToyEmulator, send


def test_every_call_is_recorded_with_its_outcome_and_parameters(toy: ToyEmulator) -> None:
    before = time.time()
    send(toy.url, "PUT", "/stores/s/items/a", {"v": 1})
    send(toy.url, "GET", "/stores/s/items/zz")
    send(toy.url, "GET", "/nowhere")
    send(toy.url, "POST", "/bug")
    calls = toy.calls.calls()
    assert [(c.operation, c.method, c.status, c.committed) for c in calls] == [
        ("PutItem", "PUT", 201, True),
        ("GetItem", "GET", 404, False),
        ("UnknownOperation", "GET", 404, False),
        ("Bug", "POST", 500, False),
    ]
    put = calls[0]
    assert put.path == "/stores/s/items/a"
    assert put.params == {"store": "s", "name": "a"}
    assert (put.store, put.name) == ("s", "a")  # parameters read as attributes
    with pytest.raises(AttributeError):
        _ = put.no_such_field
    assert put.to_dict()["store"] == "s" and "params" not in put.to_dict()
    assert calls[1].error_code == "NotFound"
    assert all(a.seq < b.seq and a.monotonic <= b.monotonic for a, b in itertools.pairwise(calls))
    assert before <= put.wall <= time.time()
    assert len({c.request_id for c in calls}) == 4
    assert toy.calls.counts() == {"PutItem": 1, "GetItem": 1, "UnknownOperation": 1, "Bug": 1}
    assert toy.calls.status_counts()["GetItem"] == {404: 1}
    assert toy.calls.calls(name="zz")[0].operation == "GetItem"
    assert toy.calls.filter(lambda c: c.status == 500)[0].operation == "Bug"
    assert len(toy.calls) == 4
    toy.calls.reset()
    assert toy.calls.calls() == []


def test_control_routes_are_not_recorded(toy: ToyEmulator) -> None:
    admin = AdminClient(toy.url)
    assert admin.health() == {"status": "ok", "url": toy.url, "service": "toy"}
    admin.counts()
    assert len(toy.calls) == 0


def test_wait_for_blocks_until_the_calls_arrive(toy: ToyEmulator) -> None:
    def later() -> None:
        time.sleep(0.2)
        for name in "abc":
            send(toy.url, "PUT", f"/stores/s/items/{name}", {})

    thread = threading.Thread(target=later)
    thread.start()
    try:
        found = toy.calls.wait_for(3, "PutItem", timeout=10)
        assert [c.name for c in found] == ["a", "b", "c"]
    finally:
        thread.join()
    with pytest.raises(TimeoutError):
        toy.calls.wait_for(4, "PutItem", timeout=0.1)
    assert toy.calls.wait_for(1, "PutItem", name="b")[0].status == 201


def test_the_record_and_the_faults_over_http(toy: ToyEmulator) -> None:
    admin = AdminClient(toy.url)
    rule = admin.add_fault("throttle", operations=["PutItem"], next=1, retry_after=3)
    assert (rule["id"], rule["kind"], rule["retry_after"]) == (1, "throttle", 3)
    thread = threading.Thread(target=lambda: send(toy.url, "PUT", "/stores/s/items/a", {}))
    thread.start()
    try:
        [call] = admin.wait_for_calls(1, "PutItem", timeout=10)
    finally:
        thread.join()
    assert (call["status"], call["fault"], call["store"]) == (429, "throttle", "s")
    assert admin.calls("PutItem", fault="throttle")[0]["request_id"] == call["request_id"]
    assert admin.calls(status=201) == []
    with pytest.raises(TimeoutError):
        admin.wait_for_calls(2, "PutItem", timeout=0.2)
    assert [(r["seen"], r["fired"]) for r in admin.faults()] == [(1, 1)]
    for bad in ({"kind": "throttle", "next": 1, "rate": 0.5}, {"kind": "nope"}):
        with pytest.raises(urllib.error.HTTPError) as caught:
            admin.add_fault(**bad)
        assert caught.value.code == 400
        caught.value.close()
    admin.clear_faults()
    assert admin.faults() == [] and toy.faults.rules() == []
    assert admin.set_config(queue_time=0.5)["queue_time"] == 0.5
    assert toy.config.get("queue_time") == 0.5
    with pytest.raises(urllib.error.HTTPError) as caught:
        admin.set_config(queue_time=-1)
    assert caught.value.code == 400
    caught.value.close()
    admin.reset()
    assert (toy.config.get("queue_time"), len(toy.calls)) == (0.0, 0)
    with pytest.raises(ValueError, match="loopback"):
        AdminClient("http://example.com:80")
