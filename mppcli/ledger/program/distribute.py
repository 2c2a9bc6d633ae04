"""`distribute`: pay the splits' floor deltas out of escrow; once Sealed also refund the payer,
sweep the dust to the treasury, close the escrow (rent to `rentPayer`) and either deallocate the
channel (open-slot window passed) or mark it Distributed.

A payout whose canonical ATA is unusable (missing, frozen, malformed, bad extension, reassigned)
goes to the treasury instead, with a `PayoutRedirected` event; a wrong ATA address fails.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from solders.pubkey import Pubkey

from mppcli.chain.channel import ChannelAccount, ChannelStatus
from mppcli.chain.constants import OPEN_SLOT_WINDOW, TREASURY_OWNER
from mppcli.chain.instructions import DecodedInstruction
from mppcli.chain.splits import Split, distribution, splits_hash
from mppcli.ledger import spl
from mppcli.ledger.host import InstructionHost
from mppcli.ledger.program.accounts import (
    ESCROW_CODES,
    PAYEE_CODES,
    PAYER_CODES,
    RECIPIENT_CODES,
    TREASURY_CODES,
    AtaProblem,
    TokenContext,
    ata_problem,
    load_channel,
    require_ata,
    store_channel,
    token_amount,
    token_context,
)
from mppcli.ledger.program.events import emit
from mppcli.ledger.program.failures import fail

_REDIRECT_REASON = {AtaProblem.EXTENSION_UNSUPPORTED: "unsupportedExtension",
                    AtaProblem.MALFORMED: "closedOrMalformed", AtaProblem.NOT_INITIALIZED: "notInitialized",
                    AtaProblem.OWNER: "reassignedAuthority"}


@dataclass(frozen=True)
class Payout:
    destination: Pubkey
    amount: int


def process(host: InstructionHost, ix: DecodedInstruction) -> None:
    a, key = ix.accounts, ix.accounts["channel"]
    channel = load_channel(host, key)
    _check_channel(channel, a)
    ctx = token_context(host, a["mint"], a["tokenProgram"])
    require_ata(host, a["channelTokenAccount"], key, ctx, ESCROW_CODES)
    require_ata(host, a["treasuryTokenAccount"], TREASURY_OWNER, ctx, TREASURY_CODES)
    splits = tuple(Split(e["recipient"], e["bps"]) for e in ix.fields()["recipients"])
    if splits_hash(splits) != channel.distribution_hash:
        raise fail("invalidDistributionHash")
    if len(ix.remaining) != len(splits):
        raise fail("recipientAccountCountMismatch")
    sealed = channel.status == ChannelStatus.SEALED
    if not sealed and channel.settled == channel.payout_watermark:
        raise fail("nothingToDistribute")
    payouts = _payouts(host, ix, channel, ctx, splits)
    if sealed:
        payouts += _closing_payouts(host, ix, channel, ctx, payouts)
    for payout in payouts:
        host.invoke(spl.transfer_checked(ctx.program, a["channelTokenAccount"], ctx.mint, payout.destination,
                                         key, payout.amount, ctx.decimals), [key])
    _finish(host, ix, channel, ctx, sealed)


def _check_channel(channel: ChannelAccount, accounts: Mapping[str, Pubkey]) -> None:
    if channel.status not in (ChannelStatus.OPEN, ChannelStatus.SEALED):
        raise fail("channelNotDistributable", f"the channel is {channel.status.name}")
    if accounts["payer"] != channel.payer:
        raise fail("invalidChannelPayer")
    if accounts["mint"] != channel.mint:
        raise fail("invalidChannelMint")
    if accounts["rentPayer"] != channel.rent_payer:
        raise fail("invalidChannelRentPayer")


def _payouts(host: InstructionHost, ix: DecodedInstruction, channel: ChannelAccount, ctx: TokenContext,
             splits: Sequence[Split]) -> list[Payout]:
    owed = distribution(channel.settled, splits, channel.payout_watermark)
    payouts = [_destination(host, ix, "recipient", account, split.recipient, amount, ctx)
               for split, account, amount in zip(splits, ix.remaining, owed.recipients, strict=True)]
    payouts.append(_destination(host, ix, "payee", ix.accounts["payeeTokenAccount"], channel.payee,
                                owed.payee, ctx))
    return [p for p in payouts if p.amount]


def _closing_payouts(host: InstructionHost, ix: DecodedInstruction, channel: ChannelAccount,
                     ctx: TokenContext, scheduled: Sequence[Payout]) -> list[Payout]:
    """The sealed branch's extra legs: the payer refund, then everything left to the treasury."""
    extra: list[Payout] = []
    if channel.payer_withdrawn_at == 0 and channel.deposit > channel.settled:
        extra.append(_destination(host, ix, "payer", ix.accounts["payerTokenAccount"], channel.payer,
                                  channel.deposit - channel.settled, ctx))
    escrow = token_amount(host, ix.accounts["channelTokenAccount"], ctx)
    sweep = escrow - sum(p.amount for p in (*scheduled, *extra))
    if sweep < 0:
        raise fail("distributeBalanceCalculationOverflow")
    extra.append(Payout(ix.accounts["treasuryTokenAccount"], sweep))
    return [p for p in extra if p.amount]


