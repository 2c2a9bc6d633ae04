"""Reference-kit session server: solana-pay-kit 0.10.0's session method behind a small Starlette app.

Run with the reference venv's python. It reads one JSON object (its configuration) on stdin,
binds 127.0.0.1 (port 0 by default), prints one ready line and serves until SIGTERM/SIGINT
or until its parent process goes away.

Input:
  {"rpcUrl": "http://127.0.0.1:PORT", "mint": "<b58>", "operatorSecret": "<b58 64-byte keypair>",
   "recipient"?: "<b58>" (default: the operator, the only setup whose cooperative close works),
   "price"?: "100", "chunkPrice"?: "10", "network"?: "localnet", "decimals"?: 6,
   "feePayer"?: true, "voucherSigner"?: "client", "suggestedDeposit"?: "1000000",
   "minimumDeposit"?: null, "gracePeriodSeconds"?: 900, "idleTimeoutSeconds"?: 300,
   "idleTimeoutOptionsSeconds"?: null, "minVoucherDelta"?: "0", "tokenProgram"?: null,
   "splits"?: [{"recipient", "bps"}], "secretKey"?: "<hmac secret>", "realm"?: "refkit",
   "host"?: "127.0.0.1", "port"?: 0}
Ready line:
  {"url", "rpcUrl", "realm", "operator", "recipient", "mint", "endpoints": [...]}

Endpoints:
  GET  /paid                        one paid JSON resource (Session.handle gate, price per request)
  GET  /stream?chunks=N&meter=M     gated like /paid, then a metered SSE stream of N JSON chunks at
                                    chunkPrice each. meter=stream (default): one delivery reserved
                                    for the whole stream (mpp.metering first, mpp.usage and [DONE]
                                    last), the shape the reference client's MeteredSseStream acks
                                    once; meter=chunk: one reservation per chunk, each chunk
                                    followed by its own mpp.metering directive. A reservation the
                                    deposit cannot cover ends the stream with an `mpp.error` event.
  POST /__402/session/deliveries    the reference's side channel (reserve)
  POST /__402/session/commit        the reference's side channel (commit)
  GET  /__refkit/channels/{id}      the reference store's record of a channel (for assertions)
  GET  /health
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import sys
from types import SimpleNamespace
from typing import Any

from _refkit import emit, keypair, read_request

ENDPOINTS = ["/paid", "/stream", "/__402/session/deliveries", "/__402/session/commit",
             "/__refkit/channels/{id}", "/health"]


def ledger_rpc(url: str) -> Any:
    """The reference's own SolanaRpc, with the one call 0.10.0 gets wrong adapted.

    Its session verifier calls `get_account_info(Pubkey, commitment=...)` and reads
    `.value.owner` / `.value.data`, but SolanaRpc takes a string and returns a tuple
    (NOTES.md: "Pubkey is not JSON serializable"). Everything else is the reference's code.
    """
    from solana_pay_kit._paycore.rpc import SolanaRpc
    from solders.pubkey import Pubkey

    class LedgerRpc(SolanaRpc):  # type: ignore[misc]  # untyped in our venv
        async def get_account_info(self, address: Any, commitment: str = "confirmed") -> Any:
            found = await super().get_account_info(str(address), commitment)
            if found is None:
                return SimpleNamespace(value=None)
            data, owner = found
            return SimpleNamespace(value=SimpleNamespace(owner=Pubkey.from_string(owner), data=data))

    return LedgerRpc(url)


def build_session(config: dict[str, Any], rpc: Any) -> Any:
    """`new_session` configured from the driver input."""
    from solana_pay_kit.protocols.mpp.server.session import Split
    from solana_pay_kit.protocols.mpp.server.session_method import SessionOptions, new_session
    from solana_pay_kit.signer import LocalSigner

    signer = LocalSigner(keypair(config["operatorSecret"]))
    optional_int = {key: int(config[key]) if config.get(key) is not None else None
                    for key in ("suggestedDeposit", "minimumDeposit")}
    return new_session(SessionOptions(
        recipient=config.get("recipient") or signer.pubkey(),
        amount=int(config.get("price", "100")),
        currency=config["mint"],
        decimals=int(config.get("decimals", 6)),
        network=config.get("network", "localnet"),
        secret_key=config.get("secretKey") or secrets.token_hex(32),
        realm=config.get("realm", "refkit"),
        token_program=config.get("tokenProgram"),
        suggested_deposit=optional_int["suggestedDeposit"] if "suggestedDeposit" in config else 1_000_000,
        minimum_deposit=optional_int["minimumDeposit"],
        grace_period_seconds=int(config.get("gracePeriodSeconds", 900)),
        fee_payer=bool(config.get("feePayer", True)),
        voucher_signer=config.get("voucherSigner", "client"),
        idle_timeout_options_seconds=config.get("idleTimeoutOptionsSeconds"),
        idle_timeout_seconds=int(config.get("idleTimeoutSeconds", 300)),
        min_voucher_delta=int(config.get("minVoucherDelta", 0)),
        splits=[Split(recipient=s["recipient"], bps=int(s["bps"])) for s in config.get("splits", [])],
        rpc=rpc,
        signer=signer,
    ))


class _Frames:
    """A writer for the reference's MeteredStream that hands frames to a generator."""

    def __init__(self) -> None:
        self.pending: list[str] = []

    def write(self, data: str) -> None:
        self.pending.append(data)

    def drain(self) -> bytes:
        out, self.pending = "".join(self.pending), []
        return out.encode("utf-8")


