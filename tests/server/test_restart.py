"""State survives a restart of `mpp serve`: channels, watermarks, the idempotency cache and
metered reservations, on the same embedded chain."""

from __future__ import annotations

import httpx
import pytest

from tests.server.harness import ServerProcess
from tests.server.payer import Payer, problem_of, receipt_of
from tests.server.stream_client import consume

PRICE, CHUNK = 10_000, 1_000


def test_a_restart_continues_every_open_channel(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = ServerProcess.start(tmp_path / "home", "--stream-pause", "0.5")
    try:
        payer = Payer(server)
        assert payer.open().status_code == 200
        challenge, _ = payer.challenge()
        payload = payer.voucher_payload(payer.voucher(PRICE))
        first = payer.send(payload, challenge, headers={"Idempotency-Key": "k1"})
        assert receipt_of(first).spent == PRICE
        log = consume(payer, PRICE + CHUNK, 3, commit=False)  # leaves two chunks unvouched
        pending = log.directives[0].delivery_id

        assert server.stop() == 0
        server = server.restart()
        payer.server = server

        replay = payer.send(payload, challenge, headers={"Idempotency-Key": "k1"})
        assert (
            replay.content == first.content
            and replay.headers["payment-receipt"] == first.headers["payment-receipt"]
        )
        committed = httpx.post(
            server.url + "/__402/session/commit",
            json={"deliveryId": pending, "voucher": payer.voucher(PRICE + 2 * CHUNK).to_json()},
        )
        assert committed.status_code == 200, committed.text
        assert problem_of(payer.pay(PRICE + 2 * CHUNK)).name == "verification-failed"  # not monotonic
        # spent first: all three chunks were charged as they left; one is still unvouched
        assert receipt_of(payer.pay(2 * PRICE + 2 * CHUNK)).spent == 2 * PRICE + 3 * CHUNK
        closed = receipt_of(payer.close())
        assert closed.refunded == 1_000_000 - 2 * PRICE - 2 * CHUNK
    finally:
        server.stop()


def test_a_second_server_cannot_share_the_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = str(tmp_path / "server.db")
    server = ServerProcess.start(tmp_path / "home", "--ephemeral", "--db", db)
    try:
        with pytest.raises(AssertionError, match="another mpp serve"):
            ServerProcess.start(tmp_path / "home2", "--ephemeral", "--db", db)
    finally:
        server.stop()


def test_spec_choice_one_cluster_per_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A database remembers its cluster's genesis hash and never meters another cluster's channels."""
    db = str(tmp_path / "server.db")
    ServerProcess.start(tmp_path / "home", "--ephemeral", "--db", db).stop()
    with pytest.raises(AssertionError, match="another cluster"):
        ServerProcess.start(tmp_path / "home", "--ephemeral", "--db", db)  # a new throwaway chain
