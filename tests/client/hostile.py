"""A hostile server for the payer's tests: a tampering proxy in front of a real `mpp serve`.

The proxy forwards every request to the real server (so opens, vouchers and commits are real and
land on the real ledger) and rewrites what comes back according to `mode`:

    meter-above-price   `mpp.metering` directives ask for twice the amount
    replay-receipt      every later Payment-Receipt is the first one it saw again
    inflate-receipt     Payment-Receipt claims 5000 more acceptedCumulative than the server said
    inflate-commit      commit receipts claim 5000 more cumulative than the server said
    change-mint         challenges name another mint      change-program   ... another program
    drop-stream         the first SSE response is cut after `drop_after` frames

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
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
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

    def _frame(self, frame: str) -> str:
        if self.mode != "meter-above-price" or "event: mpp.metering" not in frame:
            return frame
        head, _, data = frame.partition("data: ")
        directive = json.loads(data)
        directive["amount"] = str(int(directive["amount"]) * 2)
        return head + "data: " + json.dumps(directive, separators=(",", ":"))

    def _challenge(self, value: str) -> str:
        if self.mode not in ("change-mint", "change-program"):
            return value
        from mppcli.protocol.auth import Challenge, format_www_authenticate, parse_www_authenticate
        from mppcli.protocol.encoding import b64url_encode, canonical_json

        out = []
        for challenge in parse_www_authenticate(value):
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
