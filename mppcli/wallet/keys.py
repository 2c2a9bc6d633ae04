"""Keypair secrets in the two forms Solana users hold them, checked before they are trusted.

- solana-keygen JSON: an array of 64 integers 0..255 (32-byte seed ‖ 32-byte public key);
- base58: the same 64 bytes as one base58 string (what wallets such as Phantom export).

Both carry the public key, so a secret whose second half is not the key its seed derives is
refused instead of silently yielding a wallet with a different address than the user expects.
Error messages never echo the input: it is a secret.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from mppcli.errors import MalformedError
from mppcli.protocol.base58 import b58decode, b58encode

if TYPE_CHECKING:
    from solders.keypair import Keypair

SECRET_LENGTH = 64


def parse_secret_text(text: str) -> bytes:
    """64 secret bytes from a solana-keygen JSON array or a base58 string (checked)."""
    stripped = text.strip()
    if not stripped:
        raise MalformedError("empty input: expected a solana-keygen JSON array or a base58 secret")
    raw = _from_json_array(stripped) if stripped.startswith("[") else _from_base58(stripped)
    check_secret(raw)
    return raw


def _from_json_array(text: str) -> bytes:
    try:
        numbers = json.loads(text)
    except ValueError:
        raise MalformedError("not a valid JSON array of 64 numbers (solana-keygen format)") from None
    if not isinstance(numbers, list) or len(numbers) != SECRET_LENGTH:
        raise MalformedError("a solana-keygen keypair must be a JSON array of exactly 64 numbers")
    if not all(type(n) is int and 0 <= n <= 255 for n in numbers):
        raise MalformedError("a solana-keygen keypair must hold integers 0..255 only")
    return bytes(numbers)


def _from_base58(text: str) -> bytes:
    try:
        raw = b58decode(text)
    except MalformedError:
        raise MalformedError("not a base58 secret key (nor a JSON array)") from None
    if len(raw) != SECRET_LENGTH:
        raise MalformedError(f"a base58 secret key must decode to 64 bytes, not {len(raw)}"
                             + (" (a 32-byte seed has no public key to check)" if len(raw) == 32 else ""))
    return raw


def check_secret(raw: bytes) -> None:
    """Refuse 64 bytes whose public half is not the key derived from the seed half."""
    from solders.keypair import Keypair

    if len(raw) != SECRET_LENGTH:
        raise MalformedError("a keypair secret is 64 bytes")
    derived = Keypair.from_seed(raw[:32]).pubkey()
    if bytes(derived) != raw[32:]:
        raise MalformedError("the public key in this keypair does not match its secret key "
                             "(the file or text is damaged or not a Solana keypair)")


def keypair_from_secret(raw: bytes) -> Keypair:
    from solders.keypair import Keypair

    check_secret(raw)
    return Keypair.from_bytes(raw)


def keypair_json(keypair: Keypair) -> str:
    """The solana-keygen file text: `[n,n,...]` with 64 numbers."""
    return json.dumps(list(bytes(keypair)), separators=(",", ":"))


def keypair_base58(keypair: Keypair) -> str:
    return b58encode(bytes(keypair))