def build_app(session: Any, chunk_price: int) -> Any:
    """The Starlette host around `Session.handle` and the reference's side channel."""
    from solana_pay_kit.protocols.mpp.core.base64url import decode_json
    from solana_pay_kit.protocols.mpp.server.session_method import SessionChallengeOptions
    from solana_pay_kit.protocols.mpp.server.session_routes import session_routes
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    routes = session_routes(session.core())

    async def gate(request: Any) -> Any:
        return await session.handle(request.headers.get("authorization"), SessionChallengeOptions(),
                                    idempotency_key=request.headers.get("idempotency-key", ""))

    def refused(result: Any) -> Any:
        return JSONResponse(result.body, status_code=result.status, headers=result.headers)

    async def paid(request: Any) -> Any:
        result = await gate(request)
        if not result.ok:
            return refused(result)
        receipt = decode_json(result.headers["payment-receipt"])
        return JSONResponse({"resource": "paid", "receipt": receipt}, headers=result.headers)

    async def stream(request: Any) -> Any:
        result = await gate(request)
        if not result.ok:
            return refused(result)
        channel_id = decode_json(result.headers["payment-receipt"])["reference"]
        chunks = int(request.query_params.get("chunks", "5"))
        meter = request.query_params.get("meter", "stream")
        commit_url = str(request.base_url).rstrip("/") + "/__402/session/commit"
        frames = metered_frames(session.core(), channel_id, chunks, chunk_price, meter, commit_url)
        headers = {**result.headers, "cache-control": "no-cache"}
        return StreamingResponse(frames, media_type="text/event-stream", headers=headers)

    def side(handler: Any) -> Any:
        async def endpoint(request: Any) -> Any:
            answer = await handler(request.method, await request.body())
            return JSONResponse(answer.body, status_code=answer.status)
        return endpoint

    async def channel(request: Any) -> Any:
        state = await session.core().store().get_channel(request.path_params["id"])
        if state is None:
            return JSONResponse({"error": "unknown channel"}, status_code=404)
        return JSONResponse(state.to_dict())

    async def health(request: Any) -> Any:
        return JSONResponse({"ok": True})

    any_method = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    return Starlette(routes=[
        Route("/paid", paid), Route("/stream", stream),
        Route("/__402/session/deliveries", side(routes.deliveries), methods=any_method),
        Route("/__402/session/commit", side(routes.commit), methods=any_method),
        Route("/__refkit/channels/{id}", channel), Route("/health", health),
    ])


async def metered_frames(core: Any, channel_id: str, chunks: int, chunk_price: int, meter: str,
                         commit_url: str) -> Any:
    """SSE frames written with the reference's MeteredStream, metered through its store."""
    from solana_pay_kit.protocols.mpp.intents.session import MeteringUsage
    from solana_pay_kit.protocols.mpp.server.session import DeliveryRequest
    from solana_pay_kit.protocols.mpp.server.session_stream import new_metered_stream_writer

    frames = _Frames()
    writer = new_metered_stream_writer(frames)

    async def reserve(amount: int) -> Any:
        try:
            return await core.begin_delivery(DeliveryRequest(session_id=channel_id, amount=amount,
                                                             commit_url=commit_url))
        except ValueError as exc:
            writer.write_event("mpp.error", json.dumps({"error": str(exc)}).encode())
            return None

    if meter == "chunk":
        for index in range(chunks):
            directive = await reserve(chunk_price)
            if directive is None:
                break
            writer.write_envelope({"chunk": index, "text": f"chunk {index}"}, directive)
            yield frames.drain()
    else:
        directive = await reserve(chunk_price * chunks)
        if directive is not None:
            writer.write_metering(directive)
            for index in range(chunks):
                writer.write_json({"chunk": index, "text": f"chunk {index}"})
                yield frames.drain()
            writer.write_usage(MeteringUsage(delivery_id=directive.delivery_id,
                                             amount=str(chunk_price * chunks)))
    writer.write_done()
    yield frames.drain()


async def serve(config: dict[str, Any]) -> None:
    import uvicorn

    rpc = ledger_rpc(config["rpcUrl"])
    session = build_session(config, rpc)
    app = build_app(session, int(config.get("chunkPrice", "10")))
    # proto=IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections (else every response
    # waits ~40 ms on Nagle + delayed ACK, which would make the reference look slower than it is)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((config.get("host", "127.0.0.1"), int(config.get("port", 0))))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if task.done():
        await task
        return
    host, port = sock.getsockname()[:2]
    core = session.core().config
    emit({"url": f"http://{host}:{port}", "rpcUrl": config["rpcUrl"], "realm": config.get("realm", "refkit"),
          "operator": core.operator, "recipient": core.recipient, "mint": config["mint"],
          "endpoints": ENDPOINTS})
    watchdog = asyncio.create_task(_exit_with_parent(server))
    try:
        await task
    finally:
        watchdog.cancel()
        session.shutdown()
        await rpc.aclose()


async def _exit_with_parent(server: Any) -> None:
    """Stop serving when the process that started this driver is gone (no orphans)."""
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(1.0)
    server.should_exit = True


if __name__ == "__main__":
    try:
        configuration = read_request()
    except Exception as exc:
        emit({"ok": False, "error": f"bad configuration: {exc}"})
        sys.exit(2)
    asyncio.run(serve(configuration))
