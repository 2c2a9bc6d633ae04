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
  fsync each. (A stream's closing receipt, which reports the commits' writes, waits for every
  batch itself: `StreamRun._closing_frames`.)
When nothing was written since the last fsync a wait costs a comparison.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mppcli.server.store import Store


class DurableResponses:
    def __init__(self, app: ASGIApp, store: Store):
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.store.request_scope() as writes:

            async def after_durable(message: Message) -> None:
                if message["type"] == "http.response.start":
                    await self.store.durable(None)
                elif message["type"] == "http.response.body":
                    await self.store.durable(writes.last)
                await send(message)

            await self.app(scope, receive, after_durable)
