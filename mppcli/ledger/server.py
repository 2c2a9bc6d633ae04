"""The ledger's HTTP face: POST / takes JSON-RPC (single or batch), GET /health says "ok", and a
websocket at / speaks Solana's PubSub (`accountSubscribe`; see `mppcli.ledger.pubsub`).

The runner serves this app on two sockets, the RPC port and the RPC port + 1 (the websocket
port by Solana's convention); both answer both protocols.

The handler calls the ledger on the event loop's thread: the ledger is CPU-bound and serialised
by its lock anyway, and keeping one thread means LiteSVM is only ever touched by one thread.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from mppcli.ledger.core import Ledger
from mppcli.ledger.jsonrpc import handle_body
from mppcli.ledger.pubsub import CLOSE, Connection, hub_for

TRY_AGAIN_LATER = 1013  # websocket close code while `mpp_dropWebsockets {"refuse": true}` holds


def create_app(ledger: Ledger) -> Starlette:
    hub = hub_for(ledger)

    async def rpc(request: Request) -> Response:
        body = await request.body()
        answer = handle_body(ledger, body)
        await hub.flushed()
        return Response(answer, media_type="application/json")

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def pubsub(websocket: WebSocket) -> None:
        if hub.refusing:
            await websocket.close(TRY_AGAIN_LATER)
            return
        await websocket.accept()
        connection = hub.connect(asyncio.get_running_loop())
        sender = asyncio.create_task(_send_queued(websocket, connection))
        try:
            while True:
                hub.handle(connection, await websocket.receive_text())
        except (WebSocketDisconnect, RuntimeError):  # closed by the peer, or by us (drop)
            pass
        finally:
            hub.disconnect(connection)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    return Starlette(routes=[Route("/", rpc, methods=["POST"]), Route("/health", health, methods=["GET"]),
                             WebSocketRoute("/", pubsub)])


async def _send_queued(websocket: WebSocket, connection: Connection) -> None:
    """Write replies and notifications in queue order; a CLOSE entry closes the socket."""
    try:
        while True:
            message = await connection.queue.get()
            try:
                if message is CLOSE:
                    await websocket.close()
                    return
                await websocket.send_text(message)
            finally:
                connection.sent()
    except (WebSocketDisconnect, RuntimeError, OSError):
        return
