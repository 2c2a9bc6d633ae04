"""`mpp serve --upstream URL`: the session method in front of any HTTP API.

A request whose method and path match a route (`mppcli.server.routes`) is paid for with the
session credential exactly as `/paid` is, and forwarded to `URL + path + query`: method, body and
headers, minus `Authorization`, hop-by-hop headers and the payment's own headers, plus
`X-Forwarded-For/-Proto/-Host` and the operator's `--upstream-header`s. Both bodies stream (a
request body above `max_body` is refused with 413); a path with no route is answered 404
problem+json, a route priced 0 is forwarded without payment.

When the money moves (the choice this module exists for). The spec wants the debit durable before
the service is delivered; the issue wants nothing charged when the upstream fails. So a paid
request runs, inside `charge` and under the channel's lock:

  1. the credential is verified completely (voucher signature, watermark, deposit, chain);
  2. the request is sent upstream and its status and headers awaited (`prepare`): unreachable,
     timed out or 5xx -> 502/504 problem+json, nothing stored, the voucher is not accepted;
  3. the debit (voucher watermark + spent, and the idempotency entry) is committed;
  4. only then are the upstream's body bytes released to the client.

Only a 2xx answer is charged. The spec issues receipts "only on successful payment responses (2xx
status codes)" and forbids a `Payment-Receipt` on error responses, and a charge the client cannot
see confirmed would leave its record behind the server's watermark. So a 1xx/3xx/4xx answer is
relayed as the upstream gave it, uncharged and without a receipt (the voucher is not accepted and
the client may sign it again); 5xx, timeouts and connection failures are answered 502/504.

The alternative orders are worse: debit first and refund on failure needs a "refund" state the
protocol has no word for (a voucher watermark cannot go backwards, so the client would have paid
for nothing); forward after responding loses the debit on a crash after delivery. What this order
costs: (a) the channel's lock is held while the upstream computes its answer, so one channel's
paid requests reach the upstream one at a time (different channels run in parallel); (b) a crash
between the upstream's answer and step 3 loses one answer the upstream already computed, never
money; (c) a body that breaks off after step 3 was charged (the upstream answered; HTTP cannot
take back a started response).

Exactly once: only `voucher`/`use` credentials forward. `open`, `topUp` and `close` are answered
by the gateway itself (their small JSON summary), so a client's open round trip never reaches the
upstream, and an `Idempotency-Key` replay answers from the store. With an `Idempotency-Key` an
answer of up to `CACHE_LIMIT` bytes is read whole before step 3 so the replay can return it;
a larger one streams and its replay says it was delivered already.

Per-event routes (`PRICE/event`): the upstream's answer must be `text/event-stream`; the
credential pays for its first data event (read before step 3: an upstream that sends none is a
502), and every further data event goes through the metered stream of `mppcli.server.metering`
(the same directives, commits and pauses as `/stream`). A data event is any event, named or
not, JSON or not, that carries data and is not the protocol's own (`is_data_event`, the rule the
client caps each directive by). Comments and events without data travel free with the next data
event; the upstream's `mpp.*`/`done` events and its `[DONE]` never pass (the gateway ends the
stream itself). A per-event route whose upstream answers something else is billed
as one unit.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mppcli.protocol.metering import COMMIT_PATH, DONE_SENTINEL, is_data_event, is_protocol_event
from mppcli.server import metering
from mppcli.server.answers import cached_answer
from mppcli.server.challenges import Route
from mppcli.server.context import ServerContext
from mppcli.server.httpinput import BodyTooLarge
from mppcli.server.method import Result
from mppcli.server.problems import blank_response
from mppcli.server.routes import PER_EVENT, RouteRule, RouteTable
from mppcli.server.state import ChannelState

MAX_BODY = 10 * 1024 * 1024
CACHE_LIMIT = 256 * 1024
MAX_EVENT = 1024 * 1024
READ_AHEAD = 64  # upstream reads held ahead of a per-event stream's charging (`_read_ahead`)
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Never forwarded upstream: the payment (and the client's own credential slot), and what we set.
REQUEST_DROP = HOP_BY_HOP | {"host", "authorization", "x-payment-channel", "payment-receipt"}
# Never passed back: Date and Server (the front server sets its own), and on a paid answer what the
# gateway itself decides (receipt, caching) or what would read as a payment challenge.
FREE_DROP = HOP_BY_HOP | {"date", "server"}
RESPONSE_DROP = FREE_DROP | {"payment-receipt", "cache-control", "www-authenticate"}
# A body the gateway decoded or re-framed: the upstream's length and encoding no longer hold.
DECODED = frozenset({"content-length", "content-encoding"})
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

# `app._gate` bound to one request: gate(route, render, prepare=..., respond=...).
Gate = Callable[..., Awaitable[Response]]


@dataclass(frozen=True)
class GatewayConfig:
    """Where to forward, what is sold, and the headers the gateway adds (values never shown)."""

    upstream: str
    routes: RouteTable
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 30.0
    max_body: int = MAX_BODY

    def __repr__(self) -> str:
        names = ", ".join(name for name, _ in self.headers)
        routes = len(self.routes.rules)
        return f"GatewayConfig(upstream={self.upstream!r}, routes={routes}, headers=[{names}])"


def check_upstream(url: str) -> str:
    """An http(s) base URL without query or fragment; the request path is appended to it."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host or parsed.query or parsed.fragment:
        raise ValueError(f"--upstream must be an http(s) URL such as http://127.0.0.1:3000, got {url!r}")
    return url.rstrip("/")


