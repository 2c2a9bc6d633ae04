"""`topUp` (both transaction forms, credited once) and cooperative `close` (settlement on chain,
balances exact, close twice refused)."""

from __future__ import annotations

from solders.keypair import Keypair

from mppcli.chain.channel import ChannelStatus
from tests.server.payer import Payer, problem_of, receipt_of

PRICE = 10_000
DEPOSIT = 1_000_000


def test_spec_choice_sponsored_top_up_is_co_signed_by_the_server(opened: Payer) -> None:
    response = opened.topup(250_000, sponsored=True)
    receipt_of(response)
    assert response.json()["deposit"] == str(DEPOSIT + 250_000)
    assert opened.chain.channel(str(opened.channel_id)).deposit == DEPOSIT + 250_000


def test_payer_paid_top_up_as_the_reference_client_sends_it(opened: Payer) -> None:
    response = opened.topup(100_000, sponsored=False)
    assert response.json()["deposit"] == str(DEPOSIT + 100_000)


def test_a_replayed_top_up_is_credited_once(opened: Payer) -> None:
    challenge, request = opened.challenge()
    payload = opened.topup_payload(50_000, True, request)
    first = opened.send(payload, challenge)
    again = opened.send(payload, challenge)
    assert first.json()["deposit"] == again.json()["deposit"] == str(DEPOSIT + 50_000)
    assert opened.chain.channel(str(opened.channel_id)).deposit == DEPOSIT + 50_000


def test_a_top_up_whose_transaction_adds_another_amount_is_refused(opened: Payer) -> None:
    challenge, request = opened.challenge()
    payload = opened.topup_payload(50_000, True, request, tx_amount=10)
    problem = problem_of(opened.send(payload, challenge))
    assert problem.name == "verification-failed" and "amount" in problem.detail
    assert opened.chain.channel(str(opened.channel_id)).deposit == DEPOSIT


def test_a_top_up_signed_by_someone_else_is_refused(opened: Payer) -> None:
    challenge, request = opened.challenge()
    stranger = Payer(opened.server, funds=200_000)
    stranger.channel_id = opened.channel_id
    stranger.signer = opened.signer
    payload = stranger.topup_payload(50_000, True, request)
    assert problem_of(opened.send(payload, challenge)).name == "verification-failed"


def test_top_up_of_an_unknown_channel_is_refused(payer: Payer) -> None:
    challenge, request = payer.challenge()
    payer.channel_id = str(Keypair().pubkey())
    problem = problem_of(payer.send(payer.topup_payload(10_000, True, request), challenge))
    assert problem.name == "verification-failed" and "not known" in problem.detail


def test_close_settles_the_accepted_voucher_and_refunds_the_rest(opened: Payer) -> None:
    mint, recipient = opened.server.ready["mint"], opened.server.ready["recipient"]
    payee_before = opened.chain.token_balance(recipient, mint)
    for n in (1, 2, 3):
        assert opened.pay(n * PRICE).status_code == 200
    response = opened.close()  # the last accepted voucher, byte-identical
    receipt = receipt_of(response)
    assert receipt.tx_hash and receipt.refunded == DEPOSIT - 3 * PRICE and receipt.spent == 3 * PRICE
    assert response.json()["status"] == "closed"
    assert opened.chain.token_balance(recipient, mint) - payee_before == 3 * PRICE
    assert opened.chain.token_balance(opened.pubkey, mint) == opened.funds - 3 * PRICE
    account = opened.chain.channel(str(opened.channel_id))
    assert account is None or account.status is ChannelStatus.DISTRIBUTED


def test_spec_choice_close_receipt_spent_is_the_settled_total(opened: Payer) -> None:
    assert opened.pay(PRICE).status_code == 200
    receipt = receipt_of(opened.close(cumulative=PRICE + 500))
    assert receipt.accepted_cumulative == PRICE + 500 and receipt.refunded == DEPOSIT - PRICE - 500
    assert receipt.spent == PRICE + 500  # spec: on close, `spent` is the total settled


def test_spec_choice_an_equal_re_signed_close_voucher_authenticates(opened: Payer) -> None:
    assert opened.pay(PRICE).status_code == 200
    resigned = opened.voucher(PRICE, expires_at=4_102_444_801)
    assert receipt_of(opened.close(signed=resigned)).refunded == DEPOSIT - PRICE


def test_a_lower_close_voucher_is_refused(opened: Payer) -> None:
    assert opened.pay(PRICE).status_code == 200
    assert opened.pay(2 * PRICE).status_code == 200
    problem = problem_of(opened.close(cumulative=PRICE))
    assert problem.name == "verification-failed" and "below the accepted" in problem.detail


def test_close_with_nothing_spent_refunds_everything(opened: Payer) -> None:
    receipt = receipt_of(opened.close(cumulative=0))
    assert receipt.refunded == DEPOSIT
    assert opened.chain.token_balance(opened.pubkey, opened.server.ready["mint"]) == opened.funds


def test_closing_twice_is_refused_and_the_channel_takes_no_more_vouchers(opened: Payer) -> None:
    assert opened.pay(PRICE).status_code == 200
    assert opened.close().status_code == 200
    problem = problem_of(opened.close())
    assert problem.name == "verification-failed" and "already closed" in problem.detail
    problem = problem_of(opened.pay(2 * PRICE))
    assert "closed" in problem.detail
    assert problem_of(opened.topup(10_000)).name == "verification-failed"


def test_a_close_voucher_signed_by_another_key_is_refused(opened: Payer) -> None:
    assert opened.pay(PRICE).status_code == 200
    forged = opened.voucher(PRICE * 2, signer=Keypair())
    problem = problem_of(opened.close(signed=forged))
    assert problem.name == "verification-failed"
    assert opened.chain.channel(str(opened.channel_id)).status is ChannelStatus.OPEN
