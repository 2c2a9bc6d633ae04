"""Spec voucher checks 6-7 from a pushed view: `mpp serve` subscribes to each channel account over
the embedded ledger's websocket (accountSubscribe, RPC port + 1) instead of reading it per voucher,
still sees a forced close made on chain at once, and falls back to a read per voucher while the
websocket is down. The ledger counts the JSON-RPC calls it answers (`mpp_rpcStats`) and can drop
every websocket for real (`mpp_dropWebsockets`)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from solders.hash import Hash

from mppcli.chain.transactions import build_request_close_transaction
from mppcli.chain.txcodec import partial_sign
from tests.server.harness import ServerProcess
from tests.server.payer import Payer, problem_of, receipt_of

PRICE = 10_000
SEEDING_VOUCHERS = 50  # the subscription is confirmed within a voucher or two; this is a ceiling


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # The watchdog's own chain watch is pushed out of the way: every read counted here is a voucher's.
    running = ServerProcess.start(
        tmp_path_factory.mktemp("serve") / "home", "--ephemeral", "--chain-watch-interval", "3600"
    )
    yield running
    running.stop()


def reads(payer: Payer) -> int:
    """getAccountInfo calls the ledger has answered so far."""
    return int(payer.chain.call("mpp_rpcStats", [])["calls"].get("getAccountInfo", 0))


def pay_until_pushed(payer: Payer, paid: int) -> int:
    """Pay vouchers until one is accepted without a chain read (the view is seeded); returns the
    cumulative amount paid."""
    for _ in range(SEEDING_VOUCHERS):
        before = reads(payer)
        paid += PRICE
        assert payer.pay(paid).status_code == 200
        if reads(payer) == before:
            return paid
    raise AssertionError(f"every one of {SEEDING_VOUCHERS} vouchers read the channel over RPC")


def force_close(payer: Payer) -> None:
    _, request = payer.challenge()
    payer.chain.airdrop(payer.pubkey, 10_000_000)
    blockhash, _ = payer.chain.latest_blockhash()
    tx = build_request_close_transaction(payer.keys(request), Hash.from_string(blockhash))
    payer.chain.send(bytes(partial_sign(tx, [payer.keypair])))


def test_vouchers_need_no_chain_read_and_a_forced_close_is_seen_at_once(payer: Payer) -> None:
    assert payer.open().status_code == 200
    paid = pay_until_pushed(payer, 0)
    before = reads(payer)
    for _ in range(5):
        paid += PRICE
        assert payer.pay(paid).status_code == 200
    assert reads(payer) == before  # five vouchers, no getAccountInfo
    challenge, _ = payer.challenge()
    force_close(payer)
    before = reads(payer)
    problem = problem_of(payer.pay(paid + PRICE, challenge=challenge))
    assert "forced close" in problem.detail
    assert reads(payer) == before  # refused from the pushed view, not from a read


def test_a_dropped_websocket_falls_back_to_a_read_per_voucher(payer: Payer) -> None:
    assert payer.open().status_code == 200
    paid = pay_until_pushed(payer, 0)
    try:
        dropped = payer.chain.call("mpp_dropWebsockets", [{"refuse": True}])
        assert dropped["dropped"] >= 1
        before = reads(payer)
        for _ in range(3):
            paid += PRICE
            assert payer.pay(paid).status_code == 200
        assert reads(payer) == before + 3  # polling: one read per voucher
        assert payer.chain.call("mpp_rpcStats", [])["websockets"] == 0
    finally:
        payer.chain.call("mpp_dropWebsockets", [{"refuse": False}])
    wait_for_websocket(payer)
    paid = pay_until_pushed(payer, paid)  # re-subscribed after reconnecting: reads stop again
    challenge, _ = payer.challenge()
    force_close(payer)
    assert "forced close" in problem_of(payer.pay(paid + PRICE, challenge=challenge)).detail


def test_a_forced_close_is_seen_while_the_websocket_is_down(payer: Payer) -> None:
    assert payer.open().status_code == 200
    paid = pay_until_pushed(payer, 0)
    try:
        payer.chain.call("mpp_dropWebsockets", [{"refuse": True}])
        challenge, _ = payer.challenge()
        force_close(payer)
        before = reads(payer)
        assert "forced close" in problem_of(payer.pay(paid + PRICE, challenge=challenge)).detail
        assert reads(payer) == before + 1  # seen by the fallback read
    finally:
        payer.chain.call("mpp_dropWebsockets", [{"refuse": False}])


def wait_for_websocket(payer: Payer, patience: float = 60.0) -> None:
    """Liveness only: the server reconnects with backoff (at most a few seconds apart)."""
    deadline = time.monotonic() + patience
    while payer.chain.call("mpp_rpcStats", [])["websockets"] < 1:
        if time.monotonic() > deadline:
            raise AssertionError("the server never reconnected its websocket")
        time.sleep(0.1)


def test_a_settled_channel_is_no_longer_watched(payer: Payer) -> None:
    assert payer.open().status_code == 200
    pay_until_pushed(payer, 0)
    watched = payer.chain.call("mpp_rpcStats", [])["subscriptions"]
    assert receipt_of(payer.close()).tx_hash
    deadline = time.monotonic() + 60  # liveness only: the unsubscribe follows the settlement's notification
    while payer.chain.call("mpp_rpcStats", [])["subscriptions"] != watched - 1:
        if time.monotonic() > deadline:
            raise AssertionError("the settled channel is still subscribed")
        time.sleep(0.1)


def test_a_new_channels_first_voucher_needs_no_chain_read(payer: Payer) -> None:
    """The server subscribes to a channel while its open confirms, and its read after the open
    seeds the pushed view (or the open's own notification does)."""
    assert payer.open().status_code == 200
    before = reads(payer)
    assert payer.pay(PRICE).status_code == 200
    assert payer.pay(2 * PRICE).status_code == 200
    assert reads(payer) == before
