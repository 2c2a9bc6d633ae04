"""`WWW-Authenticate: Payment`: parsing (strict, order-free, linear) and emission."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from mppcli.errors import MalformedError
from mppcli.protocol.auth import (
    Challenge,
    compute_challenge_id,
    format_www_authenticate,
    new_challenge,
    parse_www_authenticate,
    verify_challenge_id,
)
from mppcli.protocol.encoding import b64url_encode, canonical_json
from tests.support import load_vectors

REQ = "eyJhbW91bnQiOiIxMDAifQ"  # {"amount":"100"}
BASIC = f'Payment id="ch_1", realm="api.example.com", method="solana", intent="session", request="{REQ}"'


def one(header: str) -> Challenge:
    challenges = parse_www_authenticate(header)
    assert len(challenges) == 1
    return challenges[0]


def test_basic_challenge() -> None:
    challenge = one(BASIC)
    assert challenge == Challenge("ch_1", "api.example.com", "solana", "session", REQ)
    assert challenge.decoded_request() == {"amount": "100"}


def test_all_optional_parameters_and_escapes() -> None:
    header = (
        f'payment request="{REQ}", DESCRIPTION="Pay \\"premium\\" \\\\ tier", id=tok-en_1, '
        'expires="2026-01-29T12:05:00Z", intent="session", digest="sha-256=:abc=:", '
        'realm = "r" , method="solana", opaque="eyJhIjoiYiJ9", unknown="ignored"'
    )
    challenge = one(header)
    assert challenge.id == "tok-en_1"
    assert challenge.description == 'Pay "premium" \\ tier'
    assert (challenge.expires, challenge.digest, challenge.opaque) == (
        "2026-01-29T12:05:00Z",
        "sha-256=:abc=:",
        "eyJhIjoiYiJ9",
    )
    assert challenge.realm == "r"


def test_several_challenges_in_one_value_and_several_values_other_schemes_skipped() -> None:
    second = BASIC.replace("ch_1", "ch_2").replace('"session"', '"charge"')
    value = f'Bearer realm="x", error="invalid_token", {BASIC}, Basic dXNlcjpwYXNz==, {second}'
    ids = [c.id for c in parse_www_authenticate(value)]
    assert ids == ["ch_1", "ch_2"]
    third = BASIC.replace("ch_1", "ch_3")
    assert [c.id for c in parse_www_authenticate([value, 'Digest realm="d"', third])] == [
        "ch_1",
        "ch_2",
        "ch_3",
    ]


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("", "no Payment challenge"),
        ("Bearer token123", "no Payment challenge"),
        ("Payment", "'id' is missing"),
        (BASIC.replace('id="ch_1", ', ""), "'id' is missing"),
        (BASIC.replace('realm="api.example.com", ', ""), "'realm' is missing"),
        (BASIC.replace('method="solana", ', ""), "'method' is missing"),
        (BASIC.replace('intent="session", ', ""), "'intent' is missing"),
        (BASIC.replace(f', request="{REQ}"', ""), "'request' is missing"),
        (BASIC.replace('"ch_1"', '""'), "'id' must be a non-empty string"),
        (BASIC.replace('"api.example.com"', '""'), "'realm' must be a non-empty string"),
        (BASIC.replace('intent="session"', 'intent=""'), "'intent' must be a non-empty string"),
        (BASIC + ', id="again"', "repeats parameter 'id'"),
        (BASIC + ', ID="again"', "repeats parameter 'id'"),
        (BASIC.replace('"solana"', '"Solana"'), "lowercase ASCII letters"),
        (BASIC.replace('"solana"', '"sol4na"'), "lowercase ASCII letters"),
        (BASIC.replace('"session"', '"ses sion"'), "letters, digits or '-'"),
        (BASIC.replace(REQ, "not-valid!!!"), "request is not base64url"),
        (BASIC.replace(REQ, "bm90IGpzb24"), "request is not valid JSON"),
        (BASIC.replace(REQ, b64url_encode(b"[1,2]")), "request must be a JSON object"),
        (BASIC.replace(REQ, "e" * 16385), "longer than 16384"),
        (BASIC + ', expires="tomorrow"', "expires is not an RFC 3339"),
        (BASIC + ', opaque="e30x"', "opaque"),
        (BASIC + ', opaque="' + b64url_encode(b'{"a":1}') + '"', "values are all strings"),
        (BASIC + ', description="unterminated', "'description' has a malformed value"),
        (BASIC.replace('"ch_1"', '"a\rb"'), "'id' has a malformed value"),
        (
            'Payment id=, realm="r", method="solana", intent="session", request="e30"',
            "'id' has a malformed value",
        ),
        (
            f'Payment id="ok", realm="r", method="solana", intent="session", request="e30", {BASIC}, '
            'Payment realm="x"',
            "'id' is missing",
        ),
    ],
)
def test_malformed_challenges_are_rejected_naming_the_problem(header: str, why: str) -> None:
    with pytest.raises(MalformedError, match=why):
        parse_www_authenticate(header)


def test_text_after_a_complete_value_is_ignored_as_the_vectors_expect() -> None:
    challenge = one(BASIC + ', description="Payment for "Premium" service — 50% off!"')
    assert challenge.description == "Payment for "


def test_a_malformed_unknown_parameter_is_ignored() -> None:
    assert one(BASIC + ', fuzz="' + "\\" * 12001).id == "ch_1"
    assert one(BASIC + ', ext=, other="\x01"').id == "ch_1"


@pytest.mark.parametrize(
    "tail",
    [
        ', fuzz="' + "\\" * 16000,
        ', fuzz="' + '\\"' * 8000,
        ", " + "a=" * 8000,
        ", " + ",".join(["x"] * 8000),
        ", " + '"' * 16000,
    ],
)
def test_16k_hostile_headers_are_parsed_or_refused_as_malformed(tail: str) -> None:
    """Only a parse or MalformedError, never another exception (speed: bench/, not asserted here)."""
    header = BASIC + tail
    assert len(header) >= 16000
    with contextlib.suppress(MalformedError):
        assert parse_www_authenticate(header)


def test_format_writes_the_reference_order_and_round_trips() -> None:
    challenge = Challenge(
        "x7",
        "api.example.com",
        "solana",
        "session",
        REQ,
        expires="2026-01-29T12:05:00.000Z",
        description='say "hi" \\ there',
        digest="sha-256=:abc=:",
        opaque="eyJhIjoiYiJ9",
    )
    header = format_www_authenticate(challenge)
    assert header == (
        'Payment id="x7", realm="api.example.com", method="solana", intent="session", '
        f'request="{REQ}", description="say \\"hi\\" \\\\ there", digest="sha-256=:abc=:", '
        'expires="2026-01-29T12:05:00.000Z", opaque="eyJhIjoiYiJ9"'
    )
    assert one(header) == challenge


def test_format_refuses_header_injection() -> None:
    challenge = Challenge("x", "r", "solana", "session", REQ, description="legit\r\nInjected-Header: evil")
    with pytest.raises(MalformedError, match="description contains a control character"):
        format_www_authenticate(challenge)


def test_challenge_id_known_answers() -> None:
    """HMAC-SHA256 over the seven slots; values cross-checked with the reference implementation."""
    secret = b"test-secret"
    assert (
        compute_challenge_id(
            secret, "api.example.com", "solana", "session", "e30", "2026-01-29T12:05:00.000Z"
        )
        == "PgcGxmYNk2NQKiQc51hTMFgpQWzTsOGwVxt8e7u7hqw"
    )
    assert (
        compute_challenge_id(
            secret, "api.example.com", "solana", "session", "e30", None, "sha-256=:abc=:", "eyJhIjoiYiJ9"
        )
        == "JvCLkFnpKBq3awzBkKQ4Ad6ocNDDqZVY-rN3JgGyo90"
    )


def test_challenge_id_slots_are_positional() -> None:
    """(expires set, no digest) and (no expires, digest set) must not collide."""
    a = compute_challenge_id(b"k", "r", "m", "i", "e30", "X", None)
    b = compute_challenge_id(b"k", "r", "m", "i", "e30", None, "X")
    assert a != b


def test_new_challenge_binds_its_parameters() -> None:
    request = {"b": 2, "a": "x"}
    challenge = new_challenge(
        b"secret",
        realm="r",
        method="solana",
        intent="session",
        request=request,
        expires="2026-01-29T12:05:00.000Z",
        description="d",
        opaque={"k": "v"},
    )
    assert challenge.request == b64url_encode(canonical_json(request))
    assert challenge.decoded_request() == request
    assert verify_challenge_id(b"secret", challenge)
    assert not verify_challenge_id(b"other", challenge)
    tampered = Challenge(
        challenge.id,
        "r",
        "solana",
        "session",
        b64url_encode(b'{"a":"y","b":2}'),
        challenge.expires,
        opaque=challenge.opaque,
    )
    assert not verify_challenge_id(b"secret", tampered)
    described = Challenge(
        challenge.id,
        "r",
        "solana",
        "session",
        challenge.request,
        challenge.expires,
        description="changed",
        opaque=challenge.opaque,
    )
    assert verify_challenge_id(b"secret", described)  # description is not bound (display only)


def _wire(scenario: dict[str, Any]) -> str:
    wire = scenario["wire"]
    if isinstance(wire, dict):
        return str(wire["prefix"] + wire["repeat"] * wire["count"])
    return str(wire)


def test_shared_www_authenticate_vectors() -> None:
    vectors = load_vectors("www-authenticate.json")
    if vectors is None:
        pytest.skip("../shared/reference is absent")
    for scenario in vectors["scenarios"]:
        tests, name = scenario["tests"], scenario["name"]
        if tests.get("parse") is True:
            challenge = one(_wire(scenario))
            expected = scenario["object"]
            assert (challenge.id, challenge.realm, challenge.method, challenge.intent) == (
                expected["id"],
                expected["realm"],
                expected["method"],
                expected["intent"],
            ), name
            assert challenge.decoded_request() == expected["request"], name
            for key in ("description", "digest", "expires"):
                assert getattr(challenge, key) == expected.get(key), (name, key)
        elif isinstance(tests.get("parse"), dict):
            with pytest.raises(MalformedError):
                parse_www_authenticate(_wire(scenario))
        if tests.get("format") is True:
            assert format_www_authenticate(one(_wire(scenario))) == _wire(scenario), name
        elif isinstance(tests.get("format"), dict):
            source = scenario["object"]
            challenge = Challenge(
                source["id"],
                source["realm"],
                source["method"],
                source["intent"],
                "e30",
                description=source.get("description"),
            )
            with pytest.raises(MalformedError):
                format_www_authenticate(challenge)
