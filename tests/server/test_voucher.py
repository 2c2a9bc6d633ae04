"""`voucher` (client-signed channels): the ten checks, debit processing, idempotency, hostile input."""

from __future__ import annotations

import base64
import json
import random
import time

import httpx
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from tests.server.payer import Payer, challenge_of, problem_of, receipt_of

PRICE = 10_000  # the default --price 0.01 with 6 decimals


def test_a_voucher_for_the_price_buys_the_resource(opened: Payer) -> None:
    response = opened.pay(PRICE)
    receipt = receipt_of(response)
    assert (receipt.accepted_cumulative, receipt.spent, receipt.reference) == (
        PRICE,
        PRICE,
        opened.channel_id,
    )
    body = response.json()
    assert body["resource"] == "/paid" and body["spent"] == str(PRICE)
    assert receipt_of(opened.pay(2 * PRICE)).spent == 2 * PRICE


def test_a_voucher_for_an_unknown_channel_is_refused(payer: Payer) -> None:
    channel = str(Pubkey.new_unique())
    challenge, _ = payer.challenge()
    signed = payer.voucher(PRICE, channel_id=channel)
    problem = problem_of(payer.send(payer.voucher_payload(signed), challenge))
    assert problem.name == "verification-failed" and "not known" in problem.detail


def test_payload_and_signed_voucher_must_name_the_same_channel(opened: Payer) -> None:
    challenge, _ = opened.challenge()
    payload = opened.voucher_payload(opened.voucher(PRICE))
    payload["channelId"] = str(Pubkey.new_unique())
    problem = problem_of(opened.send(payload, challenge))
    assert problem.name == "malformed-credential" and "channelId" in problem.detail


def test_a_voucher_signed_by_another_key_is_refused(opened: Payer) -> None:
    challenge, _ = opened.challenge()
    forged = opened.voucher(PRICE, signer=Keypair())
    problem = problem_of(opened.send(opened.voucher_payload(forged), challenge))
    assert problem.name == "verification-failed" and "authorized signer" in problem.detail


def test_a_bad_signature_is_refused(opened: Payer) -> None:
    challenge, _ = opened.challenge()
    good = opened.voucher(PRICE)
    other = opened.voucher(PRICE + 1)  # a real signature, over another message
    payload = opened.voucher_payload(good)
    payload["voucher"]["signature"] = other.signature
    problem = problem_of(opened.send(payload, challenge))
    assert problem.name == "verification-failed" and "signature" in problem.detail


def test_vouchers_must_increase(opened: Payer) -> None:
    assert opened.pay(PRICE).status_code == 200
    for cumulative in (PRICE, PRICE - 1):
        problem = problem_of(opened.pay(cumulative))
        assert problem.name == "verification-failed" and "does not exceed" in problem.detail


def test_spec_choice_exact_voucher_replay_without_idempotency_key_is_rejected(opened: Payer) -> None:
    """The reference answers an exact replay with 200 and serves again; the spec allows a replay only
    through the idempotency cache, so without a key it is refused and nothing is debited."""
    challenge, _ = opened.challenge()
    payload = opened.voucher_payload(opened.voucher(PRICE))
    assert opened.send(payload, challenge).status_code == 200
    problem = problem_of(opened.send(payload, challenge))
    assert problem.name == "verification-failed"
    assert receipt_of(opened.pay(2 * PRICE)).spent == 2 * PRICE


def test_spec_choice_voucher_increment_must_equal_the_cost(opened: Payer) -> None:
    """The reference accepts any increment and debits the price; the spec says the increment must
    correspond to the cost charged, so over- and under-paying vouchers are refused."""
    for cumulative in (PRICE * 2, PRICE - 1):
        problem = problem_of(opened.pay(cumulative))
        assert problem.name == "verification-failed" and "costs 10000" in problem.detail
    assert receipt_of(opened.pay(PRICE)).spent == PRICE


def test_a_voucher_above_the_deposit_is_refused(payer: Payer) -> None:
    assert payer.open(100_000).status_code == 200
    spent = 0
    for _ in range(10):
        spent += PRICE
        assert payer.pay(spent).status_code == 200
    problem = problem_of(payer.pay(spent + PRICE))
    assert problem.name == "verification-failed" and "exceeds the channel deposit" in problem.detail


def test_an_expired_voucher_is_refused(opened: Payer) -> None:
    challenge, _ = opened.challenge()
    stale = opened.voucher(PRICE, expires_at=int(time.time()) - 3600)
    problem = problem_of(opened.send(opened.voucher_payload(stale), challenge))
    assert problem.name == "verification-failed" and "expired" in problem.detail


