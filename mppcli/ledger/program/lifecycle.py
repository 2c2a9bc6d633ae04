"""`topUp`, `requestClose`, `seal` and the top-level `emitEvent` (which only a self-CPI may call)."""

from __future__ import annotations

import dataclasses

from mppcli.chain.channel import ChannelStatus
from mppcli.chain.instructions import DecodedInstruction
from mppcli.chain.pda import event_authority
from mppcli.ledger import spl
from mppcli.ledger.host import InstructionHost
from mppcli.ledger.program.accounts import (
    load_channel,
    payer_token_accounts,
    require_status,
    store_channel,
)
from mppcli.ledger.program.failures import fail
from mppcli.protocol.encoding import I64_MAX, U64_MAX


def top_up(host: InstructionHost, ix: DecodedInstruction) -> None:
    a, amount = ix.accounts, ix.fields()["amount"]
    if not host.is_signer(a["payer"]):
        raise fail("missingRequiredSignature")
    if amount == 0:
        raise fail("depositMustBeNonZero")
    channel = load_channel(host, a["channel"])
    require_status(channel, ChannelStatus.OPEN, "topUp")
    if a["payer"] != channel.payer:
        raise fail("invalidChannelPayer")
    ctx = payer_token_accounts(host, a, channel)
    if channel.deposit + amount > U64_MAX:
        raise fail("topUpDepositOverflow")
    store_channel(host, a["channel"], dataclasses.replace(channel, deposit=channel.deposit + amount))
    host.invoke(spl.transfer_checked(ctx.program, a["payerTokenAccount"], ctx.mint, a["channelTokenAccount"],
                                     a["payer"], amount, ctx.decimals))


def request_close(host: InstructionHost, ix: DecodedInstruction) -> None:
    payer, key = ix.accounts["payer"], ix.accounts["channel"]
    if not host.is_signer(payer):
        raise fail("missingRequiredSignature")
    channel = load_channel(host, key)
    require_status(channel, ChannelStatus.OPEN, "requestClose")
    if payer != channel.payer:
        raise fail("invalidChannelPayer")
    store_channel(host, key, dataclasses.replace(channel, status=ChannelStatus.CLOSING,
                                                 closure_started_at=host.time.unix_timestamp))


def seal(host: InstructionHost, ix: DecodedInstruction) -> None:
    key = ix.accounts["channel"]
    channel = load_channel(host, key)
    require_status(channel, ChannelStatus.CLOSING, "seal")
    deadline = channel.closure_started_at + channel.grace_period
    if deadline > I64_MAX:
        raise fail("sealDeadlineOverflow")
    if host.time.unix_timestamp < deadline:
        raise fail("sealGracePeriodNotElapsed", f"the grace period ends at {deadline}")
    store_channel(host, key, dataclasses.replace(channel, status=ChannelStatus.SEALED, closure_started_at=0))


def emit_event(host: InstructionHost, ix: DecodedInstruction) -> None:
    authority = ix.accounts["eventAuthority"]
    if not host.is_signer(authority):
        raise fail("missingRequiredSignature")
    if authority != event_authority(host.program_id):
        raise fail("invalidEventAuthority")
