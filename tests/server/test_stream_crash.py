"""Spent first, then data (spec, Crash Safety): a chunk never reaches the client before its price
is durable in the channel's `spent`. The server is SIGKILLed right after a chunk arrives; after a
restart on the same database, `spent` includes every chunk the client received."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
from httpx_sse import connect_sse

from mppcli.protocol.auth import Credential, format_authorization
from mppcli.protocol.metering import classify_event
from tests.server.harness import ServerProcess
from tests.server.payer import Payer, receipt_of

PRICE, CHUNK = 10_000, 1_000


def test_a_chunk_received_is_in_spent_after_the_server_is_killed(tmp_path: Path) -> None:
    args = ("--stream-pause", "0.5", "--stream-interval", "0.05")  # one chunk per store commit
    server = ServerProcess.start(tmp_path / "home", *args)
    try:
        payer = Payer(server)
        assert payer.open().status_code == 200
        challenge, _ = payer.challenge("/stream")
        auth = format_authorization(Credential(challenge, payer.voucher_payload(payer.voucher(CHUNK))))
        received = 0
        with (
            httpx.Client(timeout=httpx.Timeout(60, read=None)) as http,
            connect_sse(http, "GET", f"{server.url}/stream?chunks=1000",
                        headers={"Authorization": auth}) as sse,
        ):
            assert sse.response.status_code == 200
            for frame in sse.iter_sse():
                name = None if frame.event == "message" else frame.event
                received += classify_event(name, frame.data).kind == "message"
                if received == 4:
                    server.stop(signal.SIGKILL)  # the 4th chunk is here: kill before anything else
                    break
        server = ServerProcess.start(tmp_path / "home", *args)
        payer.server = server
        spent_after_request = receipt_of(payer.pay(CHUNK + PRICE)).spent
        # chunk 1 was paid by the credential; chunks 2..4 were charged before they left
        assert spent_after_request - PRICE >= received * CHUNK, spent_after_request
        # the close settles at the last accepted voucher; the unvouched chunks are the seller's
        # loss, logged
        assert receipt_of(payer.close()).refunded == 1_000_000 - CHUNK - PRICE
        unvouched = spent_after_request - CHUNK - PRICE
        assert f"channel {payer.channel_id}: {unvouched} delivered but never vouched for" in server.log()
    finally:
        server.stop()
