"""The HTTP answer of a paid request: its debit's cached response (an idempotent replay answers
the same bytes), with its `Payment-Receipt`; the demo endpoints and the gateway's management
answers both send it."""

from __future__ import annotations

from starlette.responses import Response

from mppcli.server.state import CachedResponse


def cached_answer(response: CachedResponse, head: bool) -> Response:
    headers = {"Cache-Control": "private"}
    if response.receipt:
        headers["Payment-Receipt"] = response.receipt
    return Response(b"" if head else response.body, response.status, headers, response.content_type)
