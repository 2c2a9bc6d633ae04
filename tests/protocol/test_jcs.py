"""RFC 8785 canonical JSON: our own known answers, then the shared vectors when present."""

from __future__ import annotations

import json
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mppcli.errors import MalformedError
from mppcli.protocol.encoding import b64url_encode, canonical_json
from mppcli.protocol.jcs import MAX_DEPTH, format_number
from tests.support import load_vectors

# IEEE-754 bit patterns -> ECMAScript Number::toString (the RFC 8785 Appendix B table; each value
# was re-derived with node's JSON.stringify on this machine).
NUMBERS = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "text"), NUMBERS)
def test_numbers_print_as_ecmascript_does(bits: str, text: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert format_number(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (100.0, "100"),
        (1.5, "1.5"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (123e-20, "1.23e-18"),
        (0.1 + 0.2, "0.30000000000000004"),
        (-1.25e-10, "-1.25e-10"),
    ],
)
def test_more_number_forms(value: float, text: str) -> None:
    assert canonical_json(value).decode() == text


def test_big_integers_are_emitted_only_when_their_digits_survive_a_double() -> None:
    assert canonical_json(2**53) == b"9007199254740992"
    assert canonical_json(-(2**53)) == b"-9007199254740992"
    assert canonical_json(42211375549265940) == b"42211375549265940"  # the double prints these digits
    for changed in (2**53 + 1, 2**60, 10**400):  # ES would print other digits (2^60 -> ...847000)
        with pytest.raises(MalformedError, match="send it as a string"):
            canonical_json(changed)


def test_nan_and_infinity_are_refused() -> None:
    for bad in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(MalformedError, match="NaN and Infinity"):
            canonical_json([bad])


def test_keys_sort_by_utf16_code_units_at_every_level() -> None:
    value = {"b": {"z": 1, "a": 2}, "a": [{"d": None, "c": True}], "\U0001f600": 3, "\ufb03": 4}
    assert canonical_json(value).decode() == (
        '{"a":[{"c":true,"d":null}],"b":{"a":2,"z":1},"\U0001f600":3,"\ufb03":4}'
    )


def test_string_escapes_only_what_json_requires() -> None:
    text = 'q" b\\ \b\f\n\r\t \x00 \x1f \x7f é \u2028 \u2029 /'
    expected = '"q\\" b\\\\ \\b\\f\\n\\r\\t \\u0000 \\u001f \x7f é \u2028 \u2029 /"'
    assert canonical_json(text).decode() == expected
    assert json.loads(canonical_json(text)) == text


def test_lone_surrogates_and_non_json_values_are_refused() -> None:
    with pytest.raises(MalformedError, match="lone surrogate"):
        canonical_json({"k": "\ud800"})
    with pytest.raises(MalformedError, match="lone surrogate"):
        canonical_json({"\udc00": 1})
    with pytest.raises(MalformedError, match="keys must be strings"):
        canonical_json({1: 2})
    with pytest.raises(MalformedError, match="not a JSON value"):
        canonical_json({"a": b"bytes"})


def test_literals_and_containers() -> None:
    assert canonical_json([None, True, False, [], {}, "", 0, -1]) == b'[null,true,false,[],{},"",0,-1]'
    assert canonical_json((1, 2)) == b"[1,2]"


def test_shared_canonical_bytes_vectors() -> None:
    vectors = load_vectors("canonical-bytes.json")
    if vectors is None:
        pytest.skip("../shared/reference is absent")
    checked = 0
    for case in vectors:
        expected = case["expect"]["exactBytes"]
        if "value" in case["input"]:
            canonical = canonical_json(case["input"]["value"])
            assert canonical.decode() == expected["canonicalJson"], case["id"]
        else:
            source = case["input"]["encodeBase64Url"]
            canonical = bytes.fromhex(source["hexBytes"]) if "hexBytes" in source else source["utf8"].encode()
        assert b64url_encode(canonical) == expected["base64Url"], case["id"]
        checked += 1
    assert checked == len(vectors) >= 6


def _emitted(value: object) -> bytes:
    """The general emitter's bytes, bypassing the `json.dumps` fast path."""
    from mppcli.protocol.jcs import _emit

    parts: list[str] = []
    _emit(value, parts, depth=0)
    return "".join(parts).encode("utf-8")


_TRICKY = st.sampled_from("\x00\x1f\x7f\"\\\u2028\u2029\U0001F600")
_JSON_TEXT = st.text(alphabet=st.characters(codec="utf-8") | _TRICKY)
_ASCII_KEYS = st.text(alphabet=st.characters(max_codepoint=127))
_PLAIN_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _JSON_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_ASCII_KEYS | _JSON_TEXT, inner, max_size=4),
    max_leaves=20,
)


@given(_PLAIN_VALUES)
def test_the_fast_path_writes_exactly_what_the_emitter_writes(value: object) -> None:
    """`canonical_json` hands plain values (ASCII keys) to `json.dumps`; whatever the value,
    fast path or not, the bytes are the general emitter's (non-ASCII keys, big integers and
    floats take the emitter)."""
    assert canonical_json(value) == _emitted(value)


def test_the_fast_path_still_refuses_a_lone_surrogate() -> None:
    with pytest.raises(MalformedError, match="lone surrogate"):
        canonical_json({"a": "\ud800"})


def test_deep_values_are_encoded_up_to_the_limit_and_refused_beyond_it() -> None:
    """Neither the fast path's check nor the emitter meets Python's recursion limit first: a
    value as deep as the limit is encoded, a deeper one is a MalformedError, not a RecursionError."""
    deep: object = "x"
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert canonical_json(deep) == b"[" * MAX_DEPTH + b'"x"' + b"]" * MAX_DEPTH
    assert canonical_json(_nest(MAX_DEPTH)).count(b"{") == MAX_DEPTH + 1
    with pytest.raises(MalformedError, match=f"deeper than {MAX_DEPTH}"):
        canonical_json(_nest(2 * MAX_DEPTH))


def _nest(levels: int) -> object:
    value: object = {}
    for _ in range(levels):
        value = {"k": value}
    return value
