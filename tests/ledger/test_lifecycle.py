"""`topUp`, `requestClose`, `seal`, `withdrawPayer` and `reclaim`: happy paths and every rule."""

from __future__ import annotations

from solders.keypair import Keypair

from mppcli.chain.channel import ChannelStatus
from mppcli.chain.constants import OPEN_SLOT_WINDOW
from mppcli.chain.instructions import (
    distribute_instruction,
    reclaim_instruction,
    request_close_instruction,
    seal_instruction,
    settle_and_seal_instruction,
    top_up_instruction,
    withdraw_payer_instruction,
)
from mppcli.chain.params import ChannelKeys
from tests.ledger.harness import SOL, Chain, Opened, replace_account, unsigned, voucher

# topUp accounts: payer, channel, payerTokenAccount, channelTokenAccount, mint, tokenProgram
TOP_UP_PAYER, TOP_UP_ESCROW, TOP_UP_MINT = 0, 3, 4


def _sealed(chain: Chain, opened: Opened, settled: int) -> None:
    chain.submit([voucher(opened.session, opened.channel, settled),
                  settle_and_seal_instruction(opened.keys, has_voucher=True)], opened.operator)


def test_top_up_adds_to_the_deposit_and_the_escrow(chain: Chain) -> None:
    opened = chain.open_channel(payer_tokens=1_500_000)
    chain.submit([top_up_instruction(opened.keys, 300_000)], opened.payer)
    assert chain.channel(opened.channel).deposit == 1_300_000  # type: ignore[union-attr]
    assert chain.tokens(opened.channel) == 1_300_000 and chain.tokens(opened.payer.pubkey()) == 200_000


def test_top_up_rules(chain: Chain) -> None:
    opened = chain.open_channel(payer_tokens=1_500_000)
    ix = top_up_instruction(opened.keys, 1)
    sponsor = chain.fund(SOL)
    assert chain.error([unsigned(ix, TOP_UP_PAYER)], sponsor) == [0, {"Custom": 1}]
    assert chain.error([top_up_instruction(opened.keys, 0)], opened.payer) == [0, {"Custom": 200}]
    stranger = chain.fund(SOL, 10)
    assert chain.error([replace_account(ix, TOP_UP_PAYER, stranger.pubkey())], stranger) == [0, {"Custom": 5}]
    wrong = Keypair().pubkey()
    assert chain.error([replace_account(ix, TOP_UP_MINT, wrong)], opened.payer) == [0, {"Custom": 7}]
    assert chain.error([replace_account(ix, TOP_UP_ESCROW, wrong)], opened.payer) == [0, {"Custom": 50}]
    assert chain.error([top_up_instruction(opened.keys, 600_000)], opened.payer) == [0, {"Custom": 1}]
    chain.submit([request_close_instruction(opened.keys)], opened.payer)
    assert chain.error([ix], opened.payer) == [0, {"Custom": 2}]


def test_request_close_starts_the_grace_period(chain: Chain) -> None:
    opened = chain.open_channel()
    ix = request_close_instruction(opened.keys)
    sponsor = chain.fund(SOL)
    assert chain.error([unsigned(ix, 0)], sponsor) == [0, {"Custom": 1}]
    stranger = chain.fund(SOL)
    assert chain.error([replace_account(ix, 0, stranger.pubkey())], stranger) == [0, {"Custom": 5}]
    before = chain.unix_time()
    chain.submit([ix], opened.payer)
    channel = chain.channel(opened.channel)
    assert channel is not None and channel.status == ChannelStatus.CLOSING
    assert before <= channel.closure_started_at <= chain.unix_time()
    chain.warp(slots=1)
    assert chain.error([ix], opened.payer) == [0, {"Custom": 2}]


def test_seal_only_after_the_grace_period(chain: Chain) -> None:
    opened = chain.open_channel(grace=120)
    anyone = chain.fund(SOL)
    assert chain.error([seal_instruction(opened.channel)], anyone) == [0, {"Custom": 2}]
    chain.submit([request_close_instruction(opened.keys)], opened.payer)
    chain.warp(seconds=60)
    assert chain.error([seal_instruction(opened.channel)], anyone) == [0, {"Custom": 2201}]
    chain.warp(seconds=60)
    chain.submit([seal_instruction(opened.channel)], anyone)
    channel = chain.channel(opened.channel)
    assert channel is not None and (channel.status, channel.closure_started_at) == (ChannelStatus.SEALED, 0)


def test_withdraw_payer_refunds_once(chain: Chain) -> None:
    opened = chain.open_channel()
    assert chain.error([withdraw_payer_instruction(opened.keys)], opened.payer) == [0, {"Custom": 2}]
    _sealed(chain, opened, 250_000)
    stranger = chain.fund(SOL, 1)
    ix = withdraw_payer_instruction(opened.keys)
    assert chain.error([replace_account(ix, 0, stranger.pubkey())], stranger) == [0, {"Custom": 5}]
    assert chain.error([unsigned(ix, 0)], stranger) == [0, {"Custom": 1}]
    chain.submit([ix], opened.payer)
    assert chain.tokens(opened.payer.pubkey()) == 750_000 and chain.tokens(opened.channel) == 250_000
    channel = chain.channel(opened.channel)
    assert channel is not None and channel.payer_withdrawn_at > 0 and channel.status == ChannelStatus.SEALED
    chain.warp(slots=1)
    assert chain.error([ix], opened.payer) == [0, {"Custom": 2300}]


def test_reclaim_waits_for_the_open_slot_window_then_returns_the_rent(chain: Chain) -> None:
    opened = chain.open_channel()
    rent_payer = opened.operator.pubkey()
    anyone = chain.fund(SOL)
    assert chain.error([reclaim_instruction(opened.channel, rent_payer)], anyone) == [0, {"Custom": 2}]
    _sealed(chain, opened, 1)
    chain.submit([distribute_instruction(opened.keys)], anyone)
    assert chain.channel(opened.channel).status == ChannelStatus.DISTRIBUTED  # type: ignore[union-attr]
    assert chain.error([reclaim_instruction(opened.channel, rent_payer)], anyone) == [0, {"Custom": 2414}]
    assert chain.error([reclaim_instruction(opened.channel, anyone.pubkey())], anyone) == [0, {"Custom": 10}]
    chain.warp(slots=OPEN_SLOT_WINDOW + 1)
    channel_rent = chain.lamports(opened.channel)
    before = chain.lamports(rent_payer)
    chain.submit([reclaim_instruction(opened.channel, rent_payer)], anyone)
    assert not chain.exists(opened.channel)
    assert chain.lamports(rent_payer) == before + channel_rent


def test_channel_instructions_reject_accounts_that_are_not_channels(chain: Chain) -> None:
    anyone = chain.fund(SOL)
    stranger = chain.fund(SOL)
    keys = ChannelKeys(stranger.pubkey(), anyone.pubkey(), anyone.pubkey(), chain.mint, anyone.pubkey(),
                       anyone.pubkey())
    assert chain.error([seal_instruction(keys.channel)], anyone) == [0, "InvalidAccountOwner"]
    assert chain.error([request_close_instruction(keys)], anyone) == [0, "InvalidAccountOwner"]


def test_emit_event_cannot_be_called_from_outside(chain: Chain) -> None:
    from mppcli.chain.instructions import encode_instruction

    anyone = chain.fund(SOL)
    ix = unsigned(encode_instruction("emitEvent", {}, {}), 0)
    assert chain.error([ix], anyone) == [0, {"Custom": 1}]