def test_a_voucher_without_expiry_is_accepted(opened: Payer) -> None:
    challenge, _ = opened.challenge()
    forever = opened.voucher(PRICE, expires_at=None)
    assert receipt_of(opened.send(opened.voucher_payload(forever), challenge)).spent == PRICE


def test_json_numbers_and_u64_overflow_in_vouchers_are_malformed(opened: Payer) -> None:
    challenge, _ = opened.challenge()
    for bad in (PRICE, str(2**64), "-1", " 10000", "1e4"):
        payload = opened.voucher_payload(opened.voucher(PRICE))
        payload["voucher"]["voucher"]["cumulativeAmount"] = bad
        problem = problem_of(opened.send(payload, challenge))
        assert problem.name == "malformed-credential" and "cumulativeAmount" in problem.detail, (bad, problem)


def test_a_challenge_issued_for_another_route_cannot_pay_this_one(opened: Payer) -> None:
    stream_challenge, _ = opened.challenge("/stream")
    problem = problem_of(opened.pay(PRICE, challenge=stream_challenge))
    assert problem.name == "invalid-challenge" and "/stream" in problem.detail


def test_idempotency_key_replays_the_response_without_a_second_debit(opened: Payer) -> None:
    challenge, _ = opened.challenge()
    payload = opened.voucher_payload(opened.voucher(PRICE))
    headers = {"Idempotency-Key": "req-1"}
    first = opened.send(payload, challenge, headers=headers)
    again = opened.send(payload, challenge, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    assert first.headers["payment-receipt"] == again.headers["payment-receipt"]
    assert receipt_of(opened.pay(2 * PRICE)).spent == 2 * PRICE


def test_resume_challenge_pays_like_any_other(opened: Payer) -> None:
    challenge, request = opened.challenge(headers={"X-Payment-Channel": str(opened.channel_id)})
    assert request.method_details.channel_id == opened.channel_id
    assert receipt_of(opened.pay(PRICE, challenge=challenge)).spent == PRICE


def test_failures_about_a_live_channel_offer_a_resume_challenge(opened: Payer) -> None:
    response = opened.pay(PRICE * 3)
    problem_of(response)
    _, request = challenge_of(response)
    assert request.method_details.channel_id == opened.channel_id


def test_head_pays_like_get_without_a_body(opened: Payer) -> None:
    response = opened.pay(PRICE, method="HEAD")
    assert receipt_of(response).spent == PRICE and response.content == b""


def test_hostile_16_kib_header_is_answered_with_a_malformed_credential(payer: Payer) -> None:
    hostile = [
        "Payment " + "A" * 16384,
        "Payment " + "=" * 16384,
        "Payment " + base64.urlsafe_b64encode(b'{"challenge":' * 1200).decode()[:16380],
        "Payment " + "\\" * 16384,
        "payment " + ("a,b=" * 4096),
        "Payment " + base64.urlsafe_b64encode(("[" * 12000).encode()).decode(),
    ]
    for header in hostile:
        response = payer.http.get(payer.server.url + "/paid", headers={"Authorization": header})
        assert response.status_code == 402, header[:20]
        assert problem_of(response).name == "malformed-credential"


def test_random_credentials_never_cause_a_server_error(opened: Payer) -> None:
    rng = random.Random(5)
    challenge, _ = opened.challenge()
    valid = opened.voucher_payload(opened.voucher(PRICE))
    echo = challenge.to_json()
    for _ in range(60):
        payload = json.loads(json.dumps(valid))
        target = rng.choice([payload, payload["voucher"], payload["voucher"]["voucher"], echo.copy()])
        key = rng.choice([*target, "extra"])
        target[key] = rng.choice([None, 0, -1, 2**70, "", "x" * 50, [], {}, True, 1.5, "🙂"])
        token = (
            base64.urlsafe_b64encode(
                json.dumps({"challenge": echo if target is not echo else target, "payload": payload}).encode()
            )
            .decode()
            .rstrip("=")
        )
        response = opened.http.get(opened.server.url + "/paid", headers={"Authorization": "Payment " + token})
        assert response.status_code in (200, 402), (key, response.text)
    for _ in range(40):
        junk = bytes(rng.randrange(33, 127) for _ in range(rng.randrange(1, 400))).decode()
        response = opened.http.get(opened.server.url + "/paid", headers={"Authorization": junk})
        assert response.status_code == 402


def test_a_missing_idempotency_key_value_is_malformed(opened: Payer) -> None:
    response = opened.pay(PRICE, headers={"Idempotency-Key": "k" * 300})
    assert problem_of(response).name == "malformed-credential"


def test_no_credential_is_payment_required(payer: Payer) -> None:
    response = httpx.get(payer.server.url + "/paid")
    problem = problem_of(response)
    assert problem.name == "payment-required" and problem.code == "payment_invalid"
