"""Operator-signed channels (`--voucher-signer operator`): the bearer proof at open, `use` with
Idempotency-Key, the operator's own vouchers, metered streams and close by proof."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from httpx_sse import connect_sse
from solders.keypair import Keypair

from mppcli.protocol.auth import Credential, format_authorization
from mppcli.protocol.bearer import sign_bearer
from mppcli.protocol.receipt import parse_receipt
from tests.server.harness import ServerProcess
from tests.server.payer import Payer, challenge_of, problem_of, receipt_of

PRICE, CHUNK, DEPOSIT = 10_000, 1_000, 100_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = ServerProcess.start(
        tmp_path_factory.mktemp("serve") / "home",
        "--ephemeral",
        "--voucher-signer",
        "operator",
        "--stream-pause",
        "0.5",
    )
    yield running
    running.stop()


@pytest.fixture
def opened(payer: Payer) -> Payer:
    response = payer.open(DEPOSIT)
    assert response.status_code == 200, response.text
    return payer


def test_the_challenge_names_the_operator_as_voucher_signer(payer: Payer) -> None:
    _, request = payer.challenge()
    d = request.method_details
    assert d.voucher_signer == "operator" and d.operator and d.operator != d.fee_payer_key


def test_use_debits_the_price_and_the_operator_signs_the_voucher(opened: Payer) -> None:
    receipt = receipt_of(opened.use())
    assert (receipt.accepted_cumulative, receipt.spent) == (PRICE, PRICE)
    assert receipt_of(opened.use()).spent == 2 * PRICE


def test_use_with_the_same_idempotency_key_is_charged_once(opened: Payer) -> None:
    first = opened.use(headers={"Idempotency-Key": "use-1"})
    again = opened.use(headers={"Idempotency-Key": "use-1"})
    assert first.content == again.content and receipt_of(again).spent == PRICE
    assert receipt_of(opened.use(headers={"Idempotency-Key": "use-2"})).spent == 2 * PRICE


def test_another_proof_under_a_used_idempotency_key_is_not_served(opened: Payer) -> None:
    assert opened.opened_with is not None
    key = {"Idempotency-Key": "use-once"}
    assert receipt_of(opened.use(headers=key)).spent == PRICE
    stranger = sign_bearer(Keypair(), str(opened.channel_id), opened.opened_with.id).to_json()
    payload = {"action": "use", "channelId": opened.channel_id, "authentication": stranger}
    problem = problem_of(opened.send(payload, opened.opened_with, headers=key))
    assert problem.name == "verification-failed" and "authentication" in problem.detail


def test_use_with_another_proof_is_refused(opened: Payer) -> None:
    assert opened.opened_with is not None
    stranger = sign_bearer(Keypair(), str(opened.channel_id), opened.opened_with.id).to_json()
    payload = {"action": "use", "channelId": opened.channel_id, "authentication": stranger}
    problem = problem_of(opened.send(payload, opened.opened_with))
    assert problem.name == "verification-failed" and "authentication" in problem.detail


def test_spec_choice_use_must_echo_the_opening_challenge(opened: Payer) -> None:
    """The reference accepts `use` under any challenge it issued; the spec binds the proof to the
    session challenge, so echoing another one is refused."""
    other, _ = opened.challenge()
    assert opened.opened_with is not None
    auth = sign_bearer(opened.keypair, str(opened.channel_id), opened.opened_with.id).to_json()
    payload = {"action": "use", "channelId": opened.channel_id, "authentication": auth}
    problem = problem_of(opened.send(payload, other))
    assert "opened the channel" in problem.detail


def test_open_needs_a_valid_proof(payer: Payer) -> None:
    def wrong_proof(p: dict[str, object]) -> None:
        p["authentication"] = sign_bearer(payer.keypair, str(Keypair().pubkey()), "x").to_json()

    assert problem_of(payer.open(DEPOSIT, mutate=wrong_proof)).name == "verification-failed"
    assert (
        problem_of(payer.open(DEPOSIT, mutate=lambda p: p.pop("authentication"))).name
        == "malformed-credential"
    )


def test_a_voucher_action_on_an_operator_channel_is_malformed(opened: Payer) -> None:
    problem = problem_of(opened.pay(PRICE))
    assert problem.name == "malformed-credential" and "use" in problem.detail


def test_use_stops_at_the_deposit(opened: Payer) -> None:
    for n in range(1, 11):
        assert receipt_of(opened.use()).spent == n * PRICE
    problem = problem_of(opened.use())
    assert "top up" in problem.detail


def test_an_operator_stream_is_debited_chunk_by_chunk(opened: Payer) -> None:
    assert opened.opened_with is not None
    auth = sign_bearer(opened.keypair, str(opened.channel_id), opened.opened_with.id).to_json()
    header = format_authorization(
        Credential(
            opened.opened_with, {"action": "use", "channelId": opened.channel_id, "authentication": auth}
        )
    )
    frames: list[tuple[str, str]] = []
    with (
        httpx.Client(timeout=httpx.Timeout(60, read=None)) as http,
        connect_sse(
            http, "GET", opened.server.url + "/stream?chunks=4", headers={"Authorization": header}
        ) as source,
    ):
        assert source.response.status_code == 200
        assert parse_receipt(source.response.headers["payment-receipt"]).spent == CHUNK
        frames = [(sse.event, sse.data) for sse in source.iter_sse()]
    data = [json.loads(d) for e, d in frames if e == "message" and d != "[DONE]"]
    assert [d["chunk"] for d in data] == [1, 2, 3, 4]
    assert not any(e == "mpp.metering" for e, _ in frames)  # the operator signs; nothing to commit
    final = json.loads(next(d for e, d in frames if e == "mpp.receipt"))
    assert final["acceptedCumulative"] == final["spent"] == str(4 * CHUNK) and final["complete"]
    assert receipt_of(opened.use()).spent == 4 * CHUNK + PRICE


def test_close_by_proof_settles_the_operator_vouchers(opened: Payer) -> None:
    mint, recipient = opened.server.ready["mint"], opened.server.ready["recipient"]
    before = opened.chain.token_balance(recipient, mint)
    for _ in range(3):
        assert opened.use().status_code == 200
    receipt = receipt_of(opened.close())
    assert receipt.refunded == DEPOSIT - 3 * PRICE
    assert opened.chain.token_balance(recipient, mint) - before == 3 * PRICE


def test_spec_choice_use_echoes_the_opening_challenge_whatever_body_it_bound(payer: Payer) -> None:
    """Core spec: a challenge's `digest` binds the request body. The session spec makes `use` echo the
    challenge bound at open for every later request, so its digest bound the opening request only."""
    url = payer.server.url + "/paid"
    challenge, request = challenge_of(payer.http.post(url, content=b"first body"))
    assert challenge.digest is not None
    payload = payer.open_payload(challenge, request, DEPOSIT)
    auth = format_authorization(Credential(challenge, payload))
    receipt_of(payer.http.post(url, content=b"first body", headers={"Authorization": auth}))
    payer.channel_id, payer.opened_with = payload["channelId"], challenge
    proof = sign_bearer(payer.keypair, str(payer.channel_id), challenge.id).to_json()
    use = format_authorization(
        Credential(challenge, {"action": "use", "channelId": payer.channel_id, "authentication": proof})
    )
    assert (
        receipt_of(payer.http.post(url, content=b"second body", headers={"Authorization": use})).spent
        == PRICE
    )
