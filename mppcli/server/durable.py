"""Responses wait for durability: the ASGI wrapper that makes group commit safe.

The store commits without an fsync of its own in group mode (`Store.enable_group_commit`); this
wrapper awaits `Store.durable()` before every response message (the head, and each body chunk of a
stream) leaves, so the state a response reports or pays for is on disk first (spec: Crash Safety)
while concurrent requests share one fsync. When nothing was written since the last fsync it costs
a comparison.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

RESPONSE_MESSAGES = frozenset({"http.response.start", "http.response.body"})


class DurableResponses:
    def __init__(self, app: ASGIApp, durable: Callable[[], Awaitable[None]]):
        self.app = app
        self.durable = durable

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def after_durable(message: Message) -> None:
            if message["type"] in RESPONSE_MESSAGES:
                await self.durable()
            await send(message)

        await self.app(scope, receive, after_durable)
