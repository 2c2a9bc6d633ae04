"""`Authorization: Payment` credentials and problem details."""

from __future__ import annotations

import base64
import json

import pytest

from mppcli.errors import MalformedError
from mppcli.protocol.auth import (
    MAX_TOKEN_LENGTH,
    Challenge,
    Credential,
    format_authorization,
    parse_authorization,
)
from mppcli.protocol.encoding import b64url_encode, canonical_json
from mppcli.protocol.problem import PROBLEM_BASE, parse_problem, problem

CHALLENGE = Challenge(
    "ch_1", "api.example.com", "solana", "session", "e30", expires="2026-01-29T12:05:00.000Z", description="d"
)
PAYLOAD = {"action": "voucher", "channelId": "x"}


def token_of(obj: object) -> str:
    return b64url_encode(canonical_json(obj))


def test_format_is_base64url_of_the_jcs_credential_and_echoes_every_parameter() -> None:
    header = format_authorization(Credential(CHALLENGE, PAYLOAD, source="did:key:z6Mk"))
    scheme, token = header.split(" ")
    assert scheme == "Payment"
    assert token == token_of(
        {
            "challenge": {
                "id": "ch_1",
                "realm": "api.example.com",
                "method": "solana",
                "intent": "session",
                "request": "e30",
                "expires": "2026-01-29T12:05:00.000Z",
                "description": "d",
            },
            "payload": PAYLOAD,
            "source": "did:key:z6Mk",
        }
    )
    assert "=" not in token


def test_round_trip() -> None:
    credential = Credential(CHALLENGE, PAYLOAD)
    parsed = parse_authorization(format_authorization(credential))
    assert parsed == credential
    assert parse_authorization("payment   " + format_authorization(credential).split()[1]) == credential


def test_the_spec_example_credential_parses() -> None:
    token = (
        "eyJjaGFsbGVuZ2UiOnsiaWQiOiJ4N1RnMnBMcVI5bUt2TndZM2hCY1phIiwicmVhbG0iOiJhcGkuZXhhbXBsZS5jb20iLCJtZXRo"
        "b2QiOiJleGFtcGxlIiwiaW50ZW50IjoiY2hhcmdlIiwicmVxdWVzdCI6ImV5SmhiVzkxYm5RaU9pSXhNREF3SWl3aVkzVnljbVZ1"
        "WTNraU9pSlZVMFFpTENKeVpXTnBjR2xsYm5RaU9pSmhZMk4wWHpFeU15SjkiLCJleHBpcmVzIjoiMjAyNS0wMS0xNVQxMjowNTow"
        "MFoifSwicGF5bG9hZCI6eyJwcm9vZiI6IjB4YWJjMTIzLi4uIn19"
    )
    credential = parse_authorization("Payment " + token)
    assert credential.challenge.id == "x7Tg2pLqR9mKvNwY3hBcZa"
    assert credential.challenge.expires == "2025-01-15T12:05:00Z"
    assert credential.payload == {"proof": "0xabc123..."}


def good_echo(**changes: object) -> dict[str, object]:
    echo: dict[str, object] = {
        "id": "ch_1",
        "realm": "r",
        "method": "solana",
        "intent": "session",
        "request": "e30",
    }
    for key, value in changes.items():
        if value is None:
            echo.pop(key, None)
        else:
            echo[key] = value
    return echo


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("Bearer abc", "does not use the Payment scheme"),
        ("Payment", "carries no credential"),
        ("Payment    ", "carries no credential"),
        ("Payment !!!", "not base64url"),
        ("Payment " + "A" * (MAX_TOKEN_LENGTH + 1), "longer than 16384"),
        ("Payment " + b64url_encode(b"not json"), "not valid JSON"),
        ("Payment " + token_of([1]), "credential must be a JSON object"),
        ("Payment " + token_of({"payload": {}}), "challenge is required"),
        ("Payment " + token_of({"challenge": "ch_1", "payload": {}}), "challenge must be a JSON object"),
        ("Payment " + token_of({"challenge": good_echo()}), "payload is required"),
        ("Payment " + token_of({"challenge": good_echo(), "payload": []}), "payload must be a JSON object"),
        ("Payment " + token_of({"challenge": good_echo(id=""), "payload": {}}), "'id' must be a non-empty"),
        ("Payment " + token_of({"challenge": good_echo(id=None), "payload": {}}), "'id' is missing"),
        (
            "Payment " + token_of({"challenge": good_echo(realm=7), "payload": {}}),
            "'realm' must be a non-empty",
        ),
        ("Payment " + token_of({"challenge": good_echo(unknownEcho="x"), "payload": {}}), None),
        (
            "Payment " + token_of({"challenge": good_echo(request="!"), "payload": {}}),
            "request is not base64url",
        ),
        (
            "Payment " + token_of({"challenge": good_echo(), "payload": {}, "source": 5}),
            "source must be a string",
        ),
    ],
)
def test_malformed_credentials(header: str, why: str | None) -> None:
    if why is None:  # control case in the same table: unknown echo keys are ignored
        assert parse_authorization(header).challenge == Challenge("ch_1", "r", "solana", "session", "e30")
        return
    with pytest.raises(MalformedError, match=why):
        parse_authorization(header)


def test_padding_and_standard_alphabet_only_when_lenient() -> None:
    """Decision: strict by default; the reference server's leniency is available on request."""
    raw = canonical_json({"challenge": good_echo(), "payload": {"k": "\u00ff\u00fe>?"}})
    standard = base64.b64encode(raw).decode()
    assert "=" in standard or "+" in standard or "/" in standard
    with pytest.raises(MalformedError):
        parse_authorization("Payment " + standard)
    assert parse_authorization("Payment " + standard, lenient=True).payload == {"k": "\u00ff\u00fe>?"}


def test_problem_carries_the_spec_type_and_the_reference_members() -> None:
    body = problem(
        "malformed-credential", "open payload must not include bump", challenge_id="ch_9"
    ).to_json()
    assert body == {
        "type": PROBLEM_BASE + "malformed-credential",
        "title": "Malformed Credential",
        "status": 402,
        "detail": "open payload must not include bump",
        "code": "malformed-credential",
        "error": "malformed-credential",
        "message": "open payload must not include bump",
        "challengeId": "ch_9",
    }
    assert problem("verification-failed", "x", code="payment_invalid").to_json()["code"] == "payment_invalid"
    assert problem("method-unsupported", "x").status == 400
    with pytest.raises(MalformedError, match="unknown problem type"):
        problem("bogus", "x")


def test_parse_problem_reads_spec_and_reference_bodies() -> None:
    spec = parse_problem(
        json.dumps(
            {
                "type": PROBLEM_BASE + "invalid-challenge",
                "title": "Invalid Challenge",
                "status": 402,
                "detail": "expired",
            }
        )
    )
    assert (spec.name, spec.status, spec.detail, spec.code) == ("invalid-challenge", 402, "expired", None)
    ref = parse_problem(
        {
            "type": PROBLEM_BASE + "payment_invalid",
            "title": "Payment Required",
            "status": 402,
            "code": "payment_invalid",
            "error": "payment_invalid",
            "message": "bad voucher",
        }
    )
    assert (ref.name, ref.detail, ref.code) == ("payment_invalid", "bad voucher", "payment_invalid")
    body = problem("payment-required", "pay").to_json()
    assert parse_problem(body).to_json() == body
    with pytest.raises(MalformedError, match="problem must be a JSON object"):
        parse_problem("[]")
    with pytest.raises(MalformedError, match="status must be at most 599"):
        parse_problem({"status": 1000})
