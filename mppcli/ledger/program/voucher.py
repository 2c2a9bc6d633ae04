"""Reading the voucher of the Ed25519 precompile instruction placed just before this one.

Checks run in the deployed program's order: precompile present (230) and canonical (231), magic
(238), channel (232), expiry (233), `cumulative <= deposit` (235), `cumulative > settled` (234),
signer = `authorizedSigner` (237). The precompile itself already verified the signature when it
executed (it runs in LiteSVM), so only the key it verified is compared here.
"""

from __future__ import annotations

from solders.pubkey import Pubkey

from mppcli.chain.channel import ChannelAccount
from mppcli.chain.constants import ED25519_PROGRAM, INSTRUCTIONS_SYSVAR
from mppcli.chain.ed25519 import parse_ed25519_instruction
from mppcli.errors import MalformedError
from mppcli.ledger.host import InstructionHost
from mppcli.ledger.program.failures import fail, runtime
from mppcli.protocol.voucher import MAGIC, parse_voucher_message


def verified_cumulative(host: InstructionHost, channel_key: Pubkey, channel: ChannelAccount,
                        instructions_sysvar: Pubkey) -> int:
    """The new `settled` watermark a valid voucher authorizes."""
    if instructions_sysvar != INSTRUCTIONS_SYSVAR:
        raise runtime("UnsupportedSysvar", "instructionsSysvar is not the instructions sysvar")
    if host.index == 0 or host.transaction[host.index - 1].program_id != ED25519_PROGRAM:
        raise fail("missingEd25519Verification")
    try:
        payload = parse_ed25519_instruction(bytes(host.transaction[host.index - 1].data))
    except MalformedError as exc:
        raise fail("malformedEd25519Instruction", str(exc)) from None
    return _check(host, channel_key, channel, payload.public_key, payload.message)


def _check(host: InstructionHost, channel_key: Pubkey, channel: ChannelAccount, signer: Pubkey,
           message: bytes) -> int:
    if message[:len(MAGIC)] != MAGIC:
        raise fail("voucherBadMagic")
    voucher = parse_voucher_message(message)  # 50 bytes (the precompile layout) and the magic: cannot fail
    if voucher.channel_id != str(channel_key):
        raise fail("voucherChannelMismatch")
    expires_at = voucher.expires_at or 0
    if expires_at != 0 and host.time.unix_timestamp >= expires_at:
        raise fail("voucherExpired")
    if voucher.cumulative_amount > channel.deposit:
        raise fail("voucherOverDeposit")
    if channel.settled >= voucher.cumulative_amount:
        raise fail("voucherWatermarkNotMonotonic")
    if signer != channel.authorized_signer:
        raise fail("voucherSignerMismatch")
    return voucher.cumulative_amount
