"""The HTTP/1.1 wire layer under the app: uvicorn's h11 protocol, with its own refusals in
problem+json like every other refusal of `mpp serve`.

h11 refuses what the app never sees: a request that is not valid HTTP/1.1, or whose header section
exceeds `MAX_HEADER_BYTES` (buffered at most that much per connection). uvicorn answers those with
a plain-text 400; here the same 400 carries an `application/problem+json` body (no challenge: the
request was never parsed far enough to name a resource).
"""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from mppcli.protocol.problem import CONTENT_TYPE as PROBLEM_CONTENT_TYPE
from mppcli.protocol.problem import blank_problem

MAX_HEADER_BYTES = 64 * 1024
LINGER_SECONDS = 2.0

_BODY = json.dumps(
    blank_problem(400, "Bad Request", "the request is not valid HTTP/1.1, or its header section is larger "
                  f"than {MAX_HEADER_BYTES // 1024} KiB"),
    separators=(",", ":"),
).encode()


class ProblemH11Protocol(H11Protocol):
    """uvicorn's h11 protocol; its 400 for unparseable or oversize requests is problem+json, and the
    connection lingers (discarding input) so the client can read that answer before it is closed."""

    _refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # what the client is still sending of a refused request
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        headers = [
            (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
            (b"cache-control", b"no-store"),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=_BODY),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        # Closing with unread input would reset the connection and lose the answer: half-close,
        # keep discarding what still arrives, and close for good after a short linger.
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)
