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
    load_channel,
    payer_token_accounts,
    require_status,
    store_channel,
)
from mppcli.ledger.program.failures import fail


def withdraw_payer(host: InstructionHost, ix: DecodedInstruction) -> None:
    a = ix.accounts
    if not host.is_signer(a["payer"]):
        raise fail("missingRequiredSignature")
    channel = load_channel(host, a["channel"])
    require_status(channel, ChannelStatus.SEALED, "withdrawPayer")
    if a["payer"] != channel.payer:
        raise fail("invalidChannelPayer")
    if channel.payer_withdrawn_at != 0:
        raise fail("payerAlreadyWithdrawn")
    ctx = payer_token_accounts(host, a, channel)
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
    require_status(channel, ChannelStatus.DISTRIBUTED, "reclaim")
    if rent_payer != channel.rent_payer:
        raise fail("invalidChannelRentPayer")
    unlock = channel.open_slot + OPEN_SLOT_WINDOW
    if host.time.slot <= unlock:
        raise fail("channelCloseTooEarly", f"reclaim opens after slot {unlock}")
    host.close_account(key, rent_payer)
