"""Whole channel lives on the ledger: the forced close end to end, and the cooperative close with
random splits (every base unit of the deposit ends up with exactly one party)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from mppcli.chain.channel import ChannelStatus
from mppcli.chain.constants import OPEN_SLOT_WINDOW, TREASURY_OWNER
from mppcli.chain.instructions import (
    distribute_instruction,
    reclaim_instruction,
    request_close_instruction,
    seal_instruction,
    settle_and_seal_instruction,
    settle_instruction,
    withdraw_payer_instruction,
)
from mppcli.chain.pda import associated_token_address
from mppcli.chain.splits import Split
from mppcli.ledger.runner import start_ledger
from tests.ledger.harness import SOL, Chain, voucher


def test_forced_close_request_seal_withdraw_distribute_reclaim(chain: Chain) -> None:
    opened = chain.open_channel(deposit=1_000_000, grace=300)
    payer, rent_payer = opened.payer.pubkey(), opened.operator.pubkey()
    chain.submit([voucher(opened.session, opened.channel, 120_000), settle_instruction(opened.channel)],
                 opened.operator)

    chain.submit([request_close_instruction(opened.keys)], opened.payer)
    assert chain.error([seal_instruction(opened.channel)], opened.payer) == [0, {"Custom": 2201}]
    chain.warp(seconds=300)  # the grace period passes; the payee never answered
    chain.submit([seal_instruction(opened.channel)], opened.payer)
    assert chain.channel(opened.channel).status == ChannelStatus.SEALED  # type: ignore[union-attr]

    chain.submit([withdraw_payer_instruction(opened.keys)], opened.payer)
    assert chain.tokens(payer) == 880_000

    payee_before = chain.tokens(opened.operator.pubkey())
    chain.submit([distribute_instruction(opened.keys)], opened.payer)
    assert chain.tokens(opened.operator.pubkey()) - payee_before == 120_000
    assert chain.tokens(payer) == 880_000  # the refund was already withdrawn: not paid twice
    assert not chain.exists(associated_token_address(opened.channel, chain.mint))
    assert chain.channel(opened.channel).status == ChannelStatus.DISTRIBUTED  # type: ignore[union-attr]

    reclaim = reclaim_instruction(opened.channel, rent_payer)
    assert chain.error([reclaim], opened.payer) == [0, {"Custom": 2414}]
    chain.warp(slots=OPEN_SLOT_WINDOW + 1)
    chain.submit([reclaim_instruction(opened.channel, rent_payer)], opened.payer)
    assert not chain.exists(opened.channel)


@pytest.fixture(scope="module")
def shared_chain() -> Iterator[Chain]:
    """One ledger for every generated example (each example uses fresh keys)."""
    running = start_ledger(None, 0)
    driver = Chain(running.rpc_url, running.mint)
    try:
        yield driver
    finally:
        driver.close()
        running.stop()


_shares = st.lists(st.integers(min_value=1, max_value=4000), min_size=0, max_size=4).filter(
    lambda shares: sum(shares) <= 10_000)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shares=_shares, deposit=st.integers(min_value=1, max_value=10**9), data=st.data(),
       missing_recipient=st.booleans())
def test_open_settle_seal_distribute_accounts_for_every_unit(
        shared_chain: Chain, shares: list[int], deposit: int, data: st.DataObject,
        missing_recipient: bool) -> None:
    chain = shared_chain
    settle_at = data.draw(st.integers(min_value=1, max_value=deposit), label="settled while open")
    final = data.draw(st.integers(min_value=settle_at, max_value=deposit), label="final voucher")
    recipients = [Keypair() for _ in shares]
    for index, r in enumerate(recipients):
        if not (missing_recipient and index == 0):
            chain.give_token_account(r.pubkey())
    splits = tuple(Split(r.pubkey(), bps) for r, bps in zip(recipients, shares, strict=True))
    opened = chain.open_channel(deposit=deposit, splits=splits, salt=len(shares))
    held = _holdings(chain, opened.payer.pubkey(), opened.operator.pubkey(), recipients)

    chain.submit([voucher(opened.session, opened.channel, settle_at), settle_instruction(opened.channel)],
                 opened.operator)
    last = [voucher(opened.session, opened.channel, final)] if final > settle_at else []
    chain.submit([*last, settle_and_seal_instruction(opened.keys, has_voucher=bool(last)),
                  distribute_instruction(opened.keys)], opened.operator)

    after = _holdings(chain, opened.payer.pubkey(), opened.operator.pubkey(), recipients)
    gained = [a - b for a, b in zip(after, held, strict=True)]
    payer_refund, payee, treasury, *to_recipients = gained
    assert payer_refund + payee + treasury + sum(to_recipients) == deposit
    assert payer_refund == deposit - final
    for bps, amount, r in zip(shares, to_recipients, recipients, strict=True):
        expected = final * bps // 10_000
        assert amount == (0 if missing_recipient and r is recipients[0] else expected)
    assert payee == final * (10_000 - sum(shares)) // 10_000
    assert chain.channel(opened.channel).status == ChannelStatus.DISTRIBUTED  # type: ignore[union-attr]


def _holdings(chain: Chain, payer: Pubkey, payee: Pubkey, recipients: list[Keypair]) -> list[int]:
    return [chain.tokens(payer), chain.tokens(payee), chain.tokens(TREASURY_OWNER),
            *(chain.tokens(r.pubkey()) for r in recipients)]


def test_a_cooperative_close_and_reclaim_return_all_rent_to_the_rent_payer(chain: Chain) -> None:
    opened = chain.open_channel()
    cranker = chain.fund(SOL)
    rent = chain.run(chain.rpc.minimum_balance(256)) + chain.run(chain.rpc.minimum_balance(165))
    before = chain.lamports(opened.operator.pubkey())
    chain.submit([voucher(opened.session, opened.channel, 10), settle_and_seal_instruction(opened.keys, True),
                  distribute_instruction(opened.keys)], opened.operator)
    chain.warp(slots=OPEN_SLOT_WINDOW + 1)
    chain.submit([reclaim_instruction(opened.channel, opened.operator.pubkey())], cranker)
    fees = 2 * 5000  # the operator's signature and the voucher's precompile signature
    assert chain.lamports(opened.operator.pubkey()) == before + rent - fees
