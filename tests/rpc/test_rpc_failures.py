"""Every failure of `mppcli.rpc.Rpc` is an RpcError, also against an endpoint that is not Solana.

A real HTTP server on 127.0.0.1 answers each request with a fixed body (well-formed JSON of the
wrong shape, a JSON list, an error object that is not an object), as a misconfigured `--rpc-url`
would.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from solders.pubkey import Pubkey

from mppcli.errors import RpcError
from mppcli.rpc import Rpc, describe_err


class _Canned(BaseHTTPRequestHandler):
    body: bytes = b"{}"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.server.body)))  # type: ignore[attr-defined]
        self.end_headers()
        self.wfile.write(self.server.body)  # type: ignore[attr-defined]

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


async def _call(url: str, method: str) -> Any:
    async with Rpc(url, timeout=5) as rpc:
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "slot": rpc.slot,
            "account": lambda: rpc.account(Pubkey.from_bytes(bytes(range(32)))),
            "genesis_hash": rpc.genesis_hash,
            "ledger_info": rpc.ledger_info,
            "warp": lambda: rpc.warp(slots=1),
            "faucet_mint": lambda: rpc.faucet_mint(Pubkey.from_bytes(bytes(range(32))), 1),
        }
        return await calls[method]()


WRONG_SHAPES = {
    "object": {"hello": "world"},
    "list": [1, 2, 3],
    "result-of-wrong-type": {"jsonrpc": "2.0", "id": 1, "result": "not what was asked"},
    "error-not-an-object": {"jsonrpc": "2.0", "id": 1, "error": "boom"},
}


@pytest.mark.parametrize("method", ["slot", "account", "genesis_hash", "ledger_info", "warp", "faucet_mint"])
@pytest.mark.parametrize("shape", list(WRONG_SHAPES))
def test_an_answer_of_the_wrong_shape_is_an_rpc_error(endpoint: ThreadingHTTPServer, method: str,
                                                     shape: str) -> None:
    endpoint.body = json.dumps(WRONG_SHAPES[shape]).encode()  # type: ignore[attr-defined]
    with pytest.raises(RpcError) as raised:
        asyncio.run(_call(_url(endpoint), method))
    assert _url(endpoint) in raised.value.message or "failed" in raised.value.message


def test_a_well_formed_answer_still_works(endpoint: ThreadingHTTPServer) -> None:
    answer: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "result": 42}
    endpoint.body = json.dumps(answer).encode()  # type: ignore[attr-defined]
    assert asyncio.run(_call(_url(endpoint), "slot")) == 42
    answer["result"] = {"slot": 7, "unixTimestamp": 9}
    endpoint.body = json.dumps(answer).encode()  # type: ignore[attr-defined]
    assert asyncio.run(_call(_url(endpoint), "warp")) == (7, 9)


def test_describe_err_names_the_channel_programs_code() -> None:
    from mppcli.chain.constants import PROGRAM_ID

    text, index, code = describe_err({"InstructionError": [1, {"Custom": 2003}]}, ["x", str(PROGRAM_ID)])
    assert (index, code) == (1, 2003)
    assert "openSlotOutOfWindow (2003)" in text


@pytest.mark.parametrize("err", [
    {"InstructionError": "boom"},
    {"InstructionError": [0]},
    {"InstructionError": ["0", {"Custom": 1}]},
    {"InstructionError": [0, {"Custom": "12"}], "extra": 1},
    "AccountInUse",
    None,
])
def test_describe_err_reads_any_odd_error_without_raising(err: Any) -> None:
    text, _, code = describe_err(err)
    assert text.startswith(("transaction failed:", "instruction 0 failed:"))
    assert code is None
