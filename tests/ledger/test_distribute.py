"""`distribute`: floor-delta payouts while open; refund, dust sweep and escrow close once sealed."""

from __future__ import annotations

import dataclasses

from solders.keypair import Keypair

from mppcli.chain.channel import ChannelStatus
from mppcli.chain.constants import OPEN_SLOT_WINDOW, TREASURY_OWNER
from mppcli.chain.instructions import (
    distribute_instruction,
    request_close_instruction,
    settle_and_seal_instruction,
    settle_instruction,
    withdraw_payer_instruction,
)
from mppcli.chain.pda import associated_token_address
from mppcli.chain.splits import Split
from tests.ledger.harness import SOL, Chain, Opened, replace_account, voucher

# distribute accounts: channel, payer, rentPayer, channelTokenAccount, payerTokenAccount,
# payeeTokenAccount, treasuryTokenAccount, mint, tokenProgram, eventAuthority, selfProgram, recipients...
PAYER, RENT_PAYER, PAYEE_ATA, TREASURY, MINT, FIRST_RECIPIENT = 1, 2, 5, 6, 7, 11


def _open_with_recipients(chain: Chain, shares: tuple[int, ...], deposit: int = 1_000_000,
                          with_token_accounts: bool = True) -> tuple[Opened, list[Keypair]]:
    recipients = [Keypair() for _ in shares]
    if with_token_accounts:
        for r in recipients:
            chain.give_token_account(r.pubkey())
    splits = tuple(Split(r.pubkey(), bps) for r, bps in zip(recipients, shares, strict=True))
    return chain.open_channel(deposit=deposit, splits=splits), recipients


def _settle(chain: Chain, opened: Opened, amount: int) -> None:
    chain.submit([voucher(opened.session, opened.channel, amount), settle_instruction(opened.channel)],
                 opened.operator)


def test_distribute_while_open_pays_floor_deltas_and_keeps_the_dust(chain: Chain) -> None:
    opened, (r1, r2) = _open_with_recipients(chain, (333, 1250))
    payee_before = chain.tokens(opened.operator.pubkey())
    _settle(chain, opened, 1001)
    chain.submit([distribute_instruction(opened.keys)], opened.operator)
    # floor(1001*333/1e4)=33, floor(1001*1250/1e4)=125, payee floor(1001*8417/1e4)=842; dust 1
    assert (chain.tokens(r1.pubkey()), chain.tokens(r2.pubkey())) == (1 + 33, 1 + 125)
    assert chain.tokens(opened.operator.pubkey()) - payee_before == 842
    channel = chain.channel(opened.channel)
    assert channel is not None and (channel.status, channel.payout_watermark) == (ChannelStatus.OPEN, 1001)
    assert chain.tokens(opened.channel) == 1_000_000 - 1000
    chain.warp(slots=1)
    assert chain.error([distribute_instruction(opened.keys)], opened.operator) == [0, {"Custom": 2408}]

    _settle(chain, opened, 2000)
    chain.submit([distribute_instruction(opened.keys)], opened.operator)
    # cumulative entitlements at 2000: 66, 250, payee 1683; the first round's dust is paid now
    assert (chain.tokens(r1.pubkey()), chain.tokens(r2.pubkey())) == (1 + 66, 1 + 250)
    assert chain.tokens(opened.operator.pubkey()) - payee_before == 1683


def test_sealed_distribute_refunds_sweeps_dust_and_closes_the_escrow(chain: Chain) -> None:
    opened, (r1,) = _open_with_recipients(chain, (250,))
    treasury = associated_token_address(TREASURY_OWNER, chain.mint)
    treasury_before = chain.tokens(TREASURY_OWNER)
    escrow = associated_token_address(opened.channel, chain.mint)
    escrow_rent = chain.lamports(escrow)
    operator_before = chain.lamports(opened.operator.pubkey())
    chain.submit([voucher(opened.session, opened.channel, 333_333),
                  settle_and_seal_instruction(opened.keys, has_voucher=True),
                  distribute_instruction(opened.keys)], opened.operator)
    assert chain.tokens(r1.pubkey()) == 1 + 8333
    assert chain.tokens(opened.payer.pubkey()) == 666_667
    assert chain.tokens(TREASURY_OWNER) - treasury_before == 1
    assert chain.tokens(opened.operator.pubkey()) == 1 + 324_999
    assert not chain.exists(escrow)
    assert chain.lamports(opened.operator.pubkey()) == operator_before + escrow_rent - 2 * 5000
    channel = chain.channel(opened.channel)
    assert channel is not None and channel.status == ChannelStatus.DISTRIBUTED
    assert treasury == associated_token_address(TREASURY_OWNER, chain.mint)
    assert chain.error([distribute_instruction(opened.keys)], chain.fund(SOL)) == [0, {"Custom": 2400}]


def _block_time(chain: Chain, signature: str) -> int:
    """The unix time the program saw when this transaction executed."""
    options = {"encoding": "base64", "maxSupportedTransactionVersion": 0}
    found = chain.call("getTransaction", [signature, options])
    return int(found["blockTime"])


