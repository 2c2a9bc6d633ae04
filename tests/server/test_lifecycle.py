"""The server's own duties: idle close, answering a forced close within the grace period, and the
reclaim sweep - against `mpp serve` with short intervals and the embedded ledger's clock."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from solders.hash import Hash

from mppcli.chain.channel import ChannelStatus
from mppcli.chain.transactions import build_request_close_transaction
from mppcli.chain.txcodec import partial_sign
from mppcli.server.settle import is_idle
from mppcli.server.state import Status as ServerStatus
from tests.server.harness import ServerProcess
from tests.server.payer import Payer, challenge_of, problem_of, receipt_of
from tests.server.test_store import make_state

PRICE = 10_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = ServerProcess.start(
        tmp_path_factory.mktemp("serve") / "home",
        "--ephemeral",
        "--idle-timeout-options",
        "1,600",
        "--reclaim-interval",
        "0.5",
        "--chain-watch-interval",
        "0.5",
    )
    yield running
    running.stop()


def wait_for(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def settled_on_chain(payer: Payer) -> Callable[[], bool]:
    def check() -> bool:
        account = payer.chain.channel(str(payer.channel_id))
        return account is None or account.status is ChannelStatus.DISTRIBUTED

    return check


def test_an_idle_channel_is_closed_with_its_highest_voucher(payer: Payer) -> None:
    mint, recipient = payer.server.ready["mint"], payer.server.ready["recipient"]
    before = payer.chain.token_balance(recipient, mint)
    assert receipt_of(payer.open(idle=1)).idle_timeout_seconds == 1
    assert payer.pay(PRICE).status_code == 200
    wait_for(settled_on_chain(payer))
    assert payer.chain.token_balance(recipient, mint) - before == PRICE
    assert payer.chain.token_balance(payer.pubkey, mint) == payer.funds - PRICE
    problem = problem_of(payer.pay(2 * PRICE))
    assert "closed" in problem.detail
    _, request = challenge_of(payer.get("/paid", {"X-Payment-Channel": str(payer.channel_id)}))
    assert request.method_details.channel_id is None  # a closed channel is not offered for resume


def test_a_channel_is_idle_only_once_its_timeout_passed_since_the_last_activity() -> None:
    """The rule the idle sweep applies, at injected times (no sleeping on the wall clock)."""
    state = make_state(idle_timeout=600, last_activity_at=1_000.0)
    assert not is_idle(state, 1_599.0)
    assert is_idle(state, 1_600.0)
    assert not is_idle(dataclasses.replace(state, last_activity_at=1_500.0), 1_600.0)  # activity resets it
    assert not is_idle(dataclasses.replace(state, status=ServerStatus.CLOSED), 1_600.0)


def test_spec_choice_a_forced_close_stops_service_at_once_and_is_settled_within_grace(payer: Payer) -> None:
    mint, recipient = payer.server.ready["mint"], payer.server.ready["recipient"]
    before = payer.chain.token_balance(recipient, mint)
    assert payer.open(idle=600).status_code == 200
    assert payer.pay(PRICE).status_code == 200
    assert payer.pay(2 * PRICE).status_code == 200
    challenge, request = payer.challenge()
    payer.chain.airdrop(payer.pubkey, 10_000_000)
    blockhash, _ = payer.chain.latest_blockhash()
    tx = build_request_close_transaction(payer.keys(request), Hash.from_string(blockhash))
    payer.chain.send(bytes(partial_sign(tx, [payer.keypair])))
    problem = problem_of(payer.pay(3 * PRICE, challenge=challenge))  # service stops at once
    assert "forced close" in problem.detail or "closing" in problem.detail
    wait_for(settled_on_chain(payer))
    assert payer.chain.token_balance(recipient, mint) - before == 2 * PRICE  # the highest voucher
    assert payer.chain.token_balance(payer.pubkey, mint) == payer.funds - 2 * PRICE


def test_the_reclaim_sweep_returns_the_channel_rent(payer: Payer) -> None:
    assert payer.open(idle=600).status_code == 200
    assert payer.pay(PRICE).status_code == 200
    assert receipt_of(payer.close()).tx_hash
    account = payer.chain.channel(str(payer.channel_id))
    assert account is not None and account.status is ChannelStatus.DISTRIBUTED  # window not yet over
    operator = payer.server.ready["operator"]
    rent_before = payer.chain.call("getBalance", [operator])["value"]
    payer.chain.warp(slots=1600)
    wait_for(lambda: payer.chain.account_data(str(payer.channel_id)) is None)
    assert payer.chain.call("getBalance", [operator])["value"] > rent_before