def _destination(host: InstructionHost, ix: DecodedInstruction, beneficiary: str, account: Pubkey,
                 owner: Pubkey, amount: int, ctx: TokenContext) -> Payout:
    """Where a payout goes: the beneficiary's ATA, or the treasury when that ATA is unusable."""
    codes = {"recipient": RECIPIENT_CODES, "payee": PAYEE_CODES, "payer": PAYER_CODES}[beneficiary]
    problem = ata_problem(host, account, owner, ctx, address_only=amount == 0)
    if problem is None:
        return Payout(account, amount)
    if problem is AtaProblem.ADDRESS:
        raise fail(codes[0], f"{account} is not the {beneficiary}'s associated token account")
    if problem is AtaProblem.EXTENSION_MALFORMED:
        raise fail(codes[2], f"{account} has malformed extensions")
    emit(host, ix.accounts["eventAuthority"], ix.accounts["selfProgram"], "payoutRedirected",
         {"channel": ix.accounts["channel"], "owner": owner, "amount": amount,
          "beneficiary": beneficiary, "reason": _REDIRECT_REASON[problem]})
    return Payout(ix.accounts["treasuryTokenAccount"], amount)


def _finish(host: InstructionHost, ix: DecodedInstruction, channel: ChannelAccount, ctx: TokenContext,
            sealed: bool) -> None:
    key = ix.accounts["channel"]
    if not sealed:
        store_channel(host, key, dataclasses.replace(channel, payout_watermark=channel.settled))
        return
    host.invoke(spl.close_account(ctx.program, ix.accounts["channelTokenAccount"], ix.accounts["rentPayer"],
                                  key), [key])
    if host.time.slot > channel.open_slot + OPEN_SLOT_WINDOW:
        host.close_account(key, ix.accounts["rentPayer"])
    else:
        store_channel(host, key, _distributed(channel, host.time.unix_timestamp))


def _distributed(channel: ChannelAccount, now: int) -> ChannelAccount:
    """The account a sealed `distribute` leaves behind until `reclaim`, as the spec states it: the
    payout watermark reaches `settled` (every delta is paid) and the refund is stamped (paid now,
    or earlier by `withdrawPayer`, whose stamp stays). The deployed binary's source (0c07d575) only
    flips the status here; the spec, which wins, says both fields advance, and nothing can act on
    a Distributed channel but `reclaim`, so the two agree on every token and lamport."""
    return dataclasses.replace(channel, status=ChannelStatus.DISTRIBUTED, payout_watermark=channel.settled,
                               payer_withdrawn_at=channel.payer_withdrawn_at or now)
