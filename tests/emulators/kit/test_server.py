"""The server base: routing, bodies, error shapes, lifecycle, and the job engine."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import threading
import time

import pytest

from tests.emulators.kit import ApiError, JobEngine, Protocol, Request, Response, gateway_page
from tests.emulators.kit.http import Route
from tests.emulators.kit.toy import ToyEmulator, send


def test_routes_decode_each_segment_after_splitting(toy: ToyEmulator) -> None:
    assert send(toy.url, "PUT", "/stores/s/items/a%2Fb%3Ac", {"v": 1})[0] == 201
    assert ("s", "a/b:c") in toy.items  # one encoded label stays one segment
    assert send(toy.url, "GET", "/stores/s/items/a%2Fb%3Ac/")[0] == 200  # trailing slash
    status, _, body = send(toy.url, "GET", "/blobs/x/y%20z?k=1&k=2&e=")
    assert status == 200
    assert json.loads(body) == {"path": "x/y z", "query": {"k": ["1", "2"], "e": [""]}}
    toy.config.update(queue_time=30)
    job = json.loads(send(toy.url, "POST", "/jobs")[2])["id"]
    status, _, body = send(toy.url, "POST", f"/jobs/{job}:cancel")
    assert (status, json.loads(body)["status"]) == (200, "CANCELLED")
    status, _, body = send(toy.url, "DELETE", "/stores/s/items/a")  # no such verb here
    assert status == 404 and json.loads(body)["error"]["code"] == "NotFound"


def test_route_patterns() -> None:
    cancel = Route("PUT", "/task/{arn+}/cancel", "Cancel", "cancel")
    assert cancel.match("PUT", ["task", "arn:a", "b", "cancel"]) == {"arn": "arn:a/b"}
    assert cancel.match("PUT", ["task", "cancel"]) is None
    assert cancel.match("GET", ["task", "x", "cancel"]) is None
    suffix = Route("POST", "/sessions/{id}:close", "Close", "close")
    assert suffix.match("POST", ["sessions", "s-1:close"]) == {"id": "s-1"}
    assert suffix.match("POST", ["sessions", "s-1"]) is None
    with pytest.raises(ValueError):
        Route("GET", "/{a+}/{b+}", "X", "x")


def test_bodies_gzip_and_chunked(toy: ToyEmulator) -> None:
    packed = gzip.compress(json.dumps({"v": 2}).encode())
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    assert send(toy.url, "PUT", "/stores/s/items/g", raw=packed, headers=headers)[0] == 201
    assert toy.items[("s", "g")] == {"v": 2}
    status, _, body = send(
        toy.url, "PUT", "/stores/s/items/bad", raw=b"\x1f\x8bnope", headers=headers
    )
    assert status == 400 and json.loads(body)["error"]["code"] == "BadRequest"
    status, _, body = send(toy.url, "PUT", "/stores/s/items/notjson", raw=b"{oops")
    assert status == 400 and "not valid JSON" in json.loads(body)["error"]["message"]
    status, answer_headers, body = send(
        toy.url, "GET", "/stores/s/items/g", headers={"Accept-Encoding": "gzip"}
    )
    assert answer_headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(body)) == {"v": 2}
    host, port = toy.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        chunks = iter([b'{"v":', b" 3}"])
        connection.request("PUT", "/stores/s/items/c", body=chunks, encode_chunked=True)
        assert connection.getresponse().status == 201
    finally:
        connection.close()
    assert toy.items[("s", "c")] == {"v": 3}


def test_a_request_cut_short_by_its_client_never_arrives(toy: ToyEmulator) -> None:
    # a client killed while sending its body: a server never acts on half a request
    host, port = toy.url.removeprefix("http://").split(":")
    for head, part in (
        (b"Content-Length: 40\r\n", b'{"v": 4'),
        (b"Transfer-Encoding: chunked\r\n", b"20\r\n" + b'{"v": 4'),
    ):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"PUT /stores/s/items/cut HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n" + part)
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(1024) == b""  # closed, with no answer
    time.sleep(0.1)
    assert ("s", "cut") not in toy.items and toy.calls.calls() == []


def test_a_bug_in_a_handler_is_a_500_in_the_protocol_shape(toy: ToyEmulator) -> None:
    status, headers, body = send(toy.url, "POST", "/bug")
    assert status == 500
    assert json.loads(body)["error"] == {
        "code": "InternalServerError",
        "message": "emulator error: a bug in the emulator",
    }
    assert headers["x-ms-request-id"]
    assert send(toy.url, "GET", "/stores/s/items")[0] == 200


def test_protocol_shapes() -> None:
    request = Request("GET", "/", [], {}, {}, b"", "rid")

    class Wrapped(Protocol):  # Pasqal-like: every answer wrapped
        def success(self, status: int, payload: object, request: Request) -> Response:
            return Response.json(status, {"status": "success", "code": status, "data": payload})

        def error(self, error: ApiError, request: Request | None) -> Response:
            body = {"status": "fail", "code": error.status, "message": error.message, "data": {}}
            return Response.json(error.status, body, error.headers, error.code)

    wrapped = Wrapped()
    assert json.loads(wrapped.success(200, [1], request).body)["data"] == [1]
    throttled = wrapped.error(wrapped.throttled(2), request)
    assert (throttled.status, throttled.headers["Retry-After"]) == (429, "2")
    assert json.loads(throttled.body)["code"] == 429
    plain = Protocol().error(ApiError(400, "Bad", "no", {"field": "x"}), None)
    assert json.loads(plain.body) == {"code": "Bad", "message": "no", "field": "x"}
    assert gateway_page(504).error_code == "504"


def held_call(url: str) -> None:
    """A call the server holds until it stops: closed without an answer."""
    with pytest.raises(http.client.RemoteDisconnected):
        send(url, "GET", "/stores/s/items/a")


def test_start_stop_always_stops_and_leaves_nothing_behind() -> None:
    before = set(threading.enumerate())  # the session's toy server runs meanwhile
    with pytest.raises(RuntimeError, match="boom"), ToyEmulator() as emulator:
        url = emulator.url
        assert send(url, "PUT", "/stores/s/items/a", {})[0] == 201
        idle = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])))  # keep-alive
        emulator.faults.timeout(30, next=1)
        held = threading.Thread(target=held_call, args=(url,))
        held.start()
        emulator.calls.wait_for(1, "GetItem")
        raise RuntimeError("boom")  # a failing test: the with block still stops the server
    started = time.monotonic()
    held.join(10)
    assert not held.is_alive() and time.monotonic() - started < 5  # the hold ended at stop
    idle.close()
    assert not emulator.running
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=1).close()
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert set(threading.enumerate()) - before == set()
    emulator.stop()  # idempotent
    with pytest.raises(RuntimeError, match="not started"):
        _ = emulator.url
    with pytest.raises(ValueError, match="loopback"):
        ToyEmulator(host="0.0.0.0")


def test_jobs_queue_run_and_end(toy: ToyEmulator) -> None:
    toy.config.update(queue_time=0.2, run_time=0.1)
    job = json.loads(send(toy.url, "POST", "/jobs")[2])["id"]

    def status() -> str:
        return str(json.loads(send(toy.url, "GET", f"/jobs/{job}")[2])["status"])

    seen = {status()}
    deadline = time.monotonic() + 5
    while "DONE" not in seen and time.monotonic() < deadline:
        seen.add(status())
        time.sleep(0.01)
    assert {"QUEUED", "RUNNING", "DONE"} <= seen
    assert send(toy.url, "POST", f"/jobs/{job}:cancel")[0] == 409
    toy.config.update(queue_time=30)
    waiting = json.loads(send(toy.url, "POST", "/jobs")[2])["id"]
    toy.reset()  # drops what the engine had scheduled
    assert send(toy.url, "GET", f"/jobs/{waiting}")[0] == 404


def test_job_engine_pause_and_clear() -> None:
    engine = JobEngine(max_workers=1, name="test-engine")
    ran: list[str] = []
    engine.start()
    try:
        engine.later(0.05, lambda: ran.append("soon"))
        engine.later(30, lambda: ran.append("never"))
        deadline = time.monotonic() + 5
        while not ran and time.monotonic() < deadline:
            time.sleep(0.01)
        engine.clear()
        assert engine.submit(lambda: ran.append("work"))
        assert engine.pause(0.01)
    finally:
        engine.stop()
    assert ran[0] == "soon" and "never" not in ran
    assert not engine.submit(lambda: None)
    assert not engine.pause(0.01)  # stopped: returns at once
