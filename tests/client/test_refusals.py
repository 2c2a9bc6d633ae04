"""How the payer reads a refusal: amounts from problem members, never from the `detail` text."""

from __future__ import annotations

import json

import pytest

from mppcli.client.answer import Answer
from mppcli.client.credentials import idempotency_key
from mppcli.client.request import capacity_shortfall, is_refusal, problem_amount
from mppcli.protocol.voucher import Voucher


def _refusal(**members: object) -> Answer:
    body = {"type": "https://paymentauth.org/problems/verification-failed", "status": 402, **members}
    return Answer(402, {"content-type": ("application/problem+json",)}, json.dumps(body).encode())


def test_the_shortfall_comes_from_required_and_available() -> None:
    assert capacity_shortfall(_refusal(detail="no", required="700", available="200"), 700) == 500
    assert capacity_shortfall(_refusal(required="200", available="700"), 200) is None


@pytest.mark.parametrize("detail", ["exceeds the channel deposit; top up the channel",
                                    "insufficient funds, top-up please", "not available"])
def test_free_text_about_deposits_is_not_a_reason_to_top_up(detail: str) -> None:
    assert capacity_shortfall(_refusal(detail=detail), 100) is None


@pytest.mark.parametrize("message", ["exceeds-deposit: cumulative 30 exceeds deposit 20",
                                     "insufficient channel availability"])
def test_the_reference_servers_capacity_tags_are_understood(message: str) -> None:
    assert capacity_shortfall(_refusal(message=message), 30) == 1


@pytest.mark.parametrize("value", [30, "3e1", "²", "-1", "030", None])
def test_a_member_that_is_not_a_decimal_string_is_ignored(value: object) -> None:
    assert problem_amount(_refusal(acceptedCumulative=value), "acceptedCumulative") is None
    assert capacity_shortfall(_refusal(required=value, available="0"), 30) is None


def test_one_idempotency_key_per_credential() -> None:
    from solders.keypair import Keypair

    from mppcli.protocol.actions import VoucherAction
    from mppcli.protocol.voucher import sign_voucher

    one, other, channel = Keypair(), Keypair(), str(Keypair().pubkey())

    def key(signer: Keypair, cumulative: int) -> str:
        signed = sign_voucher(signer, Voucher(channel, cumulative, 4102444800))
        return idempotency_key(VoucherAction(channel, signed).to_json())

    assert key(one, 5) == key(one, 5)  # a re-send of the same voucher reuses its key
    assert key(one, 5) != key(one, 6)
    assert key(one, 5) != key(other, 5)


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"required": "1", "required": "2"}', b"\xff", b"[1]"])
def test_a_body_that_is_no_json_object_is_neither_a_refusal_nor_an_amount(body: bytes) -> None:
    """An upstream's body may be anything, nested 100,000 deep included: never a crash."""
    answer = Answer(500, body=body)
    assert not is_refusal(answer)
    assert problem_amount(answer, "required") is None
