"""A bug is a 500 in problem+json, never a payment refusal (issue #10 item 12): the app runs
in-process under the same uvicorn protocol as `mpp serve`, on 127.0.0.1, with a deliberately
broken action parser standing in for a bug."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import httpx
import pytest
import uvicorn
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from mppcli.protocol.auth import Credential, format_authorization
from mppcli.protocol.problem import parse_problem
from mppcli.server import method as method_module
from mppcli.server.app import create_app, routes_for
from mppcli.server.chainport import ChainPort
from mppcli.server.config import ServerConfig
from mppcli.server.context import ServerContext
from mppcli.server.httpwire import ProblemH11Protocol
from mppcli.server.store import Store


def _context() -> ServerContext:
    operator = Keypair()
    config = ServerConfig(
        network="localnet",
        rpc_url="http://127.0.0.1:9",
        program_id=str(Pubkey.new_unique()),
        operator=operator,
        recipient=str(operator.pubkey()),
        recipient_signer=operator,
        mint=str(Pubkey.new_unique()),
        decimals=6,
        token_program=str(Pubkey.new_unique()),
        secret=b"s" * 32,
    )
    return ServerContext(config, Store.open(None), ChainPort(None, config.program_id))


async def _ask(ctx: ServerContext, authorization: str) -> httpx.Response:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    config = uvicorn.Config(create_app(ctx), http=ProblemH11Protocol, log_level="critical", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        port = sock.getsockname()[1]
        async with httpx.AsyncClient() as client:
            return await client.get(f"http://127.0.0.1:{port}/paid", headers={"Authorization": authorization})
    finally:
        server.should_exit = True
        await task


def test_a_value_error_from_a_bug_is_a_500_not_a_402(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("a bug, not bad input")

    monkeypatch.setattr(method_module, "parse_action", broken)
    ctx = _context()
    route = routes_for(ctx)["/paid"]
    challenge = ctx.issuer.new_channel(route, str(Hash.new_unique()), 1, time.time())
    authorization = format_authorization(Credential(challenge, {"action": "voucher"}))
    response = asyncio.run(_ask(ctx, authorization))
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = parse_problem(response.content)
    assert problem.status == 500 and "bug" not in (problem.detail or "")
