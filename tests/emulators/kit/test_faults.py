"""Each fault kind as a plain HTTP client sees it, and what it leaves behind on the server."""

from __future__ import annotations

import http.client
import json
import time

import pytest

from tests.emulators.kit import Fault, FaultKind, Faults
from tests.emulators.kit.toy import ToyEmulator, send

ITEM = "/stores/s/items/a"


def put(toy: ToyEmulator, name: str = "a", **kwargs: object) -> tuple[int, dict[str, str], bytes]:
    return send(toy.url, "PUT", f"/stores/s/items/{name}", {"v": 1}, **kwargs)  # type: ignore[arg-type]


def stored(toy: ToyEmulator, name: str = "a") -> bool:
    return ("s", name) in toy.items


def test_throttle_answers_429_with_retry_after_and_does_nothing(toy: ToyEmulator) -> None:
    toy.faults.throttle(next=1)
    status, headers, body = put(toy)
    assert status == 429
    assert headers["retry-after"] == "1"
    assert json.loads(body) == {"error": {"code": "TooManyRequests", "message": "Rate exceeded"}}
    assert headers["x-ms-request-id"]  # the protocol's request id header, on errors too
    assert not stored(toy)
    assert put(toy)[0] == 201  # only the next call
    toy.faults.throttle(next=1, retry_after=None, operations=["GetItem"])
    status, headers, _ = send(toy.url, "GET", ITEM)
    assert status == 429 and "retry-after" not in headers
    [call] = toy.calls.calls(fault="throttle", operation="GetItem")
    assert (call.status, call.committed, call.error_code) == (429, False, "TooManyRequests")


def test_5xx_before_commit_leaves_no_effect(toy: ToyEmulator) -> None:
    toy.faults.error(next=1)
    status, _, body = put(toy)
    assert status == 500
    assert json.loads(body)["error"]["code"] == "InternalServerError"
    assert not stored(toy)
    toy.faults.error(status=503, next=1)
    status, headers, body = put(toy)
    assert status == 503 and headers["content-type"] == "text/html"  # a load balancer's page
    assert b"503 Service Temporarily Unavailable" in body
    assert not stored(toy)
    assert put(toy)[0] == 201
    statuses = [(c.status, c.fault, c.committed) for c in toy.calls.calls("PutItem")]
    assert statuses == [
        (500, "error_before_commit", False),
        (503, "error_before_commit", False),
        (201, None, True),
    ]


def test_5xx_after_commit_leaves_the_effect(toy: ToyEmulator) -> None:
    toy.faults.error(after_commit=True, status=502, next=1)
    status, _, body = put(toy)
    assert status == 502 and b"502 Bad Gateway" in body
    assert stored(toy)  # the effect happened although the client saw an error
    assert put(toy)[0] == 409  # a blind retry now conflicts (or, elsewhere, duplicates)
    [first, second] = toy.calls.calls("PutItem")
    assert (first.status, first.fault, first.committed, first.error_code) == (
        502,
        "error_after_commit",
        True,
        "502",
    )
    assert (second.status, second.committed) == (409, False)


def test_after_commit_faults_skip_calls_that_did_not_succeed(toy: ToyEmulator) -> None:
    toy.faults.error(after_commit=True, next=1)
    assert send(toy.url, "GET", ITEM)[0] == 404  # refused: nothing to commit, rule not used
    assert put(toy)[0] == 500
    assert stored(toy)
    assert [r["seen"] for r in toy.faults.rules()] == [1]


@pytest.mark.parametrize("after_commit", [False, True])
def test_a_dropped_connection_gets_no_answer(toy: ToyEmulator, after_commit: bool) -> None:
    toy.faults.drop(after_commit=after_commit, next=1)
    with pytest.raises(http.client.RemoteDisconnected):
        put(toy)
    assert stored(toy) is after_commit
    [call] = toy.calls.calls("PutItem")
    assert call.status is None
    assert call.fault == ("drop_after_commit" if after_commit else "drop_before_commit")
    assert call.committed is after_commit
    assert send(toy.url, "GET", "/stores/s/items")[0] == 200  # the server keeps serving


def test_latency_delays_the_targeted_operation_only(toy: ToyEmulator) -> None:
    toy.faults.latency(0.3, operations=["GetItem"])
    started = time.monotonic()
    assert send(toy.url, "GET", ITEM)[0] == 404
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert put(toy)[0] == 201
    assert time.monotonic() - started < 0.3
    toy.faults.throttle(next=1)  # latency is not an outcome: other rules still apply
    started = time.monotonic()
    assert send(toy.url, "GET", ITEM)[0] == 429
    assert time.monotonic() - started >= 0.3
    assert toy.calls.calls("GetItem")[0].duration >= 0.3


