"""Credentials that reuse, splice or misbind someone else's proof (issue #10, server money items):
none of them is served, stored or settled, and the genuine payer is unaffected afterwards."""

from __future__ import annotations

from solders.keypair import Keypair

from mppcli.protocol.voucher import SignedVoucher, Voucher
from tests.server.payer import Payer, problem_of, receipt_of

PRICE = 10_000
DEPOSIT = 1_000_000


def _spliced(signed: SignedVoucher, cumulative: int) -> SignedVoucher:
    """Another amount under a genuine voucher's signer and signature."""
    voucher = Voucher(signed.voucher.channel_id, cumulative, signed.voucher.expires_at)
    return SignedVoucher(voucher, signed.signer, signed.signature)


def test_close_with_the_stored_signature_on_a_higher_amount_is_refused(opened: Payer) -> None:
    mint, recipient = opened.server.ready["mint"], opened.server.ready["recipient"]
    payee_before = opened.chain.token_balance(recipient, mint)
    for n in (1, 2, 3):
        assert opened.pay(n * PRICE).status_code == 200
    genuine = opened.last_voucher
    assert genuine is not None
    problem = problem_of(opened.close(signed=_spliced(genuine, 900_000)))
    assert problem.name == "verification-failed" and "signature" in problem.detail
    # Nothing was stored: the channel is still open at 3 x PRICE and the genuine close settles that.
    assert receipt_of(opened.pay(4 * PRICE)).accepted_cumulative == 4 * PRICE
    receipt = receipt_of(opened.close())
    assert receipt.spent == 4 * PRICE and receipt.refunded == DEPOSIT - 4 * PRICE
    assert opened.chain.token_balance(recipient, mint) - payee_before == 4 * PRICE


def test_close_with_the_stored_signature_on_another_expiry_is_refused(opened: Payer) -> None:
    assert opened.pay(PRICE).status_code == 200
    genuine = opened.last_voucher
    assert genuine is not None
    other = SignedVoucher(Voucher(genuine.voucher.channel_id, PRICE, 1), genuine.signer, genuine.signature)
    problem = problem_of(opened.close(signed=other))
    assert problem.name == "verification-failed"
    assert receipt_of(opened.close()).spent == PRICE


def test_close_with_a_strangers_valid_voucher_is_refused(opened: Payer) -> None:
    assert opened.pay(PRICE).status_code == 200
    stranger = opened.voucher(2 * PRICE, signer=Keypair())
    assert problem_of(opened.close(signed=stranger)).name == "verification-failed"
    assert receipt_of(opened.close()).spent == PRICE


def test_a_bad_signature_under_a_used_idempotency_key_is_not_served(opened: Payer) -> None:
    challenge, _ = opened.challenge()
    key = {"Idempotency-Key": "paid-once"}
    genuine = opened.voucher(PRICE)
    assert receipt_of(opened.send(opened.voucher_payload(genuine), challenge, headers=key)).spent == PRICE
    tampered = opened.voucher_payload(genuine)
    tampered["voucher"]["signature"] = opened.voucher(PRICE + 1).signature
    problem = problem_of(opened.send(tampered, challenge, headers=key))
    assert problem.name == "verification-failed" and "signature" in problem.detail


def test_a_strangers_voucher_under_a_used_idempotency_key_is_not_served(opened: Payer) -> None:
    challenge, _ = opened.challenge()
    key = {"Idempotency-Key": "paid-once"}
    assert receipt_of(opened.send(opened.voucher_payload(opened.voucher(PRICE)), challenge, headers=key))
    stranger = opened.voucher(PRICE, signer=Keypair())
    problem = problem_of(opened.send(opened.voucher_payload(stranger), challenge, headers=key))
    assert problem.name == "verification-failed" and "authorized signer" in problem.detail


def test_another_genuine_voucher_under_a_used_idempotency_key_is_refused_not_replayed(opened: Payer) -> None:
    challenge, _ = opened.challenge()
    key = {"Idempotency-Key": "paid-once"}
    first = opened.voucher(PRICE)
    assert receipt_of(opened.send(opened.voucher_payload(first), challenge, headers=key)).spent == PRICE
    second = opened.voucher(2 * PRICE)
    problem = problem_of(opened.send(opened.voucher_payload(second), challenge, headers=key))
    assert problem.name == "verification-failed" and "Idempotency-Key" in problem.detail
    # Nothing changed: the same voucher still replays, and the next voucher pays normally.
    replay = opened.send(opened.voucher_payload(first), challenge, headers=key)
    assert receipt_of(replay).spent == PRICE
    assert receipt_of(opened.pay(2 * PRICE)).spent == 2 * PRICE


def test_another_channels_voucher_under_a_used_idempotency_key_is_refused(opened: Payer) -> None:
    other = Payer(opened.server)
    assert other.open().status_code == 200
    challenge, _ = opened.challenge()
    key = {"Idempotency-Key": "shared"}
    assert receipt_of(opened.send(opened.voucher_payload(opened.voucher(PRICE)), challenge, headers=key))
    problem = problem_of(other.send(other.voucher_payload(other.voucher(PRICE)), challenge, headers=key))
    assert problem.name == "verification-failed" and "Idempotency-Key" in problem.detail


def test_a_resume_challenge_for_another_channel_is_refused(opened: Payer) -> None:
    other = Payer(opened.server)
    assert other.open().status_code == 200
    for_other, request = opened.challenge(headers={"X-Payment-Channel": str(other.channel_id)})
    assert request.method_details.channel_id == other.channel_id
    problem = problem_of(opened.pay(PRICE, challenge=for_other))
    assert problem.name == "invalid-challenge" and str(other.channel_id) in problem.detail
    close = {"action": "close", "channelId": opened.channel_id, "voucher": opened.voucher(PRICE).to_json()}
    assert problem_of(opened.send(close, for_other)).name == "invalid-challenge"
    topup = opened.topup_payload(10_000, True, request)
    assert problem_of(opened.send(topup, for_other)).name == "invalid-challenge"
    assert opened.chain.channel(str(opened.channel_id)).deposit == DEPOSIT
    # The right resume challenge still pays.
    mine, _ = opened.challenge(headers={"X-Payment-Channel": str(opened.channel_id)})
    assert receipt_of(opened.pay(PRICE, challenge=mine)).spent == PRICE
