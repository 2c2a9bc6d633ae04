"""The primitive encodings of the wire: base64url, standard base64, strict JSON, u64 strings, base58.

Base64url leniency (decided here, used everywhere):
- strict (the default) accepts only the URL-safe alphabet `A-Z a-z 0-9 - _`, no padding, no
  whitespace, and only the canonical encoding (the unused low bits of the last character must be
  zero), so one byte string has exactly one text form. The core scheme's ABNF is
  `base64url-nopad = 1*( ALPHA / DIGIT / "-" / "_" )`, and every peer we know emits exactly that.
- lenient additionally accepts `+` and `/` and correct trailing `=` padding. The reference server
  (solana-pay-kit 0.10.0) decodes credentials that way; a server that wants to accept what it
  accepts passes `lenient=True` for `Authorization` tokens. Nothing we emit is ever lenient.

u64 decimal strings are canonical: ASCII digits only, no sign, no blank, no leading zero (except
"0" itself), at most 2^64-1. The shared vectors call them "canonical u64", and the generic session
intent pins `amount` to `^[1-9][0-9]*$`; a leading zero would give one amount two spellings.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from mppcli.errors import MalformedError
from mppcli.protocol.base58 import b58decode, b58encode, check_pubkey, check_signature
from mppcli.protocol.jcs import canonical_json

__all__ = [
    "I64_MAX",
    "I64_MIN",
    "U64_MAX",
    "b58decode",
    "b58encode",
    "b64_decode_standard",
    "b64_encode_standard",
    "b64url_decode",
    "b64url_encode",
    "canonical_json",
    "check_pubkey",
    "check_signature",
    "format_u64",
    "loads_json",
    "parse_u64",
]

U64_MAX = 2**64 - 1
I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
_URLSAFE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_URLSAFE = frozenset(_URLSAFE_ALPHABET)
# by length mod 4: the bits of the last character that carry no data (they must be zero)
_UNUSED_LOW_BITS = (0, 0, 0b1111, 0b11)
_URLSAFE_TEXT = re.compile(r"[A-Za-z0-9_-]*")
_STANDARD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_DIGITS = frozenset("0123456789")


def b64url_encode(data: bytes) -> str:
    """URL-safe base64 without padding (RFC 4648 §5)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, field: str = "value", *, lenient: bool = False) -> bytes:
    """Decode base64url; strict unless `lenient` (see the module docstring)."""
    if not isinstance(text, str):
        raise MalformedError(f"{field} must be a base64url string")
    body = _strip_padding(text, field) if lenient else text
    if lenient:
        body = body.replace("+", "-").replace("/", "_")
    if not _URLSAFE_TEXT.fullmatch(body):  # one C-level scan; name the culprit only on failure
        bad = next(ch for ch in body if ch not in _URLSAFE)
        raise MalformedError(f"{field} is not base64url: it contains {bad!r}")
    if len(body) % 4 == 1:
        raise MalformedError(f"{field} is not base64url: {len(body)} characters cannot be a whole byte count")
    if body and _URLSAFE_ALPHABET.index(body[-1]) & _UNUSED_LOW_BITS[len(body) % 4]:
        raise MalformedError(f"{field} is not canonical base64url: its last character has stray low bits")
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


def _strip_padding(text: str, field: str) -> str:
    body = text.rstrip("=")
    pad = len(text) - len(body)
    if pad and (pad > 2 or len(text) % 4):
        raise MalformedError(f"{field} has wrong base64 padding")
    return body


def b64_encode_standard(data: bytes) -> str:
    """Standard base64 with `=` padding: how Solana transactions travel in credentials."""
    return base64.b64encode(data).decode("ascii")


def b64_decode_standard(text: str, field: str = "value") -> bytes:
    """Decode standard, padded base64 strictly (the spec: 'standard alphabet, padded')."""
    if not isinstance(text, str) or not text:
        raise MalformedError(f"{field} must be a non-empty standard base64 string")
    body = text.rstrip("=")
    bad = next((ch for ch in body if ch not in _STANDARD), None)
    if bad is not None:
        raise MalformedError(f"{field} is not standard base64: it contains {bad!r}")
    if len(text) % 4:
        raise MalformedError(f"{field} is not padded standard base64 (length {len(text)} is not 4k)")
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise MalformedError(f"{field} is not standard base64: {exc}") from None
    if b64_encode_standard(data) != text:
        raise MalformedError(f"{field} is not canonical standard base64")
    return data


def loads_json(data: bytes | str, field: str = "value") -> Any:
    """Parse JSON strictly: UTF-8, no NaN/Infinity, no duplicate object keys, bounded nesting."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedError(f"{field} is not UTF-8") from None
    try:
        return json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:
        raise MalformedError(f"{field} is nested too deeply") from None
    except MalformedError as exc:
        raise MalformedError(f"{field}: {exc}") from None
    except ValueError as exc:
        raise MalformedError(f"{field} is not valid JSON: {exc}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)  # built in C; a duplicate shows as a shorter dict, then is named
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise MalformedError(f"duplicate JSON key {key!r}")
            seen.add(key)
    return result


def _no_constant(name: str) -> Any:
    raise MalformedError(f"{name} is not a JSON number")


def parse_u64(value: object, field: str) -> int:
    """A strict u64 decimal string -> int; JSON numbers, signs, blanks, leading zeros are refused."""
    if not isinstance(value, str):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        kind = "a JSON number" if number else "not a string"
        raise MalformedError(f"{field} must be an unsigned decimal string ({kind})")
    if not value or any(ch not in _DIGITS for ch in value):
        raise MalformedError(f"{field} must be an unsigned decimal string, got {value[:40]!r}")
    if len(value) > 1 and value[0] == "0":
        raise MalformedError(f"{field} must not have a leading zero, got {value[:40]!r}")
    if len(value) > 20 or int(value) > U64_MAX:
        raise MalformedError(f"{field} exceeds the u64 maximum 18446744073709551615")
    return int(value)


def format_u64(value: int) -> str:
    """The canonical decimal string of a u64."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U64_MAX:
        raise MalformedError(f"{value!r} is not a u64")
    return str(value)
