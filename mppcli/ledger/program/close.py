"""`withdrawPayer` (the payer's one-shot refund once Sealed) and `reclaim` (anyone; frees a
Distributed channel's rent once the open-slot window has passed)."""

from __future__ import annotations

import dataclasses

from mppcli.chain.channel import ChannelStatus
from mppcli.chain.constants import OPEN_SLOT_WINDOW
from mppcli.chain.instructions import DecodedInstruction
from mppcli.ledger import spl
from mppcli.ledger.host import InstructionHost
from mppcli.ledger.program.accounts import (
    ESCROW_CODES,
    PAYER_CODES,
    load_channel,
    require_ata,
    store_channel,
    token_context,
)
from mppcli.ledger.program.failures import fail


def withdraw_payer(host: InstructionHost, ix: DecodedInstruction) -> None:
    a = ix.accounts
    if not host.is_signer(a["payer"]):
        raise fail("missingRequiredSignature")
    channel = load_channel(host, a["channel"])
    if channel.status != ChannelStatus.SEALED:
        raise fail("invalidChannelStatus", f"withdrawPayer needs sealed, not {channel.status.name}")
    if a["payer"] != channel.payer:
        raise fail("invalidChannelPayer")
    if channel.payer_withdrawn_at != 0:
        raise fail("payerAlreadyWithdrawn")
    if a["mint"] != channel.mint:
        raise fail("invalidChannelMint")
    ctx = token_context(host, a["mint"], a["tokenProgram"])
    require_ata(host, a["channelTokenAccount"], a["channel"], ctx, ESCROW_CODES)
    require_ata(host, a["payerTokenAccount"], a["payer"], ctx, PAYER_CODES)
    stamped = dataclasses.replace(channel, payer_withdrawn_at=host.time.unix_timestamp)
    store_channel(host, a["channel"], stamped)
    refund = channel.deposit - channel.settled
    if refund < 0:
        raise fail("refundCalculationOverflow")
    if refund:
        host.invoke(spl.transfer_checked(ctx.program, a["channelTokenAccount"], ctx.mint,
                                         a["payerTokenAccount"], a["channel"], refund, ctx.decimals),
                    [a["channel"]])


def reclaim(host: InstructionHost, ix: DecodedInstruction) -> None:
    key, rent_payer = ix.accounts["channel"], ix.accounts["rentPayer"]
    channel = load_channel(host, key)
    if channel.status != ChannelStatus.DISTRIBUTED:
        raise fail("invalidChannelStatus", f"reclaim needs distributed, not {channel.status.name}")
    if rent_payer != channel.rent_payer:
        raise fail("invalidChannelRentPayer")
    unlock = channel.open_slot + OPEN_SLOT_WINDOW
    if host.time.slot <= unlock:
        raise fail("channelCloseTooEarly", f"reclaim opens after slot {unlock}")
    host.close_account(key, rent_payer)
