"""The HTTP face of `mpp serve`: paid demo endpoints, the metering side channel, health.

    GET /paid              JSON priced per request (`--price`).
    GET /stream?chunks=N   SSE priced per chunk (`--chunk-price`), metered (below).
    POST /__402/session/deliveries, POST /__402/session/commit   the reference's side channel.
    GET /health            {"ok": true, ...}

Paid endpoints (also HEAD, which pays like GET without a body, and POST): with no credential,
402 and a fresh challenge. A client that wants to *resume* a channel instead of opening one asks
for it with the request header `X-Payment-Channel: <channelId>`: when that channel is live here,
the 402 carries a resume challenge (`methodDetails.channelId` + `idleTimeoutSeconds`, no
blockhash, slot or idle options). Failures about a known live channel resume it the same way.
Every failure is 402 `application/problem+json` with `Cache-Control: no-store` and a fresh
challenge; success carries `Payment-Receipt` and `Cache-Control: private`. `open`, `topUp` and
`close` credentials answer a small JSON summary; `voucher` and `use` pay for the resource.

The metered stream: the credential pays chunk 1. Spent first, then data: before a batch of
chunks leaves (at most 128), its price is added to the channel's `spent` in one durable store
commit; the batch then goes out as its data frames followed by one `mpp.metering` directive
(deliveryId `<streamId>:<n>`, sessionId, amount = the batch's price, currency, sequence,
expiresAt, commitUrl, cumulativeCommit: true). Vouchers catch up at `POST
/__402/session/commit`: one cumulative voucher may pay every directive up to the one it names,
never beyond `spent`. Delivery pauses only when
`spent - acceptedCumulative` would exceed the credit window (`--stream-credit`, an amount in
token units or `Nx` chunks; default 512 chunks) or the deposit cannot cover the next chunk: the
stream waits quietly up to 2 s for a commit on its way, then emits

    event: mpp.payment-required
    data: {"sessionId", "reason": "awaiting-commit"|"insufficient-deposit"|"channel-closing",
           "amount", "deposit", "acceptedCumulative", "spent", "reserved", "creditWindow",
           "delivered", "requested", "waitSeconds"}

and waits up to `waitSeconds` for the commit or a top-up (a `topUp` credential sent to this URL),
then continues or ends. The end is `event: mpp.usage` for the last directive, whose amount is
what this stream delivered that no accepted voucher covers yet (so a client that commits once per
response, for the last directive, pays the whole stream; commits on their way are given up to
0.5 s to arrive first), `event: mpp.receipt` (the session receipt plus delivered,
requested, complete, reason, unvouched, pendingDeliveries) and `data: [DONE]`. What was spent
but never vouched for is the seller's risk, at most the window per channel; `mpp serve` logs it
when the channel closes. Operator-signed channels: no directives; the operator signs a voucher
for each batch before sending it, while the deposit allows.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route as HttpRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mppcli.errors import MalformedError, RpcError
from mppcli.protocol.auth import format_www_authenticate
from mppcli.protocol.encoding import loads_json
from mppcli.protocol.metering import (
    CHANNEL_HEADER,
    COMMIT_PATH,
    DELIVERIES_PATH,
    parse_commit_request,
    parse_delivery_request,
    side_channel_error,
)
from mppcli.protocol.problem import CONTENT_TYPE as PROBLEM_CONTENT_TYPE
from mppcli.protocol.problem import blank_problem
from mppcli.server import events, metering, problems
from mppcli.server.answers import cached_answer
from mppcli.server.challenges import Route
from mppcli.server.context import ServerContext
from mppcli.server.debit import Prepare
from mppcli.server.events import METERED, REFUSED, PaymentEvent
from mppcli.server.gateway import METHODS as GATEWAY_METHODS
from mppcli.server.gateway import Gateway, GatewayConfig
from mppcli.server.httpinput import MAX_PAID_BODY, BodyTooLarge, body_digest, payment_credentials, read_body
from mppcli.server.method import Result, SessionMethod
from mppcli.server.state import ChannelState

MAX_BODY = 64 * 1024


def routes_for(ctx: ServerContext) -> dict[str, Route]:
    c = ctx.config
    return {
        "/paid": Route("/paid", c.price, "request", "A paid JSON resource"),
        "/stream": Route("/stream", c.chunk_price, "chunk", "A metered stream, priced per chunk"),
    }


def create_app(
    ctx: ServerContext,
    lifespan: Any = None,
    gateway: GatewayConfig | None = None,
    event_log: events.EventLog | None = None,
) -> Starlette:
    """The demo endpoints, or with `gateway` every other path forwarded (`mppcli.server.gateway`);
    payment events go to `event_log` (`mppcli.server.events`)."""
    method = SessionMethod(ctx)
    paid_routes = routes_for(ctx)

    async def paid(request: Request) -> Response:
        route = paid_routes["/paid"]
        return await _gate(ctx, method, request, route, lambda state: _paid_body(route, state))

    async def stream(request: Request) -> Response:
        route = paid_routes["/stream"]
        try:
            chunks = _chunks(request, ctx.config.stream.max_chunks)
        except ValueError as exc:  # not a payment problem: refused before any credential is read
            bad = blank_problem(400, "Bad Request", str(exc))
            return await _with_challenge(method, route, bad, 400, request.headers.get(CHANNEL_HEADER), None)
        return await _gate(ctx, method, request, route, _stream_placeholder, chunks)

    async def deliveries(request: Request) -> Response:
        return await _side_channel(request, lambda body: _reserve(ctx, body))

    async def commit(request: Request) -> Response:
        return await _side_channel(request, lambda body: _commit(ctx, body, request.app.state))

    async def health(request: Request) -> Response:
        return JSONResponse(
            {
                "ok": True,
                "network": ctx.config.network,
                "mint": ctx.config.mint,
                "recipient": ctx.config.recipient,
            }
        )

    demo = [
        HttpRoute("/paid", paid, methods=["GET", "HEAD", "POST"]),
        HttpRoute("/stream", stream, methods=["GET", "HEAD", "POST"]),
    ]
    if gateway is not None:
        forwarding = Gateway(ctx, gateway)

        async def forward(request: Request) -> Response:
            gate = functools.partial(_gate, ctx, method, request, body_limit=gateway.max_body)
            return await forwarding.serve(request, gate)

        demo = [HttpRoute("/{path:path}", forward, methods=GATEWAY_METHODS)]
    app = Starlette(
        routes=[
            HttpRoute(DELIVERIES_PATH, deliveries, methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]),
            HttpRoute(COMMIT_PATH, commit, methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]),
            HttpRoute("/health", health, methods=["GET", "HEAD"]),
            *demo,
        ],
        lifespan=lifespan,
        exception_handlers={Exception: _internal_error},
    )
    app.state.events = event_log
    app.add_middleware(RequestLog, log=ctx.log)
    return app


async def _internal_error(request: Request, exc: Exception) -> Response:
    """A bug is a 500 in problem+json, never a payment refusal; the traceback goes to the log."""
    return problems.blank_response(
        500, "Internal Server Error", "the server failed while handling this request; the error is in its log"
    )


# --- paid endpoints --------------------------------------------------------------------------------


async def _gate(
    ctx: ServerContext,
    method: SessionMethod,
    request: Request,
    route: Route,
    render: Callable[[ChannelState], tuple[str, bytes]],
    chunks: int = 0,
    prepare: Prepare | None = None,
    respond: Callable[[Result], Response] | None = None,
    body_limit: int = MAX_PAID_BODY,
) -> Response:
    """Verify and charge the request's credential, then answer: `respond` builds the answer of a
    paid request when given (the gateway), `prepare` runs before the debit is stored (`charge`).
    A body is read up to `body_limit` first: the challenge binds its digest."""
    headers = request.headers
    auth = headers.getlist("authorization")
    hint = headers.get(CHANNEL_HEADER)
    try:
        digest = await body_digest(request, body_limit)
    except BodyTooLarge as exc:
        return await _rejected(method, route, problems.malformed(str(exc)), hint, None, request, 413)
    if payment_credentials(auth) > 1:
        several = problems.malformed("the request carries more than one Payment credential; send one")
        return await _rejected(method, route, several, hint, digest, request, 400)
    try:
        if len(auth) > 1:
            raise problems.malformed("the request carries more than one Authorization header")
        result = await method.handle(
            route, auth[0] if auth else None, headers.get("idempotency-key"), render, digest, prepare
        )
    except problems.Rejection as rejection:
        return await _rejected(method, route, rejection, rejection.channel_id or hint, digest, request)
    except RpcError as exc:
        failure = problems.failed(f"the Solana RPC failed while verifying the payment: {exc.message}")
        return await _rejected(method, route, failure, None, digest, request)
    except MalformedError as exc:  # a decoder deeper down refused the input: still a 402
        return await _rejected(method, route, problems.malformed(str(exc)), None, digest, request)
    _note(request, result, route)
    if respond is not None:
        return respond(result)
    if result.served and not result.replayed and chunks and request.method != "HEAD":
        return _stream_response(ctx, request, route, result, chunks)
    return cached_answer(result.response, request.method == "HEAD")


async def _rejected(
    method: SessionMethod,
    route: Route,
    rejection: problems.Rejection,
    channel_hint: str | None,
    digest: str | None,
    request: Request | None = None,
    status: int = 402,
) -> Response:
    """problem+json with a fresh challenge; 402 unless the request itself is unusable (400, 413)."""
    if request is not None and request.headers.get("authorization"):  # a refusal, not a first 402
        refused = PaymentEvent(REFUSED, rejection.channel_id, route.path, detail=rejection.detail)
        events.emit(request.app.state, refused)
    body = {**rejection.body(), "status": status}
    return await _with_challenge(method, route, body, status, channel_hint, digest)


async def _with_challenge(
    method: SessionMethod,
    route: Route,
    body: dict[str, object],
    status: int,
    channel_hint: str | None,
    digest: str | None,
) -> Response:
    """The problem `body` as `status`, never cached, with a fresh challenge to pay `route` with."""
    try:
        challenge = await method.fresh_challenge(route, (channel_hint or "")[:64] or None, digest)
    except (RpcError, MalformedError) as exc:
        return problems.blank_response(
            503, "Service Unavailable", f"cannot issue a payment challenge: the Solana RPC failed ({exc})",
            {"Retry-After": "5"},
        )
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers={"WWW-Authenticate": format_www_authenticate(challenge), "Cache-Control": "no-store"},
    )


def _stream_response(
    ctx: ServerContext, request: Request, route: Route, result: Result, chunks: int
) -> Response:
    run = metering.StreamRun(
        ctx,
        result.state.channel_id,
        route,
        chunks,
        str(request.base_url).rstrip("/") + COMMIT_PATH,
        result.challenge_id,
    )
    headers = {"Cache-Control": "private, no-cache", "X-Accel-Buffering": "no"}
    if result.response.receipt:
        headers["Payment-Receipt"] = result.response.receipt
    return StreamingResponse(run.frames(), media_type="text/event-stream", headers=headers)


def _paid_body(route: Route, state: ChannelState) -> tuple[str, bytes]:
    body = {
        "resource": route.path,
        "message": "paid content",
        "channelId": state.channel_id,
        "price": str(route.price),
        "acceptedCumulative": str(state.accepted),
        "spent": str(state.spent),
    }
    return "application/json", json.dumps(body, separators=(",", ":")).encode()


def _stream_placeholder(state: ChannelState) -> tuple[str, bytes]:
    return "text/event-stream", metering.replay_body()


def _chunks(request: Request, maximum: int) -> int:
    raw = request.query_params.get("chunks", "10")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 7 or not 1 <= int(raw) <= maximum:
        raise ValueError(f"chunks must be an integer from 1 to {maximum}")
    return int(raw)


def _note(request: Request, result: Result, route: Route) -> None:
    request.scope.setdefault("state", {})["mpp"] = f"{result.action} {result.state.channel_id}"
    if not result.replayed:
        events.emit(request.app.state, events.of_result(result.action, result.state, route.path, route.price))


# --- side channel ----------------------------------------------------------------------------------


async def _side_channel(request: Request, handler: Callable[[Any], Awaitable[dict[str, Any]]]) -> Response:
    if request.method != "POST":
        return JSONResponse(side_channel_error("POST required"), status_code=405)
    try:
        try:
            raw = await read_body(request, MAX_BODY)  # never buffers more than the limit
        except BodyTooLarge:
            raise metering.SideChannelError("request body too large") from None
        return JSONResponse(await handler(loads_json(raw, "request body")))
    except metering.SideChannelError as exc:
        return JSONResponse(side_channel_error(exc.message), status_code=exc.status)
    except MalformedError:
        return JSONResponse(side_channel_error("invalid request body"), status_code=400)
    except RpcError as exc:
        return JSONResponse(side_channel_error(f"Solana RPC failed: {exc.message}"), status_code=400)


async def _reserve(ctx: ServerContext, body: Any) -> dict[str, Any]:
    directive = await metering.reserve(ctx, parse_delivery_request(body))
    return directive.to_json()


async def _commit(ctx: ServerContext, body: Any, app_state: Any = None) -> dict[str, Any]:
    receipt = await metering.commit(ctx, parse_commit_request(body))
    if receipt.status == "committed":
        state = ctx.store.channel(receipt.session_id)
        spent = state.spent if state is not None else None
        events.emit(app_state, PaymentEvent(METERED, receipt.session_id, None, receipt.amount, spent))
    return receipt.to_json()


# --- logging ---------------------------------------------------------------------------------------


class RequestLog:
    """One line per request on the server log: method, path, status, milliseconds, action and
    channel when a credential was accepted. Never headers, credentials or query strings."""

    def __init__(self, app: ASGIApp, log: Callable[[str], None]):
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [0]

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            took = (time.perf_counter() - started) * 1000
            note = scope.get("state", {}).get("mpp", "")
            self.log(f"{scope['method']} {scope['path'][:100]} {status[0]} {took:.1f}ms {note}".rstrip())
