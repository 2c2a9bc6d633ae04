"""What a paid request brings besides its credential: its body (read only up to a limit), the
body's digest for challenge binding, and how many Payment credentials it carries.

Core spec (Request Body Digest Binding): a challenge for a request with a body carries `digest`,
the RFC 9530 `sha-256=:<base64>:` of that body; a credential echoing a challenge with a digest is
accepted only with a body of the same digest. Core spec (Multiple Payment Options): several
Payment credentials in one request are refused with 400.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.requests import Request

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
MAX_PAID_BODY = 1024 * 1024
_PAYMENT_CREDENTIAL = re.compile(r"(?:^|,)[ \t]*payment(?:[ \t]|$)", re.IGNORECASE)


class BodyTooLarge(Exception):
    """The request body exceeds what this endpoint reads."""

    def __init__(self, limit: int):
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


async def read_body(request: Request, limit: int) -> bytes:
    """The body, never buffering more than `limit` bytes (a declared larger length fails at once)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    # Starlette's own cache (`Request.body()` sets it): later readers of `request.stream()`, such
    # as the gateway forwarding this body upstream, replay it instead of finding the stream consumed.
    request._body = body
    return body


def content_digest(body: bytes) -> str:
    """RFC 9530 `sha-256=:<standard base64>:`."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


async def body_digest(request: Request, limit: int = MAX_PAID_BODY) -> str | None:
    """The digest a challenge for this request binds: only methods that carry a body have one."""
    if request.method not in BODY_METHODS:
        return None
    return content_digest(await read_body(request, limit))


def payment_credentials(authorization: list[str]) -> int:
    """How many Payment credentials the Authorization header lines carry (a proxy may join them
    with commas). A line without a comma can hold one, at its start: checked there, instead of a
    case-insensitive scan of every credential's kilobyte of base64url on each paid request."""
    count = 0
    for value in authorization:
        if "," in value:
            count += len(_PAYMENT_CREDENTIAL.findall(value))
        elif _PAYMENT_CREDENTIAL.match(value):
            count += 1
    return count
