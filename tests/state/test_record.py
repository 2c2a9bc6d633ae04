"""The stored document of a channel: exact round trips, strict parsing, schema upgrades."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from mppcli.errors import MalformedError
from mppcli.state.codec import parse_record
from mppcli.state.record import SCHEMA_VERSION, ChannelStatus, PendingTopUp, SignerKind, VoucherSigner
from mppcli.state.schema import NewerSchemaError, upgrade_document
from tests.state.factory import make_record, voucher_text

FIXTURES = Path(__file__).parent / "fixtures"


def test_round_trip_keeps_every_field_and_amounts_are_decimal_strings() -> None:
    record = make_record(deposit=2**64 - 1, signed_cumulative=2**53 + 1, accepted_cumulative=2**53,
                         authentication={"type": "proof", "challengeId": "c", "payer": "p",
                                         "signature": "s"},
                         status=ChannelStatus.PENDING_FINALIZE)
    record = replace(record, last_signed_voucher=voucher_text(record.channel_id, 2**53 + 1))
    doc = json.loads(json.dumps(record.to_json()))
    assert doc["version"] == SCHEMA_VERSION
    assert doc["deposit"] == "18446744073709551615"
    assert doc["signedCumulative"] == "9007199254740993"
    assert doc["salt"] == str(2**63 + 7)
    assert doc["status"] == "pending-finalize"
    assert doc["splits"][0]["shareBps"] == 250
    assert parse_record(doc) == record


def test_voucher_text_is_kept_byte_identical() -> None:
    odd = '{ "voucher" : {"cumulativeAmount":"5","channelId":"x"},  "signature":"z" }'
    record = make_record(last_accepted_voucher=odd)
    again = parse_record(json.loads(json.dumps(record.to_json())))
    assert again.last_accepted_voucher == odd


@pytest.mark.parametrize(("key", "value", "message"), [
    ("deposit", 5, "deposit must be an unsigned decimal string"),
    ("deposit", "05", "deposit must be an unsigned decimal string"),
    ("deposit", "-1", "deposit must be an unsigned decimal string"),
    ("spent", "1.5", "spent must be an unsigned decimal string"),
    ("signedCumulative", str(2**64), "signedCumulative must be an integer in the u64 range"),
    ("status", "finalized", "status must be one of"),
    ("voucherSigner", "push", "voucherSigner must be one of"),
    ("openSlot", "12", "openSlot must be a non-negative integer"),
    ("openSlot", True, "openSlot must be a non-negative integer"),
    ("payer", "", "payer must be a non-empty string"),
    ("lastSignedVoucher", "{not json", "lastSignedVoucher must be the JSON text"),
    ("splits", [{"recipient": "x", "bps": 5}], "splits entries must be"),
])
def test_strict_parsing_names_the_bad_key(key: str, value: object, message: str) -> None:
    doc = make_record().to_json()
    doc[key] = value
    with pytest.raises(MalformedError, match=message):
        parse_record(doc)


def test_unknown_and_missing_keys_are_refused() -> None:
    doc = make_record().to_json()
    doc["extra"] = 1
    with pytest.raises(MalformedError, match="unknown keys in channel record: extra"):
        parse_record(doc)
    doc = make_record().to_json()
    del doc["mint"]
    with pytest.raises(MalformedError, match="missing keys in channel record: mint"):
        parse_record(doc)


def test_cumulative_follows_who_signs() -> None:
    client = make_record(signed_cumulative=700, accepted_cumulative=500)
    operator = make_record(voucher_signer=VoucherSigner.OPERATOR, signer_kind=SignerKind.OPERATOR,
                           accepted_cumulative=500)
    assert client.cumulative == 700
    assert operator.cumulative == 500


def test_v0_fixture_is_upgraded_to_the_current_layout() -> None:
    doc = json.loads((FIXTURES / "channel-v0.json").read_text())
    upgraded, stored = upgrade_document(doc)
    assert stored == 0
    record = parse_record(upgraded)
    assert record.channel_id == doc["channelId"]
    assert record.program_id == doc["program"]
    assert record.signed_cumulative == 120000 and record.accepted_cumulative == 110000
    assert record.spent == 110000 and record.settled == 0 and record.refunded == 0
    assert record.signer_kind is SignerKind.SESSION
    assert record.status is ChannelStatus.OPEN  # v0 called it "active"
    assert record.origin == "http://127.0.0.1:8402" and record.realm == "127.0.0.1"
    assert record.opening_challenge_id == doc["challengeId"]
    assert record.last_signed_voucher == doc["lastVoucher"]
    assert [(s.recipient, s.share_bps) for s in record.splits] == [
        (doc["splits"][0]["recipient"], doc["splits"][0]["bps"])]


def test_v1_fixture_is_upgraded_with_no_pending_top_up() -> None:
    doc = json.loads((FIXTURES / "channel-v1.json").read_text())
    assert "pendingTopUp" not in doc
    upgraded, stored = upgrade_document(doc)
    assert stored == 1 and upgraded["version"] == SCHEMA_VERSION == 2
    record = parse_record(upgraded)
    assert record.pending_top_up is None
    assert record.status is ChannelStatus.OPEN and record.deposit == int(doc["deposit"])
    assert record.signed_cumulative == 250000 and record.accepted_cumulative == 240000
    assert record.last_signed_voucher == doc["lastSignedVoucher"]
    assert {k: v for k, v in record.to_json().items() if k not in ("version", "pendingTopUp")} == {
        k: v for k, v in doc.items() if k != "version"}


def test_v0_fixture_goes_through_every_upgrader() -> None:
    upgraded, stored = upgrade_document(json.loads((FIXTURES / "channel-v0.json").read_text()))
    assert stored == 0 and upgraded["version"] == SCHEMA_VERSION
    assert parse_record(upgraded).pending_top_up is None


def test_a_pending_top_up_round_trips_exactly() -> None:
    pending = PendingTopUp(amount=2**64 - 1, deposit_before=1_000_000, transaction="AQID", created_at=12.5)
    record = make_record(pending_top_up=pending)
    doc = json.loads(json.dumps(record.to_json()))
    assert doc["pendingTopUp"] == {"amount": str(2**64 - 1), "depositBefore": "1000000",
                                   "transaction": "AQID", "createdAt": 12.5}
    assert parse_record(doc) == record


@pytest.mark.parametrize(("value", "message"), [
    ({"amount": "5", "depositBefore": "0", "transaction": "AQID"}, "pendingTopUp must be null or"),
    ({"amount": 5, "depositBefore": "0", "transaction": "AQID", "createdAt": 1},
     "pendingTopUp.amount must be an unsigned decimal string"),
    ({"amount": "0", "depositBefore": "0", "transaction": "AQID", "createdAt": 1},
     "pendingTopUp.amount must be positive"),
    ({"amount": "5", "depositBefore": "0", "transaction": "", "createdAt": 1},
     "pendingTopUp.transaction must be a non-empty string"),
    ("AQID", "pendingTopUp must be null or"),
])
def test_a_malformed_pending_top_up_is_refused(value: object, message: str) -> None:
    doc = make_record().to_json()
    doc["pendingTopUp"] = value
    with pytest.raises(MalformedError, match=message):
        parse_record(doc)


def test_a_record_from_a_newer_mpp_is_not_upgraded() -> None:
    doc = make_record().to_json()
    doc["version"] = SCHEMA_VERSION + 1
    with pytest.raises(NewerSchemaError, match="newer mpp"):
        upgrade_document(doc)
