"""The metered SSE stream and the side channel, against `mpp serve` (client-signed channels)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from solders.keypair import Keypair

from tests.server.harness import ServerProcess
from tests.server.payer import Payer, problem_of
from tests.server.stream_client import consume
from tests.server.stream_client import reserve as _reserve

CHUNK = 1_000  # --chunk-price 0.001


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = ServerProcess.start(
        tmp_path_factory.mktemp("serve") / "home", "--ephemeral", "--stream-pause", "1.5"
    )
    yield running
    running.stop()


def test_a_stream_is_paid_chunk_by_chunk(opened: Payer) -> None:
    log = consume(opened, CHUNK, 6)
    assert log.status == 200 and log.done
    assert [d["chunk"] for d in log.data] == [1, 2, 3, 4, 5, 6]
    # spent first: chunks 2-6 fit the window, so they go out as one batch with one directive
    assert sum(d.amount for d in log.directives) == 5 * CHUNK
    assert all(d.session_id == opened.channel_id for d in log.directives)
    assert [c.status for c in log.commits] == ["committed"] * len(log.directives)
    assert log.commits[-1].cumulative == 6 * CHUNK
    assert log.usage and log.usage[-1].delivery_id == log.directives[-1].delivery_id
    assert log.usage[-1].amount == 0  # the commits caught up before the end
    assert log.receipt is not None and log.receipt["complete"] is True and log.receipt["delivered"] == 6
    assert log.receipt["spent"] == log.receipt["acceptedCumulative"] == str(6 * CHUNK)
    assert log.payment_required == []
    # the channel's watermark is exactly what was committed: the next request pays from there
    assert opened.pay(6 * CHUNK + 10_000).status_code == 200


def test_a_client_that_commits_once_per_response_gets_the_whole_stream(opened: Payer) -> None:
    log = consume(opened, CHUNK, 50, commit=False)
    assert [d["chunk"] for d in log.data] == list(range(1, 51))  # the default window: 512 chunks
    assert log.payment_required == []
    # spent is charged as chunks leave; the final usage names what no voucher covers yet
    assert log.receipt is not None and log.receipt["spent"] == str(50 * CHUNK)
    assert log.receipt["acceptedCumulative"] == str(CHUNK) and log.receipt["unvouched"] == str(49 * CHUNK)
    assert log.usage[-1].delivery_id == log.directives[-1].delivery_id and log.usage[-1].amount == 49 * CHUNK
    # one late commit for the last directive pays it all
    signed = opened.voucher(50 * CHUNK)
    body = {"deliveryId": log.directives[-1].delivery_id, "voucher": signed.to_json()}
    answer = httpx.post(opened.server.url + "/__402/session/commit", json=body)
    assert answer.status_code == 200 and answer.json()["status"] == "committed", answer.text
    assert answer.json()["amount"] == str(49 * CHUNK)
    replay = httpx.post(opened.server.url + "/__402/session/commit", json=body)
    assert replay.json()["status"] == "replayed" and replay.json()["cumulative"] == str(50 * CHUNK)
    # never beyond what was delivered
    beyond = opened.voucher(51 * CHUNK)
    over = httpx.post(opened.server.url + "/__402/session/commit",
                      json={"deliveryId": log.directives[-1].delivery_id, "voucher": beyond.to_json()})
    assert over.status_code == 400 and "exceeds what was delivered" in over.json()["error"]
    opened.last_voucher = signed


def test_without_commits_the_stream_pauses_at_the_window_then_ends(tmp_path_factory: pytest.TempPathFactory,
                                                                   ) -> None:
    running = ServerProcess.start(tmp_path_factory.mktemp("serve") / "home", "--ephemeral",
                                  "--stream-pause", "0.5", "--stream-credit", "3x")
    try:
        payer = Payer(running)
        assert payer.open(100_000).status_code == 200
        log = consume(payer, CHUNK, 10, commit=False)
        assert [d["chunk"] for d in log.data] == [1, 2, 3, 4]  # three chunks of credit beyond the paid one
        assert log.payment_required and log.payment_required[0]["reason"] == "awaiting-commit"
        assert log.payment_required[0]["creditWindow"] == str(3 * CHUNK)
        assert log.receipt is not None and log.receipt["complete"] is False
        assert log.receipt["reason"] == "awaiting-commit" and log.done
        assert log.receipt["spent"] == str(4 * CHUNK)  # durable before the chunks left
        # a request still pays its own price while the stream's chunks are unvouched
        assert payer.pay(CHUNK + 10_000).status_code == 200
    finally:
        running.stop()


def test_when_the_deposit_runs_out_the_stream_asks_for_a_top_up_and_continues(payer: Payer) -> None:
    assert payer.open(100_000).status_code == 200  # 100 chunks
    topped: list[str] = []

    def top_up(pause: dict[str, object]) -> None:
        assert pause["reason"] == "insufficient-deposit" and pause["amount"] == str(CHUNK)
        topped.append(payer.topup(5_000, path="/stream").json()["deposit"])

    log = consume(payer, CHUNK, 103, on_pause=top_up)
    assert topped == ["105000"] and len(log.data) == 103 and log.receipt["complete"] is True  # type: ignore[index]


def test_a_stream_never_serves_beyond_the_deposit(payer: Payer) -> None:
    assert payer.open(100_000).status_code == 200
    log = consume(payer, CHUNK, 150)
    assert len(log.data) == 100 and log.payment_required[-1]["reason"] == "insufficient-deposit"
    assert log.receipt is not None and log.receipt["acceptedCumulative"] == "100000"


def test_a_stream_needs_payment(payer: Payer) -> None:
    assert problem_of(httpx.get(payer.server.url + "/stream?chunks=3")).name == "payment-required"
    bad = httpx.get(payer.server.url + "/stream?chunks=zero")
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["type"] == "about:blank" and "chunks must be an integer" in bad.json()["detail"]
    assert bad.headers["www-authenticate"].startswith("Payment ")  # how to pay once the query is fixed


def test_side_channel_answers_as_the_reference_does(opened: Payer) -> None:
    url = opened.server.url
    wrong_method = httpx.get(url + "/__402/session/commit")
    assert (wrong_method.status_code, wrong_method.json()) == (405, {"error": "POST required"})
    numeric = httpx.post(
        url + "/__402/session/deliveries", json={"sessionId": opened.channel_id, "amount": 5}
    )
    assert (numeric.status_code, numeric.json()) == (400, {"error": "invalid request body"})
    unknown = httpx.post(
        url + "/__402/session/commit", json={"deliveryId": "nope", "voucher": opened.voucher(CHUNK).to_json()}
    )
    assert unknown.status_code == 400 and "not found" in unknown.json()["error"]
    reserved = _reserve(opened, CHUNK, "d-1")
    directive = reserved.json()
    assert reserved.status_code == 200 and directive["deliveryId"] == "d-1"
    too_much = opened.voucher(2 * CHUNK)
    over = httpx.post(
        url + "/__402/session/commit",
        json={"deliveryId": directive["deliveryId"], "voucher": too_much.to_json()},
    )
    assert over.status_code == 400 and "exceeds reserved amount" in over.json()["error"]
    good = opened.voucher(CHUNK)
    ok = httpx.post(
        url + "/__402/session/commit", json={"deliveryId": directive["deliveryId"], "voucher": good.to_json()}
    )
    assert ok.json() == {
        "deliveryId": directive["deliveryId"],
        "sessionId": opened.channel_id,
        "amount": str(CHUNK),
        "cumulative": str(CHUNK),
        "status": "committed",
    }
    garbage = httpx.post(url + "/__402/session/commit", content=b"\xff[not json")
    assert garbage.status_code == 400


def test_a_reservation_beyond_the_deposit_is_refused(payer: Payer) -> None:
    assert payer.open(100_000).status_code == 200
    answer = _reserve(payer, 100_001, "too-much")
    assert answer.status_code == 400 and "exceeds available deposit" in answer.json()["error"]


def test_a_stranger_cannot_reserve_a_payers_deposit(opened: Payer) -> None:
    """#10 item 4: no proof, a stranger's proof, or a far expiry reserve nothing."""
    url = opened.server.url + "/__402/session/deliveries"
    expires = int(time.time()) + 60
    anonymous = httpx.post(url, json={"sessionId": opened.channel_id, "amount": "990000",
                                      "deliveryId": "grab", "expiresAt": expires})
    assert anonymous.status_code == 400 and "proof" in anonymous.json()["error"]
    stranger = _reserve(opened, 990_000, "grab", key=Keypair())
    assert stranger.status_code == 400 and "not the voucher signer" in stranger.json()["error"]
    forever = _reserve(opened, 990_000, "grab", expires_at=int(time.time()) + 86_400)
    assert forever.status_code == 400 and "at most 300 seconds" in forever.json()["error"]
    # nothing was locked: the payer itself can still reserve nearly the whole deposit
    assert _reserve(opened, 990_000, "mine").status_code == 200
