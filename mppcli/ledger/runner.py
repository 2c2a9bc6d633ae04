"""Starting the ledger: in a background thread (for `mpp serve` and tests) or in the foreground
(for `mpp localnet`).

    running = start_ledger(None, port=0)          # a throwaway chain on a free port
    ... running.rpc_url, running.mint ...
    running.stop()

A ledger directory is locked while a ledger runs on it, so two processes never write one chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from mppcli.errors import BusyError, InputError
from mppcli.files.locks import flock_nonblocking
from mppcli.ledger.core import Ledger, LedgerInfo

LOCK_NAME = "ledger.lock"
_START_TIMEOUT = 30.0
_PAIR_ATTEMPTS = 50


@dataclass
class RunningLedger:
    """A ledger serving JSON-RPC on loopback; `stop()` shuts it down and saves its clock."""

    rpc_url: str
    info: LedgerInfo
    ledger: Ledger
    _server: object = field(repr=False)
    _thread: threading.Thread | None = field(repr=False, default=None)
    _lock_file: IO[str] | None = field(repr=False, default=None)
    ws_url: str = ""  # the RPC port + 1, Solana's convention (`mppcli.rpc.websocket_url`)

    @property
    def mint(self) -> str:
        return self.info.mint

    @property
    def genesis_hash(self) -> str:
        return self.info.genesis_hash

    def stop(self) -> None:
        self._server.should_exit = True  # type: ignore[attr-defined]
        if self._thread is not None:
            self._thread.join(timeout=_START_TIMEOUT)
        self.ledger.close()
        if self._lock_file is not None:
            self._lock_file.close()

    def __enter__(self) -> RunningLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def lock_directory(directory: Path | None) -> IO[str] | None:
    """Hold an exclusive lock on a ledger directory, or fail with BusyError naming the holder."""
    if directory is None:
        return None
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise InputError(f"cannot create the ledger directory {directory}: {exc.strerror}") from None
    handle = open(directory / LOCK_NAME, "a+")  # noqa: SIM115 - held for the ledger's lifetime
    if not flock_nonblocking(handle.fileno()):
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise BusyError(f"the ledger directory {directory} is in use by {holder}",
                        hint="Stop the other ledger, or pass --ledger-dir DIR or --ephemeral.")
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    return handle


def bind_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: without it every answer waits ~40 ms (Nagle against the
    # client's delayed ACK), because the response goes out as two writes.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}",
                         hint="Pick another --port (0 picks a free one).") from None
    return sock


def bind_rpc_sockets(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """The JSON-RPC socket and the websocket socket on the next port (Solana's convention, which
    clients use to find the websocket). With port 0, a free pair is searched for."""
    for _ in range(_PAIR_ATTEMPTS if port == 0 else 1):
        sock = bind_socket(host, port)
        try:
            return sock, bind_socket(host, sock.getsockname()[1] + 1)
        except InputError:
            sock.close()
            if port != 0:
                raise
    raise InputError(f"cannot find two consecutive free ports on {host}")


def _make_server(ledger: Ledger) -> object:
    import uvicorn

    from mppcli.ledger.server import create_app

    config = uvicorn.Config(create_app(ledger), log_level="warning", access_log=False, lifespan="off")
    return uvicorn.Server(config)


@dataclass(frozen=True)
class _Parts:
    lock: IO[str] | None
    ledger: Ledger
    sock: socket.socket
    ws_sock: socket.socket
    server: object


def _prepare(directory: Path | None, host: str, port: int, speed: float) -> _Parts:
    """Lock the directory, open the chain, bind the socket; a failing step undoes the earlier ones
    (otherwise a busy port would leave the directory locked for the rest of this process)."""
    with contextlib.ExitStack() as undo:
        lock = lock_directory(directory)
        if lock is not None:
            undo.callback(lock.close)
        ledger = Ledger.open(directory, speed=speed)
        undo.callback(ledger.close)
        sock, ws_sock = bind_rpc_sockets(host, port)
        undo.callback(sock.close)
        undo.callback(ws_sock.close)
        server = _make_server(ledger)
        undo.pop_all()
    return _Parts(lock, ledger, sock, ws_sock, server)


def start_ledger(directory: Path | None, port: int = 0, host: str = "127.0.0.1",
                 speed: float = 1.0) -> RunningLedger:
    """Open the chain in `directory` (None: throwaway) and serve it from a background thread."""
    parts = _prepare(directory, host, port, speed)
    server, sockets = parts.server, [parts.sock, parts.ws_sock]
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=sockets)),  # type: ignore[attr-defined]
                              name="mpp-ledger", daemon=True)
    thread.start()
    url = f"http://{host}:{parts.sock.getsockname()[1]}"
    ws_url = f"ws://{host}:{parts.ws_sock.getsockname()[1]}"
    running = RunningLedger(url, parts.ledger.info(), parts.ledger, server, thread, parts.lock, ws_url)
    try:
        _wait_started(server, thread)
    except BaseException:
        running.stop()
        for sock in sockets:
            sock.close()
        raise
    return running


def _wait_started(server: object, thread: threading.Thread) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while not getattr(server, "started", False):
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the ledger's RPC server did not start")
        time.sleep(0.01)


def serve_foreground(directory: Path | None, port: int, host: str = "127.0.0.1", speed: float = 1.0,
                     on_ready: Callable[[str, LedgerInfo], None] | None = None) -> None:
    """Run the ledger on this (main) thread until Ctrl-C or SIGTERM, then save and return.

    `on_ready(rpc_url, info)` is called once the socket listens."""
    parts = _prepare(directory, host, port, speed)
    lock, ledger, sock, server = parts.lock, parts.ledger, parts.sock, parts.server

    async def main() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock, parts.ws_sock]))  # type: ignore[attr-defined]
        while not getattr(server, "started", False) and not task.done():
            await asyncio.sleep(0.01)
        if on_ready is not None and not task.done():
            on_ready(f"http://{host}:{sock.getsockname()[1]}", ledger.info())
        await task

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass  # Ctrl-C or SIGTERM: the normal way to stop a ledger
    finally:
        signal.signal(signal.SIGTERM, previous)
        ledger.close()
        if lock:
            with contextlib.suppress(OSError):
                lock.close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
