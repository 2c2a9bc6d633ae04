"""Payment-Receipt, and the reference's metered-stream messages (SSE frames, side-channel bodies)."""

from __future__ import annotations

from typing import Any

import pytest
from solders.keypair import Keypair

from mppcli.errors import MalformedError
from mppcli.protocol.encoding import b64url_encode, canonical_json
from mppcli.protocol.metering import (
    CommitReceipt,
    CommitRequest,
    DeliveryRequest,
    MeteringDirective,
    MeteringUsage,
    PaymentRequired,
    classify_event,
    data_frame,
    data_value,
    default_delivery_id,
    done_frame,
    format_sse,
    metering_frame,
    parse_commit_receipt,
    parse_commit_request,
    parse_delivery_request,
    parse_directive,
    parse_payment_required,
    parse_side_channel_error,
    parse_usage,
    side_channel_error,
    usage_frame,
)
from mppcli.protocol.receipt import SessionReceipt, format_receipt, parse_receipt
from mppcli.protocol.voucher import Voucher, sign_voucher
from tests.protocol import kat
from tests.support import load_vectors

SESSION_RECEIPT = {
    "challengeId": "ch_1",
    "intent": "session",
    "method": "solana",
    "reference": kat.CHANNEL,
    "status": "success",
    "timestamp": "2026-11-27T17:06:01.693Z",
    "acceptedCumulative": "650",
    "spent": "200",
    "idleTimeoutSeconds": 600,
    "externalId": "ord-1",
}


def receipt_header(obj: dict[str, Any]) -> str:
    return b64url_encode(canonical_json(obj))


def test_session_receipt_round_trip() -> None:
    receipt = parse_receipt(receipt_header(SESSION_RECEIPT))
    assert (receipt.accepted_cumulative, receipt.spent, receipt.idle_timeout_seconds) == (650, 200, 600)
    assert receipt.reference == kat.CHANNEL and receipt.tx_hash is None
    assert format_receipt(receipt) == receipt_header(SESSION_RECEIPT)
    closing = {**SESSION_RECEIPT, "txHash": "5" * 88, "refunded": "999350"}
    assert parse_receipt(receipt_header(closing)).refunded == 999_350


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"acceptedCumulative": None}, "receipt.acceptedCumulative is required"),
        ({"spent": None}, "receipt.spent is required"),
        ({"idleTimeoutSeconds": None}, "receipt.idleTimeoutSeconds is required"),
        ({"spent": 200}, "receipt.spent must be an unsigned decimal string"),
        ({"acceptedCumulative": "-1"}, "receipt.acceptedCumulative must be an unsigned decimal string"),
        ({"idleTimeoutSeconds": "600"}, "receipt.idleTimeoutSeconds must be a JSON integer"),
        ({"refunded": "1.5"}, "receipt.refunded must be an unsigned decimal string"),
        ({"status": "failed"}, "receipt.status must be 'success'"),
        ({"timestamp": "2026-02-30T00:00:00Z"}, "receipt.timestamp is not a real date"),
        ({"method": None}, "receipt.method is required"),
    ],
)
def test_session_receipt_rejections(change: dict[str, Any], why: str) -> None:
    body = {**SESSION_RECEIPT, **change}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(MalformedError, match=why):
        parse_receipt(receipt_header(body))


def test_a_receipt_of_another_intent_needs_only_the_core_fields() -> None:
    receipt = SessionReceipt(method="tempo", reference="0xabc", timestamp="2026-01-29T12:00:30Z")
    assert parse_receipt(format_receipt(receipt)) == receipt
    with pytest.raises(MalformedError, match="longer than 16384"):
        parse_receipt("A" * 16385)


def test_shared_receipt_vectors() -> None:
    vectors = load_vectors("receipt.json")
    if vectors is None:
        pytest.skip("../shared/reference is absent")
    for scenario in vectors["scenarios"]:
        tests = scenario["tests"]
        if tests.get("parse") is True:
            receipt = parse_receipt(scenario["wire"])
            assert receipt.to_json() == scenario["object"], scenario["name"]
            if tests.get("format"):
                assert format_receipt(receipt) == scenario["wire"]
        else:
            with pytest.raises(MalformedError):
                parse_receipt(scenario["wire"])


DIRECTIVE = {
    "deliveryId": f"{kat.CHANNEL}:1",
    "sessionId": kat.CHANNEL,
    "amount": "10",
    "currency": kat.MINT,
    "sequence": 1,
    "expiresAt": 4102444800,
    "commitUrl": "http://127.0.0.1/__402/session/commit",
}


def test_directive_and_usage_round_trip() -> None:
    directive = parse_directive(DIRECTIVE)
    assert directive == MeteringDirective(
        f"{kat.CHANNEL}:1", kat.CHANNEL, 10, kat.MINT, 1, 4102444800, "http://127.0.0.1/__402/session/commit"
    )
    assert directive.to_json() == DIRECTIVE
    assert parse_usage({"deliveryId": "d", "amount": "0"}) == MeteringUsage("d", 0)
    assert default_delivery_id(kat.CHANNEL, 1) == DIRECTIVE["deliveryId"]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"amount": 10}, "metering.amount must be an unsigned decimal string"),
        ({"amount": "0"}, "metering.amount must be greater than zero"),
        ({"sequence": "1"}, "metering.sequence must be a JSON integer"),
        ({"expiresAt": None}, "metering.expiresAt must not be null"),
        ({"sessionId": "s"}, "metering.sessionId must be a base58 public key"),
        ({"commitUrl": 5}, "metering.commitUrl must be a string"),
    ],
)
def test_directive_rejections(change: dict[str, Any], why: str) -> None:
    with pytest.raises(MalformedError, match=why):
        parse_directive({**DIRECTIVE, **change})


