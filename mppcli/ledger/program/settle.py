"""`settle` (anyone, while Open) and `settleAndSeal` (the payee; Open, or Closing before the grace
deadline): advance `settled` with a precompile-verified voucher; settleAndSeal then seals."""

from __future__ import annotations

import dataclasses

from mppcli.chain.channel import ChannelStatus
from mppcli.chain.instructions import DecodedInstruction
from mppcli.ledger.host import InstructionHost
from mppcli.ledger.program.accounts import load_channel, require_status, store_channel
from mppcli.ledger.program.failures import fail, runtime
from mppcli.ledger.program.voucher import verified_cumulative


def settle(host: InstructionHost, ix: DecodedInstruction) -> None:
    key = ix.accounts["channel"]
    channel = load_channel(host, key)
    require_status(channel, ChannelStatus.OPEN, "settle")
    cumulative = verified_cumulative(host, key, channel, ix.accounts["instructionsSysvar"])
    store_channel(host, key, dataclasses.replace(channel, settled=cumulative))


def settle_and_seal(host: InstructionHost, ix: DecodedInstruction) -> None:
    payee, key = ix.accounts["payee"], ix.accounts["channel"]
    if not host.is_signer(payee):
        raise fail("missingRequiredSignature")
    channel = load_channel(host, key)
    if channel.status == ChannelStatus.CLOSING:
        deadline = channel.closure_started_at + channel.grace_period
        if deadline >= 1 << 63:
            raise runtime("ArithmeticOverflow")
        if host.time.unix_timestamp >= deadline:
            raise fail("invalidChannelStatus", "the grace period has ended; use seal")
    elif channel.status != ChannelStatus.OPEN:
        raise fail("invalidChannelStatus", f"the channel is {channel.status.name}")
    if payee != channel.payee:
        raise fail("invalidChannelPayee")
    settled = channel.settled
    if ix.fields()["hasVoucher"] != 0:
        settled = verified_cumulative(host, key, channel, ix.accounts["instructionsSysvar"])
    store_channel(host, key, dataclasses.replace(channel, settled=settled, status=ChannelStatus.SEALED,
                                                 closure_started_at=0))
