"""The ledger's HTTP face: POST / takes JSON-RPC (single or batch), GET /health says "ok".

The handler calls the ledger on the event loop's thread: the ledger is CPU-bound and serialised
by its lock anyway, and keeping one thread means LiteSVM is only ever touched by one thread.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from mppcli.ledger.core import Ledger
from mppcli.ledger.jsonrpc import handle_body


def create_app(ledger: Ledger) -> Starlette:
    async def rpc(request: Request) -> Response:
        body = await request.body()
        return Response(handle_body(ledger, body), media_type="application/json")

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/", rpc, methods=["POST"]), Route("/health", health, methods=["GET"])])
