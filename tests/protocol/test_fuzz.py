"""The invariant h11 keeps for its parsers: any input parses or raises our error, nothing else.

Hypothesis feeds random text and bytes, plus mutations of valid inputs (which reach deeper than
pure noise), to every parser that reads bytes from a peer.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mppcli.errors import MalformedError
from mppcli.protocol.actions import parse_action
from mppcli.protocol.auth import parse_authorization, parse_www_authenticate
from mppcli.protocol.encoding import b64url_encode, canonical_json, loads_json
from mppcli.protocol.metering import classify_event
from mppcli.protocol.receipt import parse_receipt
from mppcli.protocol.session import parse_session_request
from mppcli.protocol.voucher import Voucher, parse_signed_voucher, parse_voucher_message, voucher_message
from tests.protocol import kat
from tests.protocol.kat import new_channel_request, open_payload

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEADER = (
    'Payment id="ch_1", realm="r", method="solana", intent="session", request="e30", '
    'description="a \\"b\\"", expires="2026-01-29T12:05:00Z"'
)
HEADER_ALPHABET = st.sampled_from(list('Payment id=realm,"\\ \t=-_ abcXYZ019/+!\r\n\x00é'))


def only_malformed(parse: Callable[[Any], object], value: Any) -> None:
    with contextlib.suppress(MalformedError):
        parse(value)


def mutate(text: str, data: st.DataObject) -> str:
    position = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 5))
    insert = data.draw(st.text(HEADER_ALPHABET, max_size=6))
    return text[:position] + insert + text[position + cut :]


@SETTINGS
@given(st.text(max_size=400))
def test_www_authenticate_random_text(text: str) -> None:
    only_malformed(parse_www_authenticate, text)


@SETTINGS
@given(st.data())
def test_www_authenticate_mutated(data: st.DataObject) -> None:
    only_malformed(parse_www_authenticate, mutate(HEADER, data))


@SETTINGS
@given(st.text(HEADER_ALPHABET, max_size=200))
def test_www_authenticate_header_alphabet(text: str) -> None:
    only_malformed(parse_www_authenticate, text)


CREDENTIAL = "Payment " + b64url_encode(
    canonical_json(
        {
            "challenge": {
                "id": "ch_1",
                "realm": "r",
                "method": "solana",
                "intent": "session",
                "request": "e30",
            },
            "payload": open_payload(),
        }
    )
)


@SETTINGS
@given(st.data(), st.booleans())
def test_authorization_mutated(data: st.DataObject, lenient: bool) -> None:
    header = mutate(CREDENTIAL, data)
    with contextlib.suppress(MalformedError):
        parse_authorization(header, lenient=lenient)


@SETTINGS
@given(st.text(max_size=200))
def test_receipt_random_text(text: str) -> None:
    only_malformed(parse_receipt, text)


@SETTINGS
@given(st.binary(max_size=120))
def test_voucher_message_random_bytes(raw: bytes) -> None:
    only_malformed(parse_voucher_message, raw)


@SETTINGS
@given(st.integers(0, 49), st.integers(0, 255))
def test_voucher_message_single_byte_flips(position: int, value: int) -> None:
    message = bytearray(voucher_message(Voucher(kat.CHANNEL, 42, 1234)))
    message[position] = value
    only_malformed(parse_voucher_message, bytes(message))


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
SIGNED = {
    "voucher": {"channelId": kat.CHANNEL, "cumulativeAmount": "42", "expiresAt": 1234},
    "signer": kat.SIGNER,
    "signature": kat.VOUCHER_42_1234_SIGNATURE,
    "signatureType": "ed25519",
}


def replace_somewhere(value: object, data: st.DataObject) -> object:
    """`value` with one member (at any depth) replaced by a random JSON value."""
    if isinstance(value, dict) and value and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(value)))
        return {**value, key: replace_somewhere(value[key], data)}
    return data.draw(JSON_VALUES)


@SETTINGS
@given(st.data())
def test_structured_parsers_with_random_members(data: st.DataObject) -> None:
    only_malformed(parse_signed_voucher, replace_somewhere(SIGNED, data))
    only_malformed(parse_session_request, replace_somewhere(new_channel_request(), data))
    only_malformed(parse_action, replace_somewhere(open_payload(), data))
    only_malformed(
        parse_action,
        replace_somewhere({"action": "close", "channelId": kat.CHANNEL, "voucher": SIGNED}, data),
    )


@SETTINGS
@given(st.binary(max_size=200))
def test_strict_json_random_bytes(raw: bytes) -> None:
    only_malformed(loads_json, raw)


@SETTINGS
@given(
    st.one_of(st.none(), st.sampled_from(["mpp.metering", "usage", "done", "message"])), st.text(max_size=80)
)
def test_sse_classification(event: str | None, text: str) -> None:
    with contextlib.suppress(MalformedError):
        classify_event(event, text)


@SETTINGS
@given(JSON_VALUES)
def test_canonical_json_is_valid_json_or_refused(value: object) -> None:
    try:
        canonical = canonical_json(value)
    except MalformedError:
        return
    assert canonical_json(json.loads(canonical)) == canonical  # canonical form is a fixed point
