"""Vouchers: the 50-byte message an authorized signer signs, and its JSON form.

    offset 0   2  magic      56 01   ('V', format version 1)
    offset 2  32  channelId  raw address bytes
    offset 34  8  cumulative u64 little-endian
    offset 42  8  expiresAt  i64 little-endian, 0 = never

This exact message is also what the Ed25519 precompile verifies on chain at settlement. The
superseded 48-byte layout (no magic) is refused. `expiresAt` absent and `expiresAt: 0` both sign
as 0. Any other i64, negative values and i64::MIN included, is encoded, signed and verified
verbatim, as the spec says: the codec carries what the signer signed, and whether a voucher is
still valid is the verifier's call (a negative expiry is always in the past, so a server refuses
it as expired, exactly as the program would at settlement).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mppcli.errors import MalformedError
from mppcli.protocol.base58 import check_pubkey, decode_fixed, verify_ed25519
from mppcli.protocol.encoding import I64_MAX, I64_MIN, U64_MAX, b58encode
from mppcli.protocol.fields import (
    as_object,
    get_int,
    get_signature,
    need_object,
    need_pubkey,
    need_str,
    need_u64,
)

if TYPE_CHECKING:
    from solders.keypair import Keypair

MAGIC = b"\x56\x01"
MESSAGE_SIZE = 50
LEGACY_MESSAGE_SIZE = 48
# 2100-01-01T00:00:00Z: the reference client's default expiry, below 2^53 so JSON keeps it exact.
DEFAULT_EXPIRES_AT = 4_102_444_800
SIGNATURE_TYPE = "ed25519"
_LAYOUT = struct.Struct("<2s32sQq")


@dataclass(frozen=True)
class Voucher:
    """What a voucher authorizes: up to `cumulative_amount` base units in total on `channel_id`."""

    channel_id: str
    cumulative_amount: int
    expires_at: int | None = None

    def __post_init__(self) -> None:
        check_pubkey(self.channel_id, "voucher.channelId")
        if isinstance(self.cumulative_amount, bool) or not 0 <= self.cumulative_amount <= U64_MAX:
            raise MalformedError("voucher.cumulativeAmount must be a u64")
        if self.expires_at is not None and (
            isinstance(self.expires_at, bool) or not I64_MIN <= self.expires_at <= I64_MAX
        ):
            raise MalformedError("voucher.expiresAt must be an i64 unix time (-2^63 to 2^63-1)")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"channelId": self.channel_id, "cumulativeAmount": str(self.cumulative_amount)}
        if self.expires_at is not None:
            data["expiresAt"] = self.expires_at
        return data


def voucher_message(voucher: Voucher) -> bytes:
    """The 50 bytes that are signed."""
    channel = decode_fixed(voucher.channel_id, 32, "voucher.channelId", "public key")
    return _LAYOUT.pack(MAGIC, channel, voucher.cumulative_amount, voucher.expires_at or 0)


def parse_voucher_message(message: bytes) -> Voucher:
    """Read a 50-byte voucher message back (e.g. from an Ed25519 precompile instruction)."""
    if len(message) == LEGACY_MESSAGE_SIZE:
        raise MalformedError("48-byte vouchers are the superseded layout; the current message is 50 bytes")
    if len(message) != MESSAGE_SIZE:
        raise MalformedError(f"a voucher message is {MESSAGE_SIZE} bytes, got {len(message)}")
    magic, channel, cumulative, expires_at = _LAYOUT.unpack(message)
    if magic != MAGIC:
        raise MalformedError(f"voucher magic must be 56 01, got {magic.hex(' ')}")
    return Voucher(b58encode(channel), cumulative, expires_at)


def parse_voucher(value: object, path: str = "voucher") -> Voucher:
    """The JSON voucher data `{channelId, cumulativeAmount, expiresAt?}`."""
    data = as_object(value, path)
    return Voucher(need_pubkey(data, "channelId", path), need_u64(data, "cumulativeAmount", path),
                   get_int(data, "expiresAt", path, required=False, minimum=I64_MIN, maximum=I64_MAX))


@dataclass(frozen=True)
class SignedVoucher:
    """A voucher with its signer and base58 Ed25519 signature, as the spec's Signed Voucher table."""

    voucher: Voucher
    signer: str
    signature: str
    signature_type: str = SIGNATURE_TYPE

    def message(self) -> bytes:
        return voucher_message(self.voucher)

    def to_json(self) -> dict[str, Any]:
        return {"voucher": self.voucher.to_json(), "signer": self.signer, "signature": self.signature,
                "signatureType": self.signature_type}


def parse_signed_voucher(value: object, path: str = "voucher") -> SignedVoucher:
    """`{voucher: {...}, signer, signature, signatureType: "ed25519"}`, strictly."""
    data = as_object(value, path)
    signature_type = need_str(data, "signatureType", path)
    if signature_type != SIGNATURE_TYPE:
        raise MalformedError(f"{path}.signatureType must be 'ed25519', got {signature_type[:40]!r}")
    return SignedVoucher(parse_voucher(need_object(data, "voucher", path), f"{path}.voucher"),
                         need_pubkey(data, "signer", path), get_signature(data, "signature", path))


class VoucherKey:
    """A signing keypair with its base58 public key derived once.

    solders' `Keypair.pubkey()` re-derives the key on each call and costs about as much as the
    signature itself, so a client signing a voucher per request or per chunk keeps one of these.
    """

    def __init__(self, keypair: Keypair) -> None:
        self.keypair = keypair
        self.pubkey = str(keypair.pubkey())

    def sign(self, voucher: Voucher) -> SignedVoucher:
        signature = self.keypair.sign_message(voucher_message(voucher))
        return SignedVoucher(voucher, self.pubkey, str(signature))


def sign_voucher(key: Keypair | VoucherKey, voucher: Voucher) -> SignedVoucher:
    """Sign with a solders Keypair (Ed25519 is deterministic: the same voucher, the same signature)."""
    return (key if isinstance(key, VoucherKey) else VoucherKey(key)).sign(voucher)


def verify_signed_voucher(signed: SignedVoucher) -> bool:
    """True if `signature` is `signer`'s Ed25519 signature over the 50-byte message.

    Only the signature: whether `signer` is the channel's authorized signer, the watermark and the
    expiry are the verifier's business.
    """
    return verify_ed25519(signed.signer, signed.signature, voucher_message(signed.voucher))