def test_sse_frames_as_the_reference_writes_them() -> None:
    directive = parse_directive(DIRECTIVE)
    assert metering_frame(directive) == f"event: mpp.metering\ndata: {canonical_json(DIRECTIVE).decode()}\n\n"
    assert usage_frame(MeteringUsage("d", 7)) == 'event: mpp.usage\ndata: {"amount":"7","deliveryId":"d"}\n\n'
    assert data_frame({"text": "hi"}) == 'data: {"text":"hi"}\n\n'
    assert done_frame() == "data: [DONE]\n\n"
    assert done_frame(as_event=True) == "event: done\ndata: [DONE]\n\n"
    assert format_sse("a\nb", "x") == "event: x\ndata: a\ndata: b\n\n"
    for data, event in (("", None), ("a\rb", None), ("a", "x\ny")):
        with pytest.raises(MalformedError):
            format_sse(data, event)


def test_classify_events() -> None:
    data = canonical_json(DIRECTIVE).decode()
    for name in ("mpp.metering", "metering"):
        assert classify_event(name, data).directive == parse_directive(DIRECTIVE)
    assert classify_event("usage", '{"deliveryId":"d","amount":"3"}').usage == MeteringUsage("d", 3)
    assert classify_event(None, " [DONE] ").kind == "done"
    assert classify_event("done", "[DONE]").kind == "done"
    message = classify_event("message", '{"t":1}')
    assert (message.kind, data_value(message.data)) == ("message", {"t": 1})
    named = classify_event("ping", "anything")  # a named event with data is data, JSON or not
    assert (named.kind, named.event, data_value(named.data)) == ("message", "ping", "anything")
    assert data_value(classify_event(None, "plain text").data) == "plain text"
    for name, text in (("ping", ""), (None, ""), ("mpp.payment-required", "{}"), ("mpp.future", "x")):
        other = classify_event(name, text)  # no data, or the protocol's own: never billed
        assert (other.kind, other.event, other.data) == ("other", name, text)
    with pytest.raises(MalformedError, match=r"mpp\.metering\.amount"):
        classify_event("mpp.metering", canonical_json({**DIRECTIVE, "amount": 1}).decode())


def test_side_channel_bodies() -> None:
    reserve = {"sessionId": kat.CHANNEL, "amount": "10", "deliveryId": "d1", "expiresAt": 4102444800}
    assert parse_delivery_request(reserve).to_json() == reserve
    assert parse_delivery_request(
        {"sessionId": kat.CHANNEL, "amount": "10", "deliveryId": "", "expiresAt": 0}
    ) == DeliveryRequest(kat.CHANNEL, 10)
    for bad, why in (
        ({"sessionId": kat.CHANNEL, "amount": 10}, "amount must be an unsigned decimal"),
        ({"sessionId": kat.CHANNEL, "amount": "0"}, "amount must be greater than zero"),
        ({"amount": "1"}, "sessionId is required"),
        ({"sessionId": kat.CHANNEL, "amount": "1", "expiresAt": "soon"}, "expiresAt must be a JSON"),
    ):
        with pytest.raises(MalformedError, match=why):
            parse_delivery_request(bad)
    signed = sign_voucher(Keypair.from_seed(kat.RFC8032_SEED), Voucher(kat.CHANNEL, 10, 4102444800))
    commit = {"deliveryId": "d1", "voucher": signed.to_json()}
    assert parse_commit_request(commit) == CommitRequest("d1", signed)
    assert parse_commit_request(commit).to_json() == commit
    with pytest.raises(MalformedError, match="voucher is required"):
        parse_commit_request({"deliveryId": "d1"})
    answer = {
        "deliveryId": "d1",
        "sessionId": kat.CHANNEL,
        "amount": "10",
        "cumulative": "660",
        "status": "replayed",
    }
    assert parse_commit_receipt(answer) == CommitReceipt("d1", kat.CHANNEL, 10, 660, "replayed")
    assert parse_commit_receipt(answer).to_json() == answer
    with pytest.raises(MalformedError, match="committed or replayed"):
        parse_commit_receipt({**answer, "status": "ok"})
    assert parse_side_channel_error(side_channel_error("POST required")) == "POST required"


def test_a_pause_round_trips_through_its_wire_form() -> None:
    """`mpp serve` writes `mpp.payment-required` with `PaymentRequired.to_json`; the payer parses it."""
    pause = PaymentRequired(kat.CHANNEL, "insufficient-deposit", 1_000, 50_000, 40_000, 49_500, 200, 512_000)
    assert parse_payment_required(pause.to_json()) == pause
    bare = PaymentRequired(kat.CHANNEL, "awaiting-commit", 1_000, 50_000, 40_000, 40_000)
    assert parse_payment_required(bare.to_json()) == bare and "creditWindow" not in bare.to_json()
    assert pause.headroom() == 50_000 - 49_500 - 200