def upstream_header(text: str, environ: Mapping[str, str]) -> tuple[str, str]:
    """`'Name: value'`, `'Name: @file'` (the file's content) or `'Name: env:VAR'` (a variable).

    The file and variable forms keep a secret out of argv and shell history; the value is never
    logged or echoed back (errors name the header, not its value)."""
    name, sep, raw = text.partition(":")
    name, raw = name.strip(), raw.strip()
    if not sep or not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError("--upstream-header takes 'Name: value' (value may be @FILE or env:VAR)")
    if name.lower() in HOP_BY_HOP or name.lower() == "host":
        raise ValueError(f"--upstream-header {name}: a hop-by-hop or Host header cannot be set")
    if raw.startswith("@"):
        try:
            value = Path(raw[1:]).expanduser().read_text().strip()
        except OSError as exc:
            raise ValueError(f"--upstream-header {name}: cannot read {raw[1:]}: {exc.strerror}") from None
    elif raw.startswith("env:"):
        found = environ.get(raw[4:])
        if not found:
            raise ValueError(f"--upstream-header {name}: the variable {raw[4:]} is not set")
        value = found.strip()
    else:
        value = raw
    if not value or any(c in value for c in "\r\n\0"):
        raise ValueError(f"--upstream-header {name}: the value is empty or spans lines")
    return name, value


class UpstreamFailed(Exception):
    """The upstream gave no usable answer: the request is answered `status` and not charged."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail

    def answer(self) -> Response:
        title = "Gateway Timeout" if self.status == 504 else "Bad Gateway"
        return blank_response(self.status, title, self.detail)


class Uncharged(Exception):
    """The upstream answered, but not 2xx: relay its answer, charge nothing (module docstring)."""

    def __init__(self, response: httpx.Response):
        super().__init__(response.status_code)
        self.response = response


@dataclass
class Forwarded:
    """The upstream's answer, held open between `prepare` and the response."""

    response: httpx.Response
    body: bytes | None = None  # read whole (for an idempotent replay) when it was small enough
    events: AsyncGenerator[list[str], None] | None = None  # a per-event route's events, first read

    async def close(self) -> None:
        if self.events is not None:
            await self.events.aclose()  # stops the task reading the upstream ahead (`_read_ahead`)
        await self.response.aclose()


