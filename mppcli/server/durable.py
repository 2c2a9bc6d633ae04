"""Responses wait for durability: the ASGI wrapper that makes group commit safe.

The store commits without an fsync of its own in group mode (`Store.enable_group_commit`); this
wrapper awaits `Store.durable()` before any response message leaves, so the state a response
reports or pays for is on disk first (spec: Crash Safety) while concurrent requests share one fsync:
- the head waits for every batch committed so far, by any request: whatever this response was
  decided on (its own writes, or rows another request wrote, e.g. a cached answer it replays) is
  on disk before it starts;
- each later body message (a stream's chunks) waits for this request's own batches only, the
  last of which (batches land in order) covers every batch before it, such as the voucher that
  opened the window for those chunks. A body with nothing new of its own does not wait again:
  waiting for other requests' writes there cost the metered stream's commit answers a second
  fsync each.
When nothing was written since the last fsync a wait costs a comparison.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mppcli.server.store import track_request_writes


class DurableResponses:
    def __init__(self, app: ASGIApp, durable: Callable[[int | None], Awaitable[None]]):
        self.app = app
        self.durable = durable

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        writes = track_request_writes()

        async def after_durable(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self.durable(None)
            elif message["type"] == "http.response.body":
                await self.durable(writes.last)
            await send(message)

        await self.app(scope, receive, after_durable)
