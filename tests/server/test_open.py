"""`open` through real HTTP against `mpp serve` and its embedded ledger: the happy path and every
rejection of the spec's Open settlement procedure that a client can cause."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from solders.pubkey import Pubkey

from mppcli.chain.channel import ChannelStatus
from mppcli.protocol.auth import Challenge, new_challenge
from mppcli.protocol.encoding import b64url_encode, canonical_json
from mppcli.protocol.session import SessionRequest
from tests.server.harness import ServerProcess
from tests.server.payer import Payer, problem_of, receipt_of

DEPOSIT = 1_000_000


def secret_of(server: ServerProcess) -> bytes:
    return (server.home / "state" / "server" / "secret").read_bytes().strip()


def test_open_creates_the_channel_on_chain_and_answers_a_receipt(payer: Payer) -> None:
    response = payer.open(DEPOSIT)
    receipt = receipt_of(response)
    assert (receipt.reference, receipt.accepted_cumulative, receipt.spent) == (payer.channel_id, 0, 0)
    assert receipt.idle_timeout_seconds == 600  # the server's pick among the offered options
    assert receipt.challenge_id == payer.opened_with.id  # type: ignore[union-attr]
    body = response.json()
    assert body["action"] == "open" and body["deposit"] == str(DEPOSIT) and body["status"] == "open"
    account = payer.chain.channel(str(payer.channel_id))
    assert account.status is ChannelStatus.OPEN and account.deposit == DEPOSIT
    assert str(account.rent_payer) == payer.server.ready["operator"]  # the operator funded the rent
    assert payer.chain.token_balance(payer.pubkey, payer.server.ready["mint"]) == payer.funds - DEPOSIT


def test_an_offered_idle_timeout_is_honoured(payer: Payer) -> None:
    assert receipt_of(payer.open(DEPOSIT, idle=30)).idle_timeout_seconds == 30


def test_an_idle_timeout_outside_the_spec_range_is_verification_failed(payer: Payer) -> None:
    """Spec (idle timeout): 1..2592000 s; a value outside is a failed verification, not malformed."""
    for idle in (0, -5, 2_592_001):
        problem = problem_of(payer.open(DEPOSIT, idle=idle))
        assert problem.name == "verification-failed" and "2592000" in problem.detail, (idle, problem)
    assert payer.chain.token_balance(payer.pubkey, payer.server.ready["mint"]) == payer.funds
    malformed = problem_of(payer.open(DEPOSIT, mutate=lambda p: p.update(idleTimeoutSeconds="600")))
    assert malformed.name == "malformed-credential"


def test_spec_choice_unoffered_idle_timeout_is_verification_failed_before_broadcast(payer: Payer) -> None:
    problem = problem_of(payer.open(DEPOSIT, idle=45))
    assert problem.name == "verification-failed"
    assert "not one of the advertised options" in problem.detail and "30, 600, 86400" in problem.detail
    assert payer.chain.token_balance(payer.pubkey, payer.server.ready["mint"]) == payer.funds


def test_spec_choice_bump_in_the_open_payload_is_a_malformed_credential(payer: Payer) -> None:
    problem = problem_of(payer.open(DEPOSIT, mutate=lambda p: p.update(bump=255)))
    assert problem.name == "malformed-credential" and "bump" in problem.detail


def test_json_numbers_where_strings_belong_are_malformed(payer: Payer) -> None:
    for field, value in (("depositAmount", DEPOSIT), ("salt", 7), ("openSlot", 1)):
        problem = problem_of(payer.open(DEPOSIT, mutate=lambda p, f=field, v=value: p.update({f: v})))
        assert problem.name == "malformed-credential" and field in problem.detail, problem


def test_out_of_range_u64_is_malformed(payer: Payer) -> None:
    problem = problem_of(payer.open(DEPOSIT, mutate=lambda p: p.update(depositAmount=str(2**64))))
    assert problem.name == "malformed-credential" and "depositAmount" in problem.detail


def test_a_deposit_below_the_minimum_is_refused(payer: Payer) -> None:
    problem = problem_of(payer.open(99_999))
    assert problem.name == "verification-failed" and "minimumDeposit" in problem.detail


def test_payload_and_transaction_must_agree(payer: Payer) -> None:
    challenge, request = payer.challenge()
    payload = payer.open_payload(challenge, request, DEPOSIT)
    other = payer.open_payload(challenge, request, DEPOSIT + 1, salt=int(payload["salt"]))
    payload["transaction"] = other["transaction"]  # a different deposit inside the transaction
    problem = problem_of(payer.send(payload, challenge))
    assert problem.name == "verification-failed" and "deposit" in problem.detail


def test_a_transaction_on_another_blockhash_is_refused(payer: Payer) -> None:
    challenge, request = payer.challenge()
    stale = "11111111111111111111111111111111"
    problem = problem_of(
        payer.send(payer.open_payload(challenge, request, DEPOSIT, blockhash=stale), challenge)
    )
    assert problem.name == "verification-failed" and "blockhash" in problem.detail


def test_a_transaction_paying_another_payee_is_refused(payer: Payer) -> None:
    challenge, request = payer.challenge()
    params = dataclasses.replace(payer.open_params(request, DEPOSIT, 5), payee=Pubkey.new_unique())
    payload = payer.open_payload(challenge, request, DEPOSIT, salt=5, tx_params=params)
    problem = problem_of(payer.send(payload, challenge))
    assert problem.name == "verification-failed"


def test_a_declared_channel_id_that_is_not_the_pda_is_refused(payer: Payer) -> None:
    problem = problem_of(payer.open(DEPOSIT, mutate=lambda p: p.update(channelId=str(Pubkey.new_unique()))))
    assert problem.name == "verification-failed" and "channel" in problem.detail.lower()


def test_a_grace_period_other_than_the_challenge_is_refused(payer: Payer) -> None:
    problem = problem_of(payer.open(DEPOSIT, mutate=lambda p: p.update(gracePeriodSeconds=60)))
    assert problem.name == "verification-failed" and "gracePeriodSeconds" in problem.detail


def test_authentication_in_client_mode_is_malformed(payer: Payer) -> None:
    auth = {"type": "proof", "challengeId": "x", "payer": payer.pubkey, "signature": "1" * 64}
    problem = problem_of(payer.open(DEPOSIT, mutate=lambda p: p.update(authentication=auth)))
    assert problem.name == "malformed-credential" and "authentication" in problem.detail


def test_an_open_slot_after_the_challenged_slot_is_refused(payer: Payer) -> None:
    challenge, request = payer.challenge()
    later = dataclasses.replace(
        request.method_details, recent_slot=int(request.method_details.recent_slot or 0)
    )
    params = payer.open_params(
        dataclasses.replace(request, method_details=later),
        DEPOSIT,
        9,
        open_slot=int(later.recent_slot or 0) + 5,
    )
    payload = payer.open_payload(challenge, request, DEPOSIT, salt=9, tx_params=params)
    payload["openSlot"] = str(params.open_slot)
    payload["channelId"] = str(params.channel)
    problem = problem_of(payer.send(payload, challenge))
    assert problem.name == "verification-failed" and "openSlot" in problem.detail


def test_a_tampered_challenge_is_an_invalid_challenge(payer: Payer) -> None:
    challenge, request = payer.challenge()
    payload = payer.open_payload(challenge, request, DEPOSIT)
    cheaper = json.loads(json.dumps(challenge.decoded_request()))
    cheaper["minimumDeposit"] = "1"
    forged = dataclasses.replace(challenge, request=b64url_encode(canonical_json(cheaper)))
    problem = problem_of(payer.send(payload, forged))
    assert problem.name == "invalid-challenge" and problem.code == "challenge_verification_failed"


def _signed_challenge(
    server: ServerProcess, original: Challenge, request: dict[str, Any], expires: str
) -> Challenge:
    return new_challenge(
        secret_of(server),
        realm=original.realm,
        method=original.method,
        intent=original.intent,
        request=request,
        expires=expires,
        description=original.description,
        opaque={"route": "/paid"},
    )


def test_an_expired_challenge_is_an_invalid_challenge(payer: Payer) -> None:
    challenge, request = payer.challenge()
    expired = _signed_challenge(
        payer.server, challenge, challenge.decoded_request(), "2020-01-01T00:00:00.000Z"
    )
    problem = problem_of(payer.send(payer.open_payload(expired, request, DEPOSIT), expired))
    assert problem.name == "invalid-challenge" and problem.code == "challenge_expired"
    assert payer.chain.token_balance(payer.pubkey, payer.server.ready["mint"]) == payer.funds


def test_a_challenge_for_another_mint_is_refused(payer: Payer) -> None:
    challenge, request = payer.challenge()
    other = dict(challenge.decoded_request(), currency=str(Pubkey.new_unique()))
    forged = _signed_challenge(payer.server, challenge, other, str(challenge.expires))
    problem = problem_of(payer.send(payer.open_payload(challenge, request, DEPOSIT), forged))
    assert problem.name == "invalid-challenge" and "currency" in problem.detail


def test_one_challenge_opens_one_channel(payer: Payer) -> None:
    challenge, request = payer.challenge()
    first = payer.open_payload(challenge, request, DEPOSIT)
    assert payer.send(first, challenge).status_code == 200
    again = payer.send(first, challenge)  # the same credential again: idempotent
    assert receipt_of(again).reference == first["channelId"]
    second = payer.open_payload(challenge, request, DEPOSIT)  # another channel, same challenge
    problem = problem_of(payer.send(second, challenge))
    assert problem.name == "invalid-challenge" and "already opened" in problem.detail
    assert payer.chain.account_data(second["channelId"]) is None


def test_open_needs_a_new_channel_challenge(opened: Payer) -> None:
    challenge, request = opened.challenge(headers={"X-Payment-Channel": str(opened.channel_id)})
    assert request.method_details.channel_id == opened.channel_id
    fresh_challenge, fresh_request = opened.challenge()
    payload = opened.open_payload(fresh_challenge, fresh_request, DEPOSIT)
    problem = problem_of(opened.send(payload, challenge))
    assert problem.name == "verification-failed" and "new-channel challenge" in problem.detail


def test_spec_choice_resume_challenge_carries_channel_and_idle_timeout_only(opened: Payer) -> None:
    _, request = opened.challenge(headers={"X-Payment-Channel": str(opened.channel_id)})
    d = request.method_details
    assert (d.channel_id, d.idle_timeout_seconds) == (opened.channel_id, 600)
    assert d.recent_blockhash is None and d.recent_slot is None and d.idle_timeout_options_seconds is None
    _, unknown = opened.challenge(headers={"X-Payment-Channel": str(Pubkey.new_unique())})
    assert unknown.method_details.channel_id is None and unknown.method_details.recent_blockhash


def test_spec_choice_token_program_and_all_fields_come_from_the_server_configuration(payer: Payer) -> None:
    challenge, request = payer.challenge()
    assert isinstance(request, SessionRequest)
    d = request.method_details
    ready = payer.server.ready
    assert (request.currency, request.recipient, request.amount, request.unit_type) == (
        ready["mint"],
        ready["recipient"],
        10_000,
        "request",
    )
    assert (d.network, d.fee_payer, d.fee_payer_key, d.voucher_signer) == (
        "localnet",
        True,
        ready["operator"],
        "client",
    )
    assert d.token_program == "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA" and d.decimals == 6
    assert d.grace_period_seconds == 900 and d.idle_timeout_options_seconds == (30, 600, 86400)
    assert request.minimum_deposit == 100_000 and request.suggested_deposit == 1_000_000
    assert challenge.expires and challenge.opaque
