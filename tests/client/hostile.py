"""A hostile server for the payer's tests: a tampering proxy in front of a real `mpp serve`.

The proxy forwards every request to the real server (so opens, vouchers and commits are real and
land on the real ledger) and rewrites what comes back according to `mode`:

    meter-above-price   `mpp.metering` directives ask for twice the amount
    replay-receipt      every later Payment-Receipt is the first one it saw again
    inflate-receipt     Payment-Receipt claims 5000 more acceptedCumulative than the server said
    inflate-commit      commit receipts claim 5000 more cumulative than the server said
    change-mint         challenges name another mint      change-program   ... another program
    drop-stream         the first SSE response is cut after `drop_after` frames
    refuse-voucher      a voucher is forwarded (the server takes it) but answered 402 with a bare problem
    refuse-open         an open is forwarded (the deposit lands) but answered 402
    swallow-open        an open is kept (not forwarded: it may land later or never) and answered 402
    close-then-die      a close is forwarded (the server settles) but the answer is cut; then every
                        request gets 503 (the server is gone)
    expire-challenge    challenges say they expired in 2001
    cut-once            the first paid request is forwarded but its answer is cut (a network failure)

Every request's Idempotency-Key (or None) is appended to `keys`, with the credential's action.

It runs uvicorn on 127.0.0.1 port 0 in a thread (real HTTP, real streaming).
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

OTHER_MINT = "So11111111111111111111111111111111111111112"
OTHER_PROGRAM = "GuoKrzaBiZnW5DvJ3yZVE7xHqbcBvaX9SH6P6Cn9gNvc"
HOP_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "content-encoding"})


@dataclass
class HostileProxy:
    upstream: str
    mode: str | None = None
    drop_after: int = 3
    streams_seen: int = 0
    first_receipt: str | None = None
    log: list[str] = field(default_factory=list)
    keys: list[tuple[str, str | None]] = field(default_factory=list)
    refusal_detail: str = "refused"
    _server: Any = None
    _thread: threading.Thread | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HostileProxy:
        import uvicorn

        app = Starlette(routes=[Route("/{path:path}", self._forward,
                                      methods=["GET", "POST", "HEAD", "PUT", "DELETE", "PATCH"])])
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(_origin_form(app), log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)

    # --- forwarding ------------------------------------------------------------------------------

    async def _forward(self, request: Request) -> Response:
        if self.mode == "dead":
            return Response(b"gone", status_code=503)
        action = _action(request.headers.get("authorization"))
        if action is not None:
            self.keys.append((action, request.headers.get("idempotency-key")))
        if self.mode == "swallow-open" and action == "open":
            self.log.append("kept an open without forwarding it")
            return await _bare_refusal(self.upstream, request, self.refusal_detail)
        target = self.upstream + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        headers = [(k, v) for k, v in request.headers.items() if k.lower() != "content-length"]
        body = await request.body()
        client = httpx.AsyncClient(timeout=httpx.Timeout(60, read=None))
        upstream = await client.send(client.build_request(request.method, target, headers=headers,
                                                          content=body), stream=True)
        out = self._headers(upstream)
        if upstream.headers.get("content-type", "").startswith("text/event-stream"):
            self.streams_seen += 1
            return StreamingResponse(self._frames(upstream, client, self.streams_seen),
                                     status_code=upstream.status_code, headers=out,
                                     media_type="text/event-stream")
        content = await upstream.aread()
        await upstream.aclose()
        await client.aclose()
        tampered = await self._tamper(request, action, upstream.status_code)
        if tampered is not None:
            return tampered
        inflate = self.mode == "inflate-commit" and upstream.status_code == 200
        if request.url.path.endswith("/commit") and inflate:
            data = json.loads(content)
            data["cumulative"] = str(int(data["cumulative"]) + 5000)
            content = json.dumps(data).encode()
        return Response(content, status_code=upstream.status_code, headers=out)

    def _headers(self, upstream: httpx.Response) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in upstream.headers.multi_items():
            lower = key.lower()
            if lower in HOP_HEADERS:
                continue
            if lower == "www-authenticate":
                value = self._challenge(value)
            if lower == "payment-receipt":
                value = self._receipt(value)
            out[key] = value
        return out

    async def _frames(self, upstream: httpx.Response, client: httpx.AsyncClient, number: int
                      ) -> AsyncIterator[bytes]:
        buffer, sent = b"", 0
        try:
            async for chunk in upstream.aiter_bytes():
                buffer += chunk
                while b"\n\n" in buffer:
                    frame, buffer = buffer.split(b"\n\n", 1)
                    if self.mode == "drop-stream" and number == 1 and sent >= self.drop_after:
                        self.log.append(f"dropped stream {number} after {sent} frames")
                        return
                    sent += 1
                    yield self._frame(frame.decode()).encode() + b"\n\n"
        finally:
            await upstream.aclose()
            await client.aclose()

    # --- tampering -------------------------------------------------------------------------------

    async def _tamper(self, request: Request, action: str | None, status: int) -> Response | None:
        """The answer that replaces the real one in the refuse-*/cut modes (None: keep it)."""
        if self.mode == "refuse-voucher" and action == "voucher":
            self.log.append(f"refused a voucher the server answered {status}")
            return await _bare_refusal(self.upstream, request, self.refusal_detail)
        if self.mode == "refuse-open" and action == "open":
            self.log.append(f"refused an open the server answered {status}")
            return await _bare_refusal(self.upstream, request, self.refusal_detail)
        if (self.mode == "close-then-die" and action == "close") or (self.mode == "cut-once" and action):
            self.log.append(f"cut the answer to a {action} the server answered {status}")
            self.mode = "dead" if self.mode == "close-then-die" else None
            return StreamingResponse(_cut(), status_code=200)
        return None


    def _frame(self, frame: str) -> str:
        if self.mode != "meter-above-price" or "event: mpp.metering" not in frame:
            return frame
        head, _, data = frame.partition("data: ")
        directive = json.loads(data)
        directive["amount"] = str(int(directive["amount"]) * 2)
        return head + "data: " + json.dumps(directive, separators=(",", ":"))

    def _challenge(self, value: str) -> str:
        if self.mode not in ("change-mint", "change-program", "expire-challenge"):
            return value
        from mppcli.protocol.auth import Challenge, format_www_authenticate, parse_www_authenticate
        from mppcli.protocol.encoding import b64url_encode, canonical_json

        out = []
        for challenge in parse_www_authenticate(value):
            if self.mode == "expire-challenge":
                expired = {**challenge.to_json(), "expires": "2001-01-01T00:00:00Z"}
                out.append(format_www_authenticate(Challenge(**expired)))
                continue
            request = challenge.decoded_request()
            if self.mode == "change-mint":
                request["currency"] = OTHER_MINT
            else:
                request["methodDetails"]["channelProgram"] = OTHER_PROGRAM
            fields = {**challenge.to_json(), "request": b64url_encode(canonical_json(request))}
            out.append(format_www_authenticate(Challenge(**fields)))
        return ", ".join(out)

    def _receipt(self, value: str) -> str:
        if self.first_receipt is None:
            self.first_receipt = value
            return value
        if self.mode == "replay-receipt":
            return self.first_receipt
        if self.mode == "inflate-receipt":
            data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
            data["acceptedCumulative"] = str(int(data["acceptedCumulative"]) + 5000)
            return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
        return value


def _action(authorization: str | None) -> str | None:
    """The `action` of a Payment credential (None without one)."""
    if not authorization or not authorization.lower().startswith("payment "):
        return None
    from mppcli.protocol.auth import parse_authorization

    return str(parse_authorization(authorization).payload.get("action"))


async def _bare_refusal(upstream: str, request: Request, detail: str) -> Response:
    """402 with a fresh challenge from the real server and a problem that says nothing structured."""
    async with httpx.AsyncClient() as client:
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("x-payment-channel",)}
        fresh = await client.get(upstream + request.url.path, headers=headers)
    body = json.dumps({"type": "https://paymentauth.org/problems/verification-failed",
                       "title": "Verification Failed", "status": 402, "detail": detail})
    return Response(body, status_code=402, media_type="application/problem+json",
                    headers={"WWW-Authenticate": fresh.headers["www-authenticate"]})


async def _cut() -> AsyncIterator[bytes]:
    """A response body that breaks off before its first byte: the client sees a network failure."""
    raise ConnectionError("the hostile server hangs up")
    yield b""  # pragma: no cover


def _origin_form(app: Any) -> Any:
    """Serve forward-proxy requests too (`GET http://host/path`): the path is the URL's path."""
    from urllib.parse import urlsplit

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "/")
        if scope.get("type") == "http" and not path.startswith("/"):
            scope = {**scope, "path": urlsplit(path).path or "/"}
        await app(scope, receive, send)

    return wrapped
