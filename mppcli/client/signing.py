"""Signing vouchers with the channel's authorized signer, and recording them before they leave.

Every voucher carries `expiresAt` = 2100-01-01 (the reference client's default, PROTOCOL-NOTES §8.3
and §11): it is past any settlement window, and because Ed25519 is deterministic the same
cumulative always yields byte-identical JSON, which is what a close must resend.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from mppcli.client import machine as m
from mppcli.client import records
from mppcli.client.context import Client
from mppcli.errors import InternalError, MalformedError
from mppcli.protocol.voucher import (
    DEFAULT_EXPIRES_AT,
    SignedVoucher,
    Voucher,
    parse_signed_voucher,
    sign_voucher,
)
from mppcli.state.record import ChannelRecord, SignerKind

if TYPE_CHECKING:
    from solders.keypair import Keypair


def signer_keypair(client: Client, record: ChannelRecord) -> Keypair:
    if record.signer_kind is SignerKind.SESSION:
        return client.keystore.session_key(record.authorized_signer)
    if record.signer_kind is SignerKind.PAYER:
        keypair = client.payer.keypair
        if str(keypair.pubkey()) != record.authorized_signer:
            raise InternalError(f"channel {record.channel_id} is signed by {record.authorized_signer}, "
                                f"not the payer key in use ({keypair.pubkey()})")
        return keypair
    raise InternalError(f"channel {record.channel_id} is operator-signed; the client signs no vouchers")


def voucher_text(signed: SignedVoucher) -> str:
    return json.dumps(signed.to_json(), separators=(",", ":"), sort_keys=True)


def read_voucher(text: str) -> SignedVoucher:
    try:
        return parse_signed_voucher(json.loads(text))
    except (ValueError, MalformedError) as exc:
        raise InternalError(f"a stored voucher does not parse: {exc}") from None


def sign_and_record(client: Client, record: ChannelRecord, keypair: Keypair,
                    cumulative: int) -> tuple[SignedVoucher, ChannelRecord]:
    """Sign a voucher for `cumulative` and persist it as the signed watermark, in that order."""
    signed = sign_voucher(keypair, Voucher(record.channel_id, cumulative, DEFAULT_EXPIRES_AT))
    # Below the signed watermark (a voucher the server refused earlier) exposes nothing new.
    extra = {"last_signed_voucher": voucher_text(signed)} if cumulative > record.signed_cumulative else {}
    updated = records.advance(client.store, record.channel_id, m.VoucherSigned(cumulative), **extra)
    return signed, updated
