"""Bitcoin-alphabet base58, the text form of Solana public keys, signatures and blockhashes.

Written here (not taken from solders) so that parsers can check a key's length and alphabet
without constructing solders objects, and so a bad string raises `MalformedError` naming the field.
"""

from __future__ import annotations

import functools

from mppcli.errors import MalformedError

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INVALID = 255
# bytes.translate table: an alphabet character -> its digit, anything else -> 255 (one C-speed pass)
_DIGITS = bytes(ALPHABET.index(chr(b)) if chr(b) in ALPHABET else _INVALID for b in range(256))
# A 64-byte value encodes in at most 88 characters; anything much longer is not a key or signature.
MAX_TEXT = 128


def b58encode(data: bytes) -> str:
    """Encode bytes; each leading zero byte becomes a leading '1'."""
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, digit = divmod(number, 58)
        out.append(ALPHABET[digit])
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str, field: str = "value") -> bytes:
    """Decode base58 text; the message names `field` when a character is outside the alphabet."""
    if not isinstance(text, str) or not text:
        raise MalformedError(f"{field} must be a non-empty base58 string")
    if len(text) > MAX_TEXT:
        raise MalformedError(f"{field} is too long for base58 ({len(text)} characters)")
    digits = text.encode("utf-8").translate(_DIGITS)
    if _INVALID in digits or not text.isascii():
        bad = next(ch for ch in text if not ch.isascii() or _DIGITS[ord(ch)] == _INVALID)
        raise MalformedError(f"{field} contains {bad!r}, which is not a base58 character")
    number = 0
    for digit in digits:
        number = number * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body


def decode_fixed(text: str, size: int, field: str, what: str) -> bytes:
    """Decode base58 that must be exactly `size` bytes (32 for keys and hashes, 64 for signatures)."""
    raw = _solders_decode(text, size)
    if raw is not None:
        return raw
    raw = b58decode(text, field)  # the slow path also explains what is wrong
    if len(raw) != size:
        raise MalformedError(f"{field} must be a base58 {what} of {size} bytes, got {len(raw)} bytes")
    return raw


def _solders_decode(text: str, size: int) -> bytes | None:
    """The same decoding done by solders (Rust, ~20x faster on the voucher hot path), None on failure.

    tests/protocol/test_encoding.py checks that both paths agree on every input.
    """
    if size not in (32, 64) or not isinstance(text, str):
        return None
    from solders.pubkey import Pubkey
    from solders.signature import Signature

    try:
        return bytes(Pubkey.from_string(text) if size == 32 else Signature.from_string(text))
    except ValueError:
        return None


def check_pubkey(text: object, field: str) -> str:
    """Return `text` if it is a base58 32-byte public key (on or off curve)."""
    if not isinstance(text, str):
        raise MalformedError(f"{field} must be a base58 public key string")
    _check_key(text, field)
    return text


@functools.lru_cache(maxsize=4096)
def _check_key(text: str, field: str) -> None:
    """Raises for a bad key, which is therefore never remembered. Remembered: a paid request
    checks its channel id three times and its signer once, the same few keys request after request."""
    decode_fixed(text, 32, field, "public key")


def check_signature(text: object, field: str) -> str:
    """Return `text` if it is a base58 64-byte Ed25519 signature."""
    if not isinstance(text, str):
        raise MalformedError(f"{field} must be a base58 signature string")
    decode_fixed(text, 64, field, "signature")
    return text


def verify_ed25519(signer: str, signature: str, message: bytes) -> bool:
    """True if base58 `signature` is base58 public key `signer`'s Ed25519 signature over `message`;
    False as well when either text is not a key or a signature (vouchers, bearer proofs and
    reservation proofs all check this way)."""
    from solders.pubkey import Pubkey
    from solders.signature import Signature

    try:
        return bool(Signature.from_string(signature).verify(Pubkey.from_string(signer), message))
    except ValueError:
        return False
