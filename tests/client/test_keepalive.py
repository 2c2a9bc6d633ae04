"""The metered stream's commit connection (`mppcli.client.keepalive` through `Http.post_commit`),
against real sockets on 127.0.0.1: a small HTTP/1.1 server written with h11 whose behaviour each
test picks (answer and keep the connection, answer and close it unannounced, cut an answer), a
recording proxy, and an HTTPS server with a throwaway certificate."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import ssl
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h11
import pytest

from mppcli.client.http import PROXY_VARIABLES, Http
from mppcli.errors import NetworkError

Behaviour = Callable[[h11.Request, bytes], tuple[bytes | None, bool]]  # (raw answer or None, close after)


def answer_json(value: object, status: int = 200, extra: list[tuple[str, str]] | None = None) -> bytes:
    body = json.dumps(value).encode()
    head = f"HTTP/1.1 {status} OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in extra or [])
    return head.encode() + b"\r\n" + body


@dataclass
class RawServer:
    """An HTTP/1.1 server on 127.0.0.1 (its own loop, in a thread) that records each connection
    and each request target, and answers as `behaviour` says."""

    behaviour: Behaviour
    tls: ssl.SSLContext | None = None
    connections: int = 0
    targets: list[str] = field(default_factory=list)
    port: int = 0
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    def __enter__(self) -> RawServer:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def start() -> None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()

        def run() -> None:
            self._loop.run_until_complete(start())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:  # connections still open end here, while their loop runs
            self._server.close()
            for task in self._handlers:
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections += 1
        state = h11.Connection(h11.SERVER)
        try:
            while True:
                request, body = None, b""
                while True:
                    event = state.next_event()
                    if event is h11.NEED_DATA:
                        data = await reader.read(65536)
                        state.receive_data(data)
                        if not data:
                            return
                    elif isinstance(event, h11.Request):
                        request = event
                    elif isinstance(event, h11.Data):
                        body += bytes(event.data)
                    elif isinstance(event, h11.EndOfMessage):
                        break
                assert request is not None
                self.targets.append(request.target.decode())
                raw, close = self.behaviour(request, body)
                if raw is not None:
                    writer.write(raw)
                    await writer.drain()
                if close:
                    return
                state = h11.Connection(h11.SERVER)  # the raw answer bypassed h11's own cycle
        finally:
            writer.close()


def keep_open(request: h11.Request, body: bytes) -> tuple[bytes, bool]:
    return answer_json({"echo": json.loads(body)}), False


def close_unannounced(request: h11.Request, body: bytes) -> tuple[bytes, bool]:
    return answer_json({"echo": json.loads(body)}), True


async def post_all(url: str, count: int) -> list[object]:
    async with Http() as http:
        answers = [await http.post_commit(url, {"n": n}) for n in range(count)]
    return [json.loads(a.body)["echo"]["n"] for a in answers if a.status == 200]


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_commits_share_one_kept_open_connection() -> None:
    with RawServer(keep_open) as server:
        assert asyncio.run(post_all(f"http://127.0.0.1:{server.port}/commit?x=1", 5)) == [0, 1, 2, 3, 4]
    assert server.connections == 1
    assert server.targets == ["/commit?x=1"] * 5


def test_a_connection_the_server_closed_is_replaced_and_nothing_is_lost() -> None:
    """The server closes after each answer without saying so: the next commit notices the close
    (or gets nothing back on the dead connection) and goes once more on a fresh one."""
    with RawServer(close_unannounced) as server:
        assert asyncio.run(post_all(f"http://127.0.0.1:{server.port}/commit", 4)) == [0, 1, 2, 3]
    assert server.connections == 4


def test_an_announced_close_is_honoured() -> None:
    def announced(request: h11.Request, body: bytes) -> tuple[bytes, bool]:
        return answer_json({"echo": json.loads(body)}, extra=[("connection", "close")]), True

    with RawServer(announced) as server:
        assert asyncio.run(post_all(f"http://127.0.0.1:{server.port}/commit", 3)) == [0, 1, 2]
    assert server.connections == 3


@pytest.mark.parametrize(
    ("behaviour", "words"),
    [
        (lambda request, body: (None, True), "the server closed the connection"),  # nothing, fresh
        (lambda request, body: (answer_json({"echo": 1})[:30], True), "RemoteProtocolError"),  # half
        (lambda request, body: (b"NOT HTTP AT ALL\r\n\r\n", True), "RemoteProtocolError"),  # garbage
    ],
)
def test_a_broken_answer_is_a_network_error(behaviour: Behaviour, words: str) -> None:
    with RawServer(behaviour) as server, pytest.raises(NetworkError, match=words):
        asyncio.run(post_all(f"http://127.0.0.1:{server.port}/commit", 1))
    assert server.connections == 1  # a fresh connection that failed is not tried again


def test_nobody_listening_is_a_network_error() -> None:
    with RawServer(keep_open) as server:
        port = server.port
    with pytest.raises(NetworkError, match=re.escape(f"127.0.0.1:{port}")):
        asyncio.run(post_all(f"http://127.0.0.1:{port}/commit", 1))


def test_with_a_proxy_in_the_environment_commits_go_through_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx honours *_proxy; so do commits (they take httpx then, not the kept-open connection)."""
    with RawServer(keep_open) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        assert asyncio.run(post_all("http://127.0.0.1:9/commit", 2)) == [0, 1]
    assert proxy.targets == ["http://127.0.0.1:9/commit"] * 2  # absolute form: a proxied request


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_https_trusts_what_httpx_trusts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    with RawServer(keep_open, tls=tls) as server:
        url = f"https://127.0.0.1:{server.port}/commit"
        with pytest.raises(NetworkError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            asyncio.run(post_all(url, 1))  # a certificate nobody vouched for
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # as httpx reads it
        assert asyncio.run(post_all(url, 3)) == [0, 1, 2]