@pytest.mark.parametrize("after_commit", [False, True])
def test_a_timeout_outlasts_the_client(toy: ToyEmulator, after_commit: bool) -> None:
    toy.faults.timeout(1.0, after_commit=after_commit, next=1)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        put(toy, timeout=0.3)
    assert time.monotonic() - started < 1.0  # the client gave up first
    [call] = toy.calls.wait_for(1, "PutItem")  # recorded when the hold starts
    assert call.fault == ("timeout_after_commit" if after_commit else "timeout_before_commit")
    assert stored(toy) is after_commit
    assert call.status == (201 if after_commit else None)  # sent late, or never


def test_a_held_answer_arrives_late_to_a_patient_client(toy: ToyEmulator) -> None:
    toy.faults.timeout(0.3, after_commit=True, next=1)
    started = time.monotonic()
    assert put(toy, timeout=5)[0] == 201
    assert time.monotonic() - started >= 0.3


def test_per_operation_next_and_call_ranges(toy: ToyEmulator) -> None:
    toy.faults.throttle(operations=["GetItem"], calls=(2, 3))
    statuses = []
    for _ in range(5):
        put(toy, "x")  # other operations are not counted by the rule
        statuses.append(send(toy.url, "GET", ITEM)[0])
    assert statuses == [404, 429, 429, 404, 404]
    [rule] = toy.faults.rules()
    assert (rule["seen"], rule["fired"]) == (5, 2)


def test_the_first_outcome_rule_decides_and_later_rules_do_not_count_the_call(
    toy: ToyEmulator,
) -> None:
    toy.faults.throttle(next=1)
    toy.faults.error(next=1)
    assert [put(toy, name)[0] for name in "abc"] == [429, 500, 201]
    assert [(r["seen"], r["fired"]) for r in toy.faults.rules()] == [(3, 1), (2, 1)]


def faulted(toy: ToyEmulator, seed: int, calls: int = 60) -> list[int]:
    toy.reset()
    toy.faults.error(rate=0.3, seed=seed, operations=["GetItem"])
    return [i for i in range(calls) if send(toy.url, "GET", ITEM)[0] == 500]


def test_rates_are_deterministic_by_seed(toy: ToyEmulator) -> None:
    first = faulted(toy, seed=7)
    assert faulted(toy, seed=7) == first
    assert faulted(toy, seed=8) != first
    assert 5 <= len(first) <= 35  # about 30 % of 60
    assert all(c.fault == "error_before_commit" for c in toy.calls.calls(status=500))


def test_rules_are_validated() -> None:
    with pytest.raises(ValueError, match="one of next, calls, rate"):
        Fault.throttle(next=1, rate=0.5)
    with pytest.raises(ValueError, match="status"):
        Fault.error(status=404)
    with pytest.raises(ValueError, match="seconds"):
        Fault.latency(0)
    with pytest.raises(ValueError, match="rate"):
        Fault.drop(rate=1.5)
    with pytest.raises(ValueError, match="calls"):
        Fault.drop(calls=(3, 2))
    with pytest.raises(ValueError, match="unknown operations"):
        Faults(operations=["A"]).throttle(operations=["B"])
    with pytest.raises(ValueError):
        Fault.from_json({"kind": "explode"})
    with pytest.raises(ValueError, match="unknown fault fields"):
        Fault.from_json({"kind": "throttle", "often": True})
    rule = Fault.from_json({"kind": "drop_after_commit", "calls": [1, 2], "operations": ["A"]})
    assert rule == Fault.drop(after_commit=True, calls=(1, 2), operations=["A"])
    assert rule.kind is FaultKind.DROP_AFTER_COMMIT
    assert Fault.from_json(rule.to_json()) == rule


def test_reset_restores_the_initial_rules_and_clear_removes_all() -> None:
    faults = Faults([Fault.latency(0.2)], operations=["A", "B"])
    faults.throttle(next=1)
    assert faults.before_commit("A").outcome is not None
    assert faults.before_commit("A").latency == 0.2
    faults.reset()
    assert [(r["id"], r["kind"], r["seen"]) for r in faults.rules()] == [(1, "latency", 0)]
    faults.clear()
    assert faults.rules() == []
    assert faults.before_commit("B").latency == 0.0