@dataclass
class Gateway:
    ctx: ServerContext
    config: GatewayConfig
    http: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.AsyncClient(timeout=self.config.timeout, follow_redirects=False, trust_env=False)

    async def serve(self, request: Request, gate: Gate) -> Response:
        if not _plain_path(request):
            return blank_response(
                400, "Bad Request", "the path has dot segments, encoded slashes or backslashes"
            )
        rule = self.config.routes.match(request.method, request.url.path)
        if rule is None:
            return blank_response(
                404, "Not Found", f"no route sells {request.method} {request.url.path[:200]}"
            )
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.config.max_body):
            return self._too_large()
        assert rule.price is not None
        if rule.price == 0:
            return await self._free(request)
        route = Route(rule.label, rule.price, rule.unit, f"{rule.label} (forwarded)")
        held: list[Forwarded] = []
        key = request.headers.get("idempotency-key")

        async def prepare(state: ChannelState) -> None:
            held.append(await self._forward(request, rule, cache=bool(key)))

        def render(state: ChannelState) -> tuple[str, bytes]:
            answer = held[0]
            content_type = answer.response.headers.get("content-type", "application/octet-stream")
            if answer.body is not None:
                return content_type, answer.body
            note = b'{"replayed":true,"detail":"the upstream answer was delivered to the first request"}'
            return "application/json", note

        def respond(result: Result) -> Response:
            if not result.served or result.replayed or not held:
                return cached_answer(result.response, request.method == "HEAD")
            return self._paid_answer(request, rule, route, result, held[0])

        try:
            return await gate(route, render, prepare=prepare, respond=respond)
        except UpstreamFailed as failure:
            return failure.answer()
        except Uncharged as answered:
            return _relay(_raw(answered.response), answered.response, FREE_DROP, {})
        except BodyTooLarge:
            return self._too_large()
        except BaseException:
            for answer in held:
                await answer.close()
            raise

    # --- forwarding ------------------------------------------------------------------------------

    def _too_large(self) -> Response:
        detail = f"the request body exceeds {self.config.max_body} bytes"
        return blank_response(413, "Content Too Large", detail)

    async def _free(self, request: Request) -> Response:
        try:
            answer = await self._send(request)
        except UpstreamFailed as failure:
            return failure.answer()
        except BodyTooLarge:
            return self._too_large()
        return _relay(_raw(answer), answer, FREE_DROP, {})

    async def _forward(self, request: Request, rule: RouteRule, cache: bool) -> Forwarded:
        answer = Forwarded(await self._send(request))
        if not 200 <= answer.response.status_code < 300:
            raise Uncharged(answer.response)
        try:
            if rule.unit == PER_EVENT and request.method != "HEAD" and _is_event_stream(answer.response):
                batches = _read_ahead(_event_batches(answer.response.aiter_bytes()))
                answer.events = await _first_event(batches)
            elif cache and request.method != "HEAD":
                answer.body = await _read_small(answer.response, CACHE_LIMIT)
        except BaseException:
            await answer.close()
            raise
        return answer

    async def _send(self, request: Request) -> httpx.Response:
        """Send the request upstream and wait for its status line; 5xx and failures raise."""
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        url = self.config.upstream + raw_path.decode("latin-1")  # as sent: the route matched this path
        if request.url.query:
            url += "?" + request.url.query
        has_body = request.method not in ("GET", "HEAD") or "content-length" in request.headers
        outgoing = self.http.build_request(
            request.method,
            url,
            headers=self._request_headers(request),
            content=_limited(request, self.config.max_body) if has_body else None,
        )
        try:
            answer = await self.http.send(outgoing, stream=True)
        except httpx.TimeoutException:
            raise UpstreamFailed(504, "the upstream did not answer in time") from None
        except httpx.HTTPError as exc:
            if isinstance(exc.__cause__, BodyTooLarge) or isinstance(exc.__context__, BodyTooLarge):
                raise BodyTooLarge(self.config.max_body) from None
            raise UpstreamFailed(502, f"the upstream is unreachable ({type(exc).__name__})") from None
        if answer.status_code >= 500:
            await answer.aclose()
            raise UpstreamFailed(502, f"the upstream answered {answer.status_code}")
        return answer

    def _request_headers(self, request: Request) -> list[tuple[bytes, bytes]]:
        """The client's headers as the raw bytes it sent (so any byte the client may send passes
        through unchanged), minus what must not travel upstream, plus forwarding and injected ones."""
        listed = {t.strip().lower() for v in request.headers.getlist("connection") for t in v.split(",")}
        injected = {name.lower() for name, _ in self.config.headers}
        drop = REQUEST_DROP | listed | injected | {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"}
        headers = [(k, v) for k, v in request.headers.raw if k.decode("latin-1").lower() not in drop]
        chain = [v for k, v in request.headers.raw if k.lower() == b"x-forwarded-for"]
        if request.client:
            chain.append(request.client.host.encode())
        if chain:
            headers.append((b"X-Forwarded-For", b", ".join(chain)))
        headers.append((b"X-Forwarded-Proto", request.url.scheme.encode()))
        headers.append((b"X-Forwarded-Host", request.headers.get("host", "").encode("latin-1")))
        headers.extend((name.encode(), value.encode()) for name, value in self.config.headers)
        return headers

    # --- answering -------------------------------------------------------------------------------

    def _paid_answer(
        self, request: Request, rule: RouteRule, route: Route, result: Result, answer: Forwarded
    ) -> Response:
        upstream = answer.response
        cache = "private, no-store" if "no-store" in upstream.headers.get("cache-control", "") else "private"
        if answer.events is not None and request.method != "HEAD":
            run = metering.StreamRun(
                self.ctx,
                result.state.channel_id,
                route,
                self.ctx.config.stream.max_chunks,
                str(request.base_url).rstrip("/") + COMMIT_PATH,
                result.challenge_id,
                source=answer.events,
            )
            ours = {"Cache-Control": "private, no-cache", "X-Accel-Buffering": "no"}
            if result.response.receipt:
                ours["Payment-Receipt"] = result.response.receipt
            return _relay(_closing(run.frames(), answer), upstream, RESPONSE_DROP | DECODED, ours)
        ours = {"Cache-Control": cache}
        if result.response.receipt:
            ours["Payment-Receipt"] = result.response.receipt
        if answer.body is not None:
            return _relay(answer.body, upstream, RESPONSE_DROP | DECODED, ours)
        return _relay(_raw(upstream), upstream, RESPONSE_DROP, ours)


def _plain_path(request: Request) -> bool:
    """A path the route table can be trusted on: no `.`/`..` segment (an HTTP library upstream
    would resolve `/free/../v1/paid` to a route the table prices differently), and no encoded `/`
    or `\\` that the upstream might decode into one."""
    raw = bytes(request.scope.get("raw_path") or b"").lower()
    if b"%2f" in raw or b"%5c" in raw or b"\\" in raw:
        return False
    return not any(segment in (".", "..") for segment in request.url.path.split("/"))


def _relay(
    body: bytes | AsyncIterator[bytes] | AsyncIterator[str],
    upstream: httpx.Response,
    drop: frozenset[str],
    ours: dict[str, str],
) -> Response:
    """A response with the upstream's status and headers as the raw bytes it sent (every
    `Set-Cookie` kept), minus `drop` and the headers its `Connection` lists, plus `ours`."""
    listed = {t.strip().lower() for v in upstream.headers.get_list("connection") for t in v.split(",")}
    skip = drop | listed | {name.lower() for name in ours}
    kept = [(k.lower(), v) for k, v in upstream.headers.raw if k.decode("latin-1").lower() not in skip]
    response = Response(body, upstream.status_code) if isinstance(body, bytes) else StreamingResponse(
        body, upstream.status_code
    )
    response.raw_headers = [
        *response.raw_headers,  # Starlette's content-length of a buffered body, nothing for a stream
        *kept,
        *((name.lower().encode(), value.encode("latin-1")) for name, value in ours.items()),
    ]
    return response


async def _limited(request: Request, limit: int) -> AsyncIterator[bytes]:
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise BodyTooLarge(limit)
        if chunk:
            yield chunk


async def _raw(answer: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in answer.aiter_raw():
            yield chunk
    finally:
        await answer.aclose()


async def _closing(frames: AsyncIterator[str], answer: Forwarded) -> AsyncIterator[str]:
    try:
        async for frame in frames:
            yield frame
    finally:
        await answer.close()


async def _read_small(answer: httpx.Response, limit: int) -> bytes | None:
    """The whole (decoded) body if it is at most `limit` bytes; else None and the body unread.

    Only a declared Content-Length decides, so nothing is consumed that streaming would miss."""
    length = answer.headers.get("content-length")
    encoded = answer.headers.get("content-encoding")
    if length is None or not length.isdigit() or int(length) > limit or encoded:
        return None
    return await answer.aread()


def _is_event_stream(answer: httpx.Response) -> bool:
    content_type = str(answer.headers.get("content-type", ""))
    return content_type.split(";")[0].strip().lower() == "text/event-stream"


async def _first_event(batches: AsyncGenerator[list[str], None]) -> AsyncGenerator[list[str], None]:
    """`batches` with its first batch read now: an upstream stream without a data event is a failure."""
    try:
        first = await anext(batches)
    except StopAsyncIteration:
        raise UpstreamFailed(502, "the upstream's event stream ended before its first data event") from None
    except httpx.TimeoutException:
        raise UpstreamFailed(504, "the upstream sent no event in time") from None
    except httpx.HTTPError as exc:
        raise UpstreamFailed(502, f"the upstream's event stream failed ({type(exc).__name__})") from None

    async def chained() -> AsyncGenerator[list[str], None]:
        try:
            yield first
            async for batch in batches:
                yield batch
        finally:
            await batches.aclose()

    return chained()


async def _read_ahead(batches: AsyncIterator[list[str]]) -> AsyncGenerator[list[str], None]:
    """The events of `batches`, read by a task of their own while the metered stream charges and
    sends earlier ones; each item is every event read meanwhile (at least one). An upstream that
    writes each event on its own (HTTP chunk by chunk) would otherwise be charged one event per
    durable commit. Reading stops `READ_AHEAD` batches ahead (TCP then holds the upstream back);
    closing this generator stops the task."""
    queue: asyncio.Queue[list[str] | None] = asyncio.Queue(maxsize=READ_AHEAD)
    failed: list[BaseException] = []

    async def pump() -> None:
        try:
            async for batch in batches:
                await queue.put(batch)
        except Exception as exc:  # surfaced to the reader after the events read before it
            failed.append(exc)
        await queue.put(None)

    task = asyncio.create_task(pump())
    try:
        ended = False
        while not ended:
            batch = await queue.get()
            if batch is None:
                break
            events = list(batch)
            while len(events) < metering.BATCH_CHUNKS and not queue.empty():
                more = queue.get_nowait()
                if more is None:
                    ended = True
                    break
                events.extend(more)
            yield events
        if failed:
            raise failed[0]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _name_and_data(event: str) -> tuple[str | None, str]:
    """An SSE event block's name and joined data, read as an SSE client reads them."""
    name: str | None = None
    data: list[str] = []
    for line in event.split("\n"):
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value or None
        elif field == "data":
            data.append(value)
    return name, "\n".join(data)


async def _event_batches(chunks: AsyncIterator[bytes]) -> AsyncIterator[list[str]]:
    """SSE events as text (`...\\n\\n`), one per data event (data-less events ride with the next),
    in batches: the data events completed by one read of the upstream, never an empty batch.

    Batches are what let a metered stream keep up: every charge is a durable store commit, so the
    events that arrived together are charged together (at most `metering.BATCH_CHUNKS` at a time)
    instead of one commit each; an upstream that sends slowly still has each event charged and
    sent as it comes.

    An upstream that fails before its first data event raises (`_first_event` answers 502 or 504,
    nothing charged); one that fails after it ends the stream, which then closes with its receipt
    (every event sent so far was paid or reserved) instead of a torn connection."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    buffer = carry = waiting = ""
    sent = False
    try:
        async for chunk in chunks:
            text = carry + decoder.decode(chunk)
            carry = "\r" if text.endswith("\r") else ""
            buffer += (text[:-1] if carry else text).replace("\r\n", "\n").replace("\r", "\n")
            batch: list[str] = []
            while "\n\n" in buffer:
                event, buffer = buffer.split("\n\n", 1)
                if not event:
                    continue
                name, data = _name_and_data(event)
                if is_protocol_event(name) or (name is None and data.strip() == DONE_SENTINEL):
                    continue  # the upstream cannot speak for the protocol: its `mpp.*` events never pass
                if is_data_event(name, data):
                    batch.append(waiting + event + "\n\n")
                    waiting = ""
                else:
                    waiting += event + "\n\n"
            if batch:
                yield batch
                sent = True
            if len(buffer) > MAX_EVENT:
                return  # an event too large to be one: end the stream rather than buffer without bound
    except httpx.HTTPError:
        if not sent:
            raise


def from_options(
    upstream: str, routes: RouteTable, header_specs: tuple[str, ...], timeout: float, decimals: int,
    environ: Mapping[str, str] | None = None,
) -> GatewayConfig:
    """The gateway's config once the mint's decimals are known (prices become base units)."""
    env: Mapping[str, Any] = os.environ if environ is None else environ
    return GatewayConfig(
        check_upstream(upstream),
        routes.priced(decimals),
        tuple(upstream_header(spec, env) for spec in header_specs),
        timeout,
    )
