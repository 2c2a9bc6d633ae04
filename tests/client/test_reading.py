"""What the payer reads from a server: the 402's challenges, receipts, and the HTTP seam's rules."""

from __future__ import annotations

import pytest

from mppcli.client.answer import Answer
from mppcli.client.challenge import challenges_of, pick_session_offer
from mppcli.client.credentials import check_receipt, problem_text, receipt_of
from mppcli.client.http import RequestSpec, parse_header_option, redact, request_spec
from mppcli.errors import InputError, ProtocolViolation
from mppcli.protocol.auth import Challenge, format_www_authenticate
from mppcli.protocol.encoding import b64url_encode, canonical_json
from mppcli.protocol.receipt import SessionReceipt, format_receipt

PROGRAM = "CHNLxYvVA28MJP9PrFuDXccuoGXAx7jBacfLEkahyGsX"
MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
KEY = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"
BLOCKHASH = "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG"


def session_request(**over: object) -> dict[str, object]:
    details = {"network": "mainnet", "channelProgram": PROGRAM, "decimals": 6, "recentBlockhash": BLOCKHASH,
               "recentSlot": "100", "gracePeriodSeconds": 900}
    request: dict[str, object] = {"amount": "100", "currency": MINT, "recipient": KEY,
                                  "methodDetails": details}
    request.update(over)
    return request


def challenge(method: str = "solana", intent: str = "session", request: dict[str, object] | None = None,
              cid: str = "c1") -> Challenge:
    body = b64url_encode(canonical_json(request if request is not None else session_request()))
    return Challenge(cid, "realm", method, intent, body)


def answer_with(*challenges: Challenge) -> Answer:
    return Answer(402, {"www-authenticate": tuple(format_www_authenticate(c) for c in challenges)})


def test_the_solana_session_challenge_is_picked_among_others() -> None:
    answer = answer_with(challenge("tempo", "charge", {"amount": "1"}), challenge(cid="mine"))
    offer = pick_session_offer(challenges_of(answer))
    assert (offer.challenge.id, offer.price, offer.details.network) == ("mine", 100, "mainnet")


def test_no_session_challenge_lists_what_was_offered() -> None:
    answer = answer_with(challenge("tempo", "charge", {"amount": "1"}), challenge("solana", "charge", {}))
    with pytest.raises(ProtocolViolation, match=r"offered: tempo/charge, solana/charge"):
        pick_session_offer(challenges_of(answer))


def test_a_402_without_challenge_or_with_a_malformed_one_is_the_servers_fault() -> None:
    with pytest.raises(ProtocolViolation, match="without a WWW-Authenticate"):
        challenges_of(Answer(402, {}))
    with pytest.raises(ProtocolViolation, match="malformed"):
        challenges_of(Answer(402, {"www-authenticate": ('Payment id="x", realm="r"',)}))


def test_a_superseded_session_request_is_refused() -> None:
    answer = answer_with(challenge(request=session_request(cap="5000")))
    with pytest.raises(ProtocolViolation, match="cap"):
        pick_session_offer(challenges_of(answer))


def _receipt(**over: object) -> str:
    fields: dict[str, object] = dict(method="solana", reference="chan", timestamp="2026-01-01T00:00:00Z",
                                     intent="session", challenge_id="c1", accepted_cumulative=100, spent=100,
                                     idle_timeout_seconds=600)
    fields.update(over)
    return format_receipt(SessionReceipt(**fields))  # type: ignore[arg-type]


def test_receipts_are_checked_against_the_echoed_challenge() -> None:
    assert check_receipt(_receipt(), challenge()).accepted_cumulative == 100
    with pytest.raises(ProtocolViolation, match="replayed receipt"):
        check_receipt(_receipt(challenge_id="other"), challenge())
    with pytest.raises(ProtocolViolation, match="not solana/session"):
        check_receipt(_receipt(method="tempo"), challenge())
    with pytest.raises(ProtocolViolation, match="malformed"):
        check_receipt("not-base64url!", challenge())


def test_success_needs_a_receipt_and_a_refusal_has_none() -> None:
    with pytest.raises(ProtocolViolation, match="without a Payment-Receipt"):
        receipt_of(Answer(200), challenge())
    assert receipt_of(Answer(402, {"payment-receipt": (_receipt(),)}), challenge()) is None
    refusal = Answer(402, {}, b'{"type":"https://paymentauth.org/problems/verification-failed",'
                              b'"title":"x","status":402,"detail":"exceeds deposit"}')
    assert problem_text(refusal) == "exceeds deposit"
    reference_style = Answer(402, {}, b'{"code":"payment_invalid","message":"bad voucher"}')
    assert problem_text(reference_style) == "bad voucher"
    crashed = Answer(500, {}, b"boom", reason="Internal Server Error")
    assert problem_text(crashed) == "HTTP 500 Internal Server Error"


def test_credentials_never_reach_a_log() -> None:
    assert redact("Authorization", "Payment eyJzZWNyZXQiOiJ4In0") == "Payment <redacted>"
    assert redact("cookie", "session=abc") == "<redacted>"
    assert redact("Accept", "text/event-stream") == "text/event-stream"


def test_curl_like_request_options(tmp_path) -> None:  # type: ignore[no-untyped-def]
    body = tmp_path / "body.json"
    body.write_bytes(b'{"q":1}')
    spec = request_spec("http://h/x", None, ["X-A: 1"], f"@{body}")
    assert spec == RequestSpec("POST", "http://h/x", (("X-A", "1"),), b'{"q":1}')
    assert request_spec("http://h/x", "put", [], None).method == "PUT"
    assert request_spec("http://h/x", None, [], "@-", stdin=lambda: b"in").body == b"in"
    with pytest.raises(InputError):
        parse_header_option("no colon")
    with pytest.raises(InputError):
        request_spec("ftp://h/x", None, [], None)
    with pytest.raises(InputError, match="cannot read"):
        request_spec("http://h/x", None, [], f"@{tmp_path / 'missing'}")
