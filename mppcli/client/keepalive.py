"""One open HTTP/1.1 connection per origin for the metered stream's commits (POST JSON, read JSON).

Why not httpx here: a metered stream's client is CPU-bound while it reads, and each commit it
POSTs cost ~1 ms of CPU through httpx's client, pool and response machinery, against ~0.2 ms for
the same exchange written with h11 (the HTTP/1.1 state machine httpx itself runs on) over a socket
kept open (measured on the 2-CPU bench machine with a local Starlette server; in
`bench/stream_events.py` the commits were about a third of the client's time). h11 does the
protocol; this module only keeps one connection per origin and maps failures.

It is used only where it behaves as httpx would: never through a proxy (with any `*_proxy`
environment variable set, `Http.post_commit` takes httpx, which honours them), and over TLS with
httpx's own default context (`httpx.create_ssl_context`: the same trust store, `SSL_CERT_FILE` and
`SSL_CERT_DIR`). Every failure closes the connection and is a `NetworkError`; a connection the
server closed while it sat idle is noticed before use, or, failing that, the request is sent once
more on a fresh connection when nothing at all came back (the meter's commit is the identical body,
which a server answers as a replay).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

from mppcli.client.answer import Answer, header_map
from mppcli.errors import NetworkError

MAX_ANSWER_BYTES = 1 << 20  # a commit receipt is a few hundred bytes


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    state: h11.Connection
    used: bool = False
    received: int = 0  # bytes of the answer under way

    def closed_while_idle(self) -> bool:
        """The server closed it while it sat idle (its EOF is already here)."""
        return self.reader.at_eof() or self.writer.is_closing()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class _NothingBack(Exception):
    """The connection died before any byte of an answer arrived."""


class KeepAlivePoster:
    """POSTs JSON bodies over one kept-open connection per origin (`scheme://host:port`)."""

    def __init__(self, user_agent: str, debug: Callable[[str], None], timeout: float, connect_timeout: float):
        self._user_agent = user_agent
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._debug = debug
        self._connections: dict[str, _Connection] = {}
        self._tls: ssl.SSLContext | None = None

    async def post(self, url: str, body: bytes, content_type: str = "application/json") -> Answer:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = [("host", parts.netloc), ("user-agent", self._user_agent), ("accept", "*/*"),
                   ("content-type", content_type), ("content-length", str(len(body)))]
        request = h11.Request(method="POST", target=target, headers=headers)
        self._debug(f"> POST {url}")
        try:
            async with asyncio.timeout(self._timeout):
                try:
                    answer = await self._exchange(origin, parts.scheme, parts.hostname or "",
                                                  parts.port, request, body)
                except _NothingBack:  # an idle connection the server had closed: once more, fresh
                    answer = await self._exchange(origin, parts.scheme, parts.hostname or "",
                                                  parts.port, request, body)
        except (OSError, TimeoutError, h11.ProtocolError, _NothingBack) as exc:
            self._drop(origin)
            kind = type(exc).__name__
            raise NetworkError(f"{url}: {exc or kind} ({kind})") from exc
        except BaseException:
            self._drop(origin)
            raise
        self._debug(f"< {answer.status} {answer.reason}")
        return answer

    async def _exchange(self, origin: str, scheme: str, host: str, port: int | None,
                        request: h11.Request, body: bytes) -> Answer:
        connection = self._connections.get(origin)
        if connection is not None and connection.closed_while_idle():
            self._drop(origin)
            connection = None
        if connection is None:
            connection = await self._connect(origin, scheme, host, port)
        reused, connection.used, connection.received = connection.used, True, 0
        state = connection.state
        try:
            connection.writer.write(state.send(request) + state.send(h11.Data(data=body))
                                    + state.send(h11.EndOfMessage()))
            await connection.writer.drain()
            return await self._answer(origin, connection)
        except (OSError, h11.RemoteProtocolError) as exc:
            if reused and connection.received == 0:
                self._drop(origin)
                raise _NothingBack(str(exc) or type(exc).__name__) from exc
            raise

    async def _connect(self, origin: str, scheme: str, host: str, port: int | None) -> _Connection:
        tls = self._tls_context() if scheme == "https" else None
        default_port = 443 if scheme == "https" else 80
        async with asyncio.timeout(self._connect_timeout):
            reader, writer = await asyncio.open_connection(host, port or default_port, ssl=tls,
                                                           server_hostname=host if tls else None)
        connection = _Connection(reader, writer, h11.Connection(h11.CLIENT))
        self._connections[origin] = connection
        return connection

    async def _answer(self, origin: str, connection: _Connection) -> Answer:
        state, head, chunks, size = connection.state, None, [], 0
        while True:
            event = state.next_event()
            if event is h11.NEED_DATA:
                data = await connection.reader.read(65536)
                if not data and connection.received == 0:
                    raise ConnectionResetError("the server closed the connection")
                connection.received += len(data)
                state.receive_data(data)
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > MAX_ANSWER_BYTES:
                    raise h11.RemoteProtocolError(f"an answer longer than {MAX_ANSWER_BYTES} bytes")
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionResetError("the server closed the connection mid-answer")
        assert head is not None
        if state.our_state is h11.DONE and state.their_state is h11.DONE:
            state.start_next_cycle()
        else:  # the server will close it (Connection: close, or HTTP/1.0)
            self._drop(origin)
        headers = header_map((name.decode("latin-1"), value.decode("latin-1"))
                             for name, value in head.headers)
        return Answer(head.status_code, headers, b"".join(chunks), f"HTTP/{head.http_version.decode()}",
                      head.reason.decode("latin-1"))

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            import httpx

            self._tls = httpx.create_ssl_context()
        return self._tls

    def _drop(self, origin: str) -> None:
        connection = self._connections.pop(origin, None)
        if connection is not None:
            connection.close()

    async def aclose(self) -> None:
        for origin in list(self._connections):
            self._drop(origin)
