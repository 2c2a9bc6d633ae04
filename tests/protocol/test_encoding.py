"""base64url, standard base64, strict JSON, u64 strings and base58: known answers and refusals."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mppcli.errors import MalformedError
from mppcli.protocol.base58 import b58decode, b58encode, check_pubkey, check_signature, decode_fixed
from mppcli.protocol.encoding import (
    U64_MAX,
    b64_decode_standard,
    b64_encode_standard,
    b64url_decode,
    b64url_encode,
    format_u64,
    loads_json,
    parse_u64,
)
from tests.protocol import kat

# RFC 4648 §10 test vectors, in the URL-safe alphabet without padding.
RFC4648 = [
    (b"", ""),
    (b"f", "Zg"),
    (b"fo", "Zm8"),
    (b"foo", "Zm9v"),
    (b"foob", "Zm9vYg"),
    (b"fooba", "Zm9vYmE"),
    (b"foobar", "Zm9vYmFy"),
]


@pytest.mark.parametrize(("raw", "text"), RFC4648)
def test_b64url_rfc4648_vectors(raw: bytes, text: str) -> None:
    assert b64url_encode(raw) == text
    assert b64url_decode(text) == raw


def test_b64url_uses_the_url_safe_alphabet() -> None:
    assert b64url_encode(b"\xfb\xff\xbf") == "-_-_"
    assert b64url_decode("-_-_") == b"\xfb\xff\xbf"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Zg==", "'='"),
        ("+/+/", "'+'"),
        ("Zm9v\n", "'\\n'"),
        ("Zm9 v", "' '"),
        ("Z", "whole byte"),
        ("Zh", "stray low bits"),
        ("not-valid!!!", "'!'"),
    ],
)
def test_b64url_strict_decoder_refuses(text: str, why: str) -> None:
    with pytest.raises(MalformedError, match=re.escape(why)):
        b64url_decode(text, "token")


def test_b64url_lenient_accepts_what_the_reference_server_accepts() -> None:
    """Decision: strict by default; `lenient` takes `+/` and correct padding (credentials only)."""
    assert b64url_decode("+/+/", lenient=True) == b"\xfb\xff\xbf"
    assert b64url_decode("Zg==", lenient=True) == b"f"
    assert b64url_decode("Zm8=", lenient=True) == b"fo"
    with pytest.raises(MalformedError, match="padding"):
        b64url_decode("Zg=", lenient=True)
    with pytest.raises(MalformedError, match="padding"):
        b64url_decode("Zm9v=", lenient=True)


def test_standard_base64_is_strict_and_padded() -> None:
    assert b64_encode_standard(b"\x01\x02\x03") == "AQID"
    assert b64_decode_standard("AQID") == b"\x01\x02\x03"
    assert b64_decode_standard("AQI=") == b"\x01\x02"
    for bad, why in (("AQI", "padded"), ("-_-_", "'-'"), ("", "non-empty"), ("AR==", "canonical")):
        with pytest.raises(MalformedError, match=why):
            b64_decode_standard(bad, "transaction")


def test_loads_json_is_strict() -> None:
    assert loads_json(b'{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}
    for bad, why in (
        (b'{"a":1,"a":2}', "duplicate JSON key 'a'"),
        (b"NaN", "NaN"),
        (b"[Infinity]", "Infinity"),
        (b"\xff", "not UTF-8"),
        (b"{", "not valid JSON"),
        (b"[" * 100000, "nested too deeply|not valid JSON"),
    ):
        with pytest.raises(MalformedError, match=why):
            loads_json(bad, "body")


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("1", 1), ("42", 42), (str(U64_MAX), U64_MAX)])
def test_parse_u64_accepts_canonical_decimal_strings(text: str, value: int) -> None:
    assert parse_u64(text, "amount") == value
    assert format_u64(value) == text


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (42, "a JSON number"),
        (42.0, "a JSON number"),
        (True, "not a string"),
        (None, "not a string"),
        ("", "unsigned decimal string"),
        (" 1", "unsigned decimal string"),
        ("1 ", "unsigned decimal string"),
        ("+1", "unsigned decimal string"),
        ("-1", "unsigned decimal string"),
        ("1.0", "unsigned decimal string"),
        ("1e3", "unsigned decimal string"),
        ("٣", "unsigned decimal string"),
        ("0x10", "unsigned decimal string"),
        (str(U64_MAX + 1), "exceeds the u64 maximum"),
        ("1" * 30, "exceeds the u64 maximum"),
    ],
)
def test_parse_u64_refuses(value: object, why: str) -> None:
    with pytest.raises(MalformedError, match=why) as info:
        parse_u64(value, "cumulativeAmount")
    assert str(info.value).startswith("cumulativeAmount ")


def test_u64_leading_zeros_are_refused_as_not_canonical() -> None:
    """Decision (vectors say 'canonical u64'; the generic spec pins amount to ^[1-9][0-9]*$)."""
    with pytest.raises(MalformedError, match="leading zero"):
        parse_u64("007", "amount")
    with pytest.raises(MalformedError, match="leading zero"):
        parse_u64("00", "amount")


def test_format_u64_refuses_out_of_range() -> None:
    for bad in (-1, U64_MAX + 1, True):
        with pytest.raises(MalformedError):
            format_u64(bad)


def test_base58_known_answers() -> None:
    assert b58encode(b"") == ""
    assert b58encode(b"\0\0\x01") == "112"
    assert b58encode(b"hello world") == "StV1DL6CwTryKyV"
    assert b58decode("StV1DL6CwTryKyV") == b"hello world"
    assert b58encode(bytes(32)) == kat.SYSTEM
    assert b58encode(bytes([9] * 32)) == kat.CHANNEL
    assert b58encode(bytes.fromhex(kat.RFC8032_PUBKEY_HEX)) == kat.SIGNER


def test_base58_round_trips_leading_zeros() -> None:
    for raw in (b"\0", b"\0\0\xff", bytes(64), b"\xff" * 64, bytes(range(32))):
        assert b58decode(b58encode(raw)) == raw


def test_base58_checks_name_the_field() -> None:
    assert check_pubkey(kat.PROGRAM, "channelProgram") == kat.PROGRAM
    with pytest.raises(MalformedError, match=r"recipient contains '0'"):
        check_pubkey("0" * 32, "recipient")
    with pytest.raises(MalformedError, match="recipient must be a base58 public key of 32 bytes, got 3"):
        check_pubkey("USDC", "recipient")
    with pytest.raises(MalformedError, match="signature must be a base58 signature of 64 bytes"):
        check_signature(kat.PROGRAM, "signature")
    with pytest.raises(MalformedError, match="too long"):
        b58decode("2" * 200, "x")


B58_TEXT = st.text(
    alphabet=st.sampled_from(list("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0Ol ")),
    min_size=0,
    max_size=100,
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(B58_TEXT, st.binary(min_size=30, max_size=66).map(b58encode)))
def test_the_fast_fixed_size_decoder_agrees_with_the_pure_one(text: str) -> None:
    for size in (32, 64):
        try:
            expected: bytes | None = b58decode(text, "x")
        except MalformedError:
            expected = None
        if expected is not None and len(expected) != size:
            expected = None
        try:
            got: bytes | None = decode_fixed(text, size, "x", "value")
        except MalformedError:
            got = None
        assert got == expected