def test_sealed_distribute_advances_the_watermark_and_stamps_the_refund(chain: Chain) -> None:
    """Spec: from Sealed, distribute pays the last deltas, advances payoutWatermark to settled and
    (payerWithdrawnAt == 0) refunds the payer and stamps payerWithdrawnAt."""
    opened, _ = _open_with_recipients(chain, (250,))
    _settle(chain, opened, 100_000)
    chain.submit([distribute_instruction(opened.keys)], opened.operator)  # while open: watermark 100000
    closed = chain.submit([voucher(opened.session, opened.channel, 400_000),
                           settle_and_seal_instruction(opened.keys, has_voucher=True),
                           distribute_instruction(opened.keys)], opened.operator)
    now = _block_time(chain, closed)
    channel = chain.channel(opened.channel)
    assert channel is not None and channel.status == ChannelStatus.DISTRIBUTED and now > 0
    assert (channel.settled, channel.payout_watermark, channel.payer_withdrawn_at) == (400_000, 400_000, now)


def test_sealed_distribute_keeps_an_earlier_withdraw_stamp(chain: Chain) -> None:
    opened = chain.open_channel()
    chain.submit([voucher(opened.session, opened.channel, 1_000_000),
                  settle_and_seal_instruction(opened.keys, has_voucher=True)], opened.operator)
    withdraw = chain.submit([withdraw_payer_instruction(opened.keys)], opened.payer)  # nothing to refund
    withdrawn = _block_time(chain, withdraw)
    assert chain.channel(opened.channel).payer_withdrawn_at == withdrawn > 0  # type: ignore[union-attr]
    chain.warp(seconds=60)
    chain.submit([distribute_instruction(opened.keys)], opened.operator)
    channel = chain.channel(opened.channel)
    assert channel is not None and channel.status == ChannelStatus.DISTRIBUTED
    assert (channel.payout_watermark, channel.payer_withdrawn_at) == (1_000_000, withdrawn)


def test_sealed_distribute_after_the_window_deallocates_the_channel(chain: Chain) -> None:
    opened = chain.open_channel()
    rent_payer = opened.operator.pubkey()
    chain.submit([settle_and_seal_instruction(opened.keys, has_voucher=False)], opened.operator)
    chain.warp(slots=OPEN_SLOT_WINDOW + 1)
    escrow = associated_token_address(opened.channel, chain.mint)
    freed = chain.lamports(opened.channel) + chain.lamports(escrow)
    before = chain.lamports(rent_payer)
    cranker = chain.fund(SOL)
    chain.submit([distribute_instruction(opened.keys)], cranker)
    assert not chain.exists(opened.channel)
    assert chain.lamports(rent_payer) == before + freed
    assert chain.tokens(opened.payer.pubkey()) == 1_000_000


def test_distribute_checks_the_channel_parties(chain: Chain) -> None:
    opened, _ = _open_with_recipients(chain, (100,))
    _settle(chain, opened, 10)
    ix = distribute_instruction(opened.keys)
    anyone = chain.fund(SOL)
    wrong = Keypair().pubkey()
    assert chain.error([replace_account(ix, PAYER, wrong)], anyone) == [0, {"Custom": 5}]
    assert chain.error([replace_account(ix, MINT, wrong)], anyone) == [0, {"Custom": 7}]
    assert chain.error([replace_account(ix, RENT_PAYER, wrong)], anyone) == [0, {"Custom": 10}]
    assert chain.error([replace_account(ix, TREASURY, wrong)], anyone) == [0, {"Custom": 2401}]
    assert chain.error([replace_account(ix, FIRST_RECIPIENT, wrong)], anyone) == [0, {"Custom": 2404}]
    assert chain.error([replace_account(ix, PAYEE_ATA, wrong)], anyone) == [0, {"Custom": 60}]


def test_distribute_needs_the_committed_splits(chain: Chain) -> None:
    opened, (r1,) = _open_with_recipients(chain, (100,))
    _settle(chain, opened, 10)
    anyone = chain.fund(SOL)
    changed = dataclasses.replace(opened.keys, splits=(Split(r1.pubkey(), 101),))
    assert chain.error([distribute_instruction(changed)], anyone) == [0, {"Custom": 2407}]
    ix = distribute_instruction(opened.keys)
    missing_tail = type(ix)(ix.program_id, bytes(ix.data), list(ix.accounts)[:-1])
    assert chain.error([missing_tail], anyone) == [0, {"Custom": 2409}]
    head_only = type(ix)(ix.program_id, bytes(ix.data), list(ix.accounts)[:10])
    assert chain.error([head_only], anyone) == [0, "NotEnoughAccountKeys"]


def test_distribute_is_refused_while_closing(chain: Chain) -> None:
    opened = chain.open_channel()
    _settle(chain, opened, 10)
    chain.submit([request_close_instruction(opened.keys)], opened.payer)
    assert chain.error([distribute_instruction(opened.keys)], opened.operator) == [0, {"Custom": 2400}]


def test_a_payout_to_a_missing_token_account_goes_to_the_treasury(chain: Chain) -> None:
    opened, (r1,) = _open_with_recipients(chain, (5000,), with_token_accounts=False)
    treasury_before = chain.tokens(TREASURY_OWNER)
    _settle(chain, opened, 1000)
    chain.submit([distribute_instruction(opened.keys)], opened.operator)
    assert chain.tokens(r1.pubkey()) == 0
    assert chain.tokens(TREASURY_OWNER) - treasury_before == 500
    assert chain.channel(opened.channel).payout_watermark == 1000  # type: ignore[union-attr]


def test_the_treasury_is_the_deployed_builds(chain: Chain) -> None:
    assert str(TREASURY_OWNER) == "Cs2zdfUNonRdRGsiZUQQLdTxzxVvJZmgiX2mpLYKuEqP"
    assert chain.exists(associated_token_address(TREASURY_OWNER, chain.mint))
