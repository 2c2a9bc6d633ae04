"""The gateway's parts that need no payment: SSE splitting, upstream-header sources, the seller's
event lines, and how upstream failures are answered (against the real upstream process and a
port nothing listens on)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request

from mppcli.server.events import EventLog, of_result
from mppcli.server.gateway import (
    Gateway,
    GatewayConfig,
    UpstreamFailed,
    _event_batches,
    _first_event,
    _read_ahead,
    check_upstream,
    upstream_header,
)
from mppcli.server.routes import RouteTable, parse_route
from mppcli.server.state import ChannelState, Status
from tests.server.upstream_app import running_upstream


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _batches(*parts: bytes) -> list[list[str]]:
    async def collect() -> list[list[str]]:
        return [batch async for batch in _event_batches(_chunks(*parts))]

    return asyncio.run(collect())


def _split(*parts: bytes) -> list[str]:
    return [event for batch in _batches(*parts) for event in batch]


def test_sse_splits_into_data_events_and_dataless_events_ride_with_the_next() -> None:
    events = _split(
        b": hello\r", b"\n\r\ndata: {\"n\":1}\r\n\r\nretry: 5\n\nevent: x\ndata: a\ndata: b\n\n", b"data"
    )
    assert events == [': hello\n\ndata: {"n":1}\n\n', "retry: 5\n\nevent: x\ndata: a\ndata: b\n\n"]


def test_the_events_one_read_completes_are_one_batch_and_a_read_that_completes_none_is_none() -> None:
    reads = (b"data: 1\n\ndata: 2\n\ndata: 3\n\ndata: ", b"4", b"\n\n: a comment\n\n", b"data: 5\n\n")
    batches = _batches(*reads)
    assert batches == [["data: 1\n\n", "data: 2\n\n", "data: 3\n\n"], ["data: 4\n\n"],
                       [": a comment\n\ndata: 5\n\n"]]


def test_events_read_ahead_while_the_stream_charges_come_out_together_in_order() -> None:
    async def scenario() -> list[list[str]]:
        more, produced = asyncio.Event(), asyncio.Event()

        async def upstream() -> AsyncIterator[list[str]]:
            yield ["e0"]
            await more.wait()  # the upstream writes again only later
            for index in range(1, 5):
                yield [f"e{index}"]
            produced.set()

        ahead = _read_ahead(upstream())
        first = await anext(ahead)
        more.set()
        await produced.wait()  # the rest was read while nobody asked for it
        return [first, *[batch async for batch in ahead]]

    assert asyncio.run(scenario()) == [["e0"], ["e1", "e2", "e3", "e4"]]


def test_reading_ahead_surfaces_a_failure_after_the_events_before_it_and_stops_when_closed() -> None:
    async def failing() -> AsyncIterator[list[str]]:
        yield ["a"]
        raise RuntimeError("the parser broke")

    async def scenario() -> tuple[list[str], str, bool]:
        ahead = _read_ahead(failing())
        got = await anext(ahead)
        with pytest.raises(RuntimeError) as caught:
            await anext(ahead)
        closed = asyncio.Event()

        async def endless() -> AsyncIterator[list[str]]:
            try:
                yield ["x"]
                await asyncio.Event().wait()  # an upstream that goes quiet
                yield ["never"]
            finally:
                closed.set()

        quiet = _read_ahead(endless())
        await anext(quiet)
        await quiet.aclose()  # what closing the answer does when the client goes away
        return got, str(caught.value), closed.is_set()

    assert asyncio.run(scenario()) == (["a"], "the parser broke", True)


def test_an_upstream_failing_before_its_first_event_is_a_504_or_502_and_after_it_ends_the_stream() -> None:
    import httpx

    def failing(*parts: bytes, error: Exception) -> AsyncIterator[bytes]:
        async def chunks() -> AsyncIterator[bytes]:
            for part in parts:
                yield part
            raise error

        return chunks()

    async def first(*parts: bytes, error: Exception) -> int | list[list[str]]:
        try:
            events = await _first_event(_read_ahead(_event_batches(failing(*parts, error=error))))
        except UpstreamFailed as failed:
            return failed.status
        return [batch async for batch in events]

    async def scenario() -> tuple[object, ...]:
        return (await first(b": hello\n\n", error=httpx.ReadTimeout("slow")),
                await first(error=httpx.RemoteProtocolError("cut")),
                await first(b"data: 1\n\n", error=httpx.ReadTimeout("slow")))

    timed_out, cut, after_one = asyncio.run(scenario())
    assert (timed_out, cut) == (504, 502)  # nothing was sent, so nothing is charged
    assert after_one == [["data: 1\n\n"]]  # the stream ends with what was sent (and paid)


def test_sse_decodes_utf8_split_across_chunks() -> None:
    text = 'data: "café"\n\n'.encode()
    cut = text.index(b"\xa9")
    assert _split(text[:cut], text[cut:]) == ['data: "café"\n\n']


def test_upstream_header_sources(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("Bearer from-file\n")
    assert upstream_header(f"Authorization: @{key}", {}) == ("Authorization", "Bearer from-file")
    assert upstream_header("X-Api-Key: env:K", {"K": "from-env"}) == ("X-Api-Key", "from-env")
    assert upstream_header("X-Plan: gold", {}) == ("X-Plan", "gold")
    for bad, words in (
        ("no colon", "Name: value"),
        ("X-Api-Key: env:MISSING", "MISSING is not set"),
        (f"X: @{tmp_path / 'absent'}", "cannot read"),
        ("Connection: close", "hop-by-hop"),
        ("X-A: ", "empty"),
    ):
        with pytest.raises(ValueError, match=words):
            upstream_header(bad, {})
    key.write_text("two\nlines")
    with pytest.raises(ValueError, match="spans lines") as caught:
        upstream_header(f"X: @{key}", {})
    assert "two" not in str(caught.value)  # an error names the header, never the value


def test_the_config_never_shows_injected_values() -> None:
    config = GatewayConfig("http://127.0.0.1:1", RouteTable(()), (("Authorization", "Bearer s3cret"),))
    assert "s3cret" not in repr(config) and "Authorization" in repr(config)
    with pytest.raises(ValueError, match="http"):
        check_upstream("ftp://example")
    assert check_upstream("http://127.0.0.1:3000/base/") == "http://127.0.0.1:3000/base"


def _state(**changes: Any) -> ChannelState:
    base = ChannelState(
        "Chan1", "Payer", "Payee", "Mint", "Tok", "Signer", 1, 1, 900, (), "Op", "client", "ch", None,
        deposit=1_000_000, idle_timeout=600, last_activity_at=0.0, created_at=0.0, accepted=30_000,
        spent=30_000,
    )
    return ChannelState(**{**base.__dict__, **changes})


def test_event_lines_in_token_units_as_text_and_json() -> None:
    lines: list[str] = []
    log = EventLog(6, "USDC", False, lines.append)
    log.emit(of_result("voucher", _state(), "POST /v1/*", 10_000))
    log.emit(of_result("open", _state(accepted=0, spent=0), "POST /v1/*", 10_000))
    closed = _state(status=Status.CLOSED, settled=30_000, refunded=970_000)
    log.emit(of_result("close", closed, "POST /v1/*", 1))
    assert lines == [
        "paid channel Chan1 route POST /v1/*: 0.01 USDC (spent 0.03 USDC of 1 USDC)",
        "opened channel Chan1 route POST /v1/*: deposit 1 USDC",
        "closed channel Chan1 route POST /v1/*: settled 0.03 USDC, refunded 0.97 USDC",
    ]
    as_json = EventLog(6, None, True, lines.append)
    as_json.emit(of_result("topUp", _state(deposit=2_000_000), "GET /x", 1))
    assert json.loads(lines[-1]) == {
        "event": "topped-up", "channel": "Chan1", "route": "GET /x", "amount": "2",
        "amountBaseUnits": "2000000", "spent": "0.03", "deposit": "2",
    }


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with running_upstream() as url:
        yield url


def _request(
    path: str, query: str = "", method: str = "GET", body: tuple[bytes, ...] = (),
    headers: tuple[tuple[bytes, bytes], ...] = (), raw_path: bytes | None = None,
) -> Request:
    scope = {
        "type": "http", "method": method, "path": path, "raw_path": raw_path or path.encode(),
        "query_string": query.encode(), "headers": [(b"host", b"gateway.test"), *headers], "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 5000), "root_path": "",
    }

    parts = list(body) or [b""]

    async def receive() -> dict[str, Any]:
        part = parts.pop(0) if parts else b""
        return {"type": "http.request", "body": part, "more_body": bool(parts)}

    return Request(scope, receive)


def _answer(upstream_url: str, path: str, query: str = "", timeout: float = 30.0, **request: Any) -> Any:
    routes = RouteTable.of([parse_route("*=0")]).priced(6)
    config = GatewayConfig(upstream_url, routes, timeout=timeout, max_body=request.pop("max_body", 1 << 20))

    async def go() -> Any:
        gateway = Gateway(None, config)  # type: ignore[arg-type]  # free routes never touch the context
        response = await gateway.serve(_request(path, query, **request), gate=None)  # type: ignore[arg-type]
        body = b""
        if hasattr(response, "body_iterator"):
            async for chunk in response.body_iterator:
                body += chunk if isinstance(chunk, bytes) else chunk.encode()
        else:
            body = response.body
        await gateway.http.aclose()
        return response.status_code, response.headers, body

    return asyncio.run(go())


def test_a_free_route_forwards_and_keeps_the_upstreams_answer(upstream: str) -> None:
    status, headers, body = _answer(upstream, "/free/ping")
    assert (status, body) == (200, b"pong") and "payment-receipt" not in headers
    assert headers["cache-control"] == "max-age=60" and headers["content-length"] == "4"
    assert sorted(v.split(";")[0] for v in headers.getlist("set-cookie")) == ["a=1", "b=2"]
    assert "date" not in headers and "server" not in headers  # the front server sets its own


def test_an_unreachable_upstream_is_a_502_problem() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    status, headers, body = _answer(f"http://127.0.0.1:{port}", "/anything")
    assert status == 502 and headers["content-type"] == "application/problem+json"
    assert "unreachable" in json.loads(body)["detail"]


def test_a_slow_upstream_is_a_504_problem(upstream: str) -> None:
    status, _, body = _answer(upstream, "/v1/slow", "s=5", timeout=0.2)
    assert status == 504 and "in time" in json.loads(body)["detail"]


def test_a_body_over_the_limit_is_refused_and_never_reaches_the_upstream_whole(upstream: str) -> None:
    import httpx

    status, _, body = _answer(upstream, "/v1/echo", method="POST", body=(b"x" * 10, b"y" * 10), max_body=16)
    assert status == 413 and "16 bytes" in json.loads(body)["detail"]
    seen = httpx.get(f"{upstream}/__seen").json()
    assert not [e for e in seen if e["path"] == "/v1/echo" and "y" in e["body"]]
    status, _, body = _answer(upstream, "/v1/echo", method="POST", body=(b"x" * 10, b"y" * 6), max_body=16)
    assert status == 201 and json.loads(body)["body"] == "x" * 10 + "y" * 6  # at the limit: forwarded whole


def test_headers_pass_as_raw_bytes_and_forwarding_headers_chain(upstream: str) -> None:
    import httpx

    sent = (
        (b"x-note", "café ✓".encode()),
        (b"x-forwarded-for", b"10.0.0.7"),
        (b"authorization", b"Payment abc"),
        (b"connection", b"x-hop"),
        (b"x-hop", b"dropped"),
    )
    status, _, _ = _answer(upstream, "/v1/echo", method="PUT", body=(b"{}",), headers=sent)
    assert status == 200
    got = [e for e in httpx.get(f"{upstream}/__seen").json() if e["method"] == "PUT"][-1]
    headers = dict(got["headers"])
    assert headers["x-note"].encode("latin-1") == "café ✓".encode()
    assert headers["x-forwarded-for"] == "10.0.0.7, 127.0.0.1"
    assert headers["x-forwarded-host"] == "gateway.test" and headers["x-forwarded-proto"] == "http"
    assert "authorization" not in headers and "x-hop" not in headers


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/free/../v1/echo", b"/free/../v1/echo"),
        ("/free/./x", b"/free/./x"),
        ("/free/../v1/echo", b"/free/%2E%2E/v1/echo"),
        ("/free/a/b", b"/free/a%2Fb"),
        ("/free/a\\b", b"/free/a%5Cb"),
    ],
)
def test_paths_that_could_leave_their_route_are_refused(upstream: str, path: str, raw: bytes) -> None:
    """`/free/*` is free; `/free/../v1/echo` must not reach the (paid) `/v1/echo` for nothing."""
    import httpx

    before = len(httpx.get(f"{upstream}/__seen").json())
    routes = RouteTable.of([parse_route("/free/*=0"), parse_route("/v1/*=1")]).priced(6)

    async def go() -> int:
        gateway = Gateway(None, GatewayConfig(upstream, routes))  # type: ignore[arg-type]
        response = await gateway.serve(_request(path, raw_path=raw), gate=None)  # type: ignore[arg-type]
        await gateway.http.aclose()
        return response.status_code

    assert asyncio.run(go()) == 400
    assert len(httpx.get(f"{upstream}/__seen").json()) == before
