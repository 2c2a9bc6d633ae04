"""The five credential actions: round trips, strict decoding, per-voucherSigner rules, vectors."""

from __future__ import annotations

from typing import Any

import pytest
from solders.keypair import Keypair

from mppcli.errors import MalformedError
from mppcli.protocol.actions import (
    CloseAction,
    OpenAction,
    TopUpAction,
    UseAction,
    VoucherAction,
    parse_action,
)
from mppcli.protocol.bearer import sign_bearer
from mppcli.protocol.encoding import canonical_json
from mppcli.protocol.voucher import Voucher, sign_voucher
from tests.protocol import kat
from tests.protocol.kat import open_payload
from tests.support import load_vectors

KEY = Keypair.from_seed(kat.RFC8032_SEED)
SIGNED = sign_voucher(KEY, Voucher(kat.CHANNEL, 650, 4_102_444_800)).to_json()
PROOF = sign_bearer(KEY, kat.CHANNEL, kat.BEARER_CHALLENGE_ID).to_json()


def test_open_round_trip_with_every_optional_field() -> None:
    source = open_payload(
        payer=kat.SIGNER,
        idleTimeoutSeconds=600,
        authentication=PROOF,
        distributionSplits=[{"recipient": kat.PAYER, "shareBps": 250}],
        authorizationPolicy={"kind": "x"},
        capabilities={"y": 1},
    )
    action = parse_action(source)
    assert isinstance(action, OpenAction)
    assert (action.salt, action.deposit_amount, action.open_slot) == (7777, 5000, 250_000_000)
    assert action.to_json() == source
    assert parse_action(source, "operator") == action


def test_voucher_use_topup_close_round_trip() -> None:
    cases = [
        ({"action": "voucher", "channelId": kat.CHANNEL, "voucher": SIGNED}, VoucherAction),
        ({"action": "use", "channelId": kat.CHANNEL, "authentication": PROOF}, UseAction),
        (
            {
                "action": "topUp",
                "channelId": kat.CHANNEL,
                "additionalAmount": "5000",
                "transaction": "AQIDBA==",
            },
            TopUpAction,
        ),
        ({"action": "close", "channelId": kat.CHANNEL, "voucher": SIGNED}, CloseAction),
        ({"action": "close", "channelId": kat.CHANNEL, "authentication": PROOF}, CloseAction),
    ]
    for source, kind in cases:
        action = parse_action(source)
        assert isinstance(action, kind)
        assert action.to_json() == source


BAD = [
    ({"channelId": kat.CHANNEL}, "action is required"),
    ({"action": "commit", "deliveryId": "d", "voucher": SIGNED}, "commit action belongs to the superseded"),
    ({"action": "multiDelegate"}, "unknown action 'multiDelegate'"),
    ({"action": "Open"}, "unknown action 'Open'"),
    (open_payload(bump=254), "bump is not allowed: the channel bump is derived on chain"),
    (open_payload(voucher=SIGNED), "voucher is not allowed: open carries no initial voucher"),
    (
        open_payload(recentSlot="250000000", openSlot=None),
        "recentSlot is not allowed: that is the superseded",
    ),
    (open_payload(mode="push"), "mode is not allowed: push/pull"),
    (open_payload(openSlot=None), "openSlot is required"),
    (open_payload(salt=7777), r"salt must be an unsigned decimal string \(a JSON number\)"),
    (open_payload(depositAmount="0"), "depositAmount must be greater than zero"),
    (open_payload(depositAmount=5000), "depositAmount must be an unsigned decimal string"),
    (open_payload(gracePeriodSeconds=0), "gracePeriodSeconds must be at least 1"),
    (open_payload(gracePeriodSeconds="900"), "gracePeriodSeconds must be a JSON integer"),
    (open_payload(idleTimeoutSeconds="600"), "idleTimeoutSeconds must be a JSON integer"),
    (open_payload(payee="x"), "payee must be a base58 public key of 32 bytes"),
    (open_payload(mint=None), "mint is required"),
    (open_payload(transaction="AQI"), "transaction is not padded standard base64"),
    (open_payload(transaction="-_-_"), "transaction is not standard base64"),
    (open_payload(authentication=PROOF), "authentication.payer must equal the open payload's payer"),
    (open_payload(authentication={**PROOF, "type": "bearer"}), "authentication.type must be 'proof'"),
    (open_payload(authentication={**PROOF, "signature": "abc"}), "authentication.signature must be a base58"),
    (open_payload(distributionSplits=[{"recipient": kat.PAYER, "shareBps": 10001}]), "at most 10000"),
    ({"action": "voucher", "channelId": kat.CHANNEL}, "voucher is required"),
    ({"action": "voucher", "channelId": kat.PAYER, "voucher": SIGNED}, "must equal the payload's channelId"),
    (
        {"action": "voucher", "channelId": kat.CHANNEL, "voucher": {**SIGNED, "signatureType": "secp256r1"}},
        "voucher.signatureType must be 'ed25519'",
    ),
    ({"action": "use", "channelId": kat.CHANNEL}, "authentication is required"),
    (
        {"action": "topUp", "channelId": kat.CHANNEL, "additionalAmount": "0", "transaction": "AQID"},
        "additionalAmount must be greater than zero",
    ),
    ({"action": "topUp", "channelId": kat.CHANNEL, "additionalAmount": "5"}, "transaction is required"),
    ({"action": "close", "channelId": kat.CHANNEL}, "close carries exactly one of voucher"),
    (
        {"action": "close", "channelId": kat.CHANNEL, "voucher": SIGNED, "authentication": PROOF},
        "close carries exactly one of voucher",
    ),
    ({"action": "close", "channelId": kat.PAYER, "voucher": SIGNED}, "must equal the payload's channelId"),
    ("open", "payload must be a JSON object"),
]


@pytest.mark.parametrize(("payload", "why"), BAD)
def test_strict_decoding_rejects_naming_the_field(payload: object, why: str) -> None:
    with pytest.raises(MalformedError, match=why):
        parse_action(payload)


MODE_RULES = [
    (open_payload(), "operator", "open requires authentication for an operator-signed channel"),
    (
        open_payload(payer=kat.SIGNER, authentication=PROOF),
        "client",
        "open must not carry authentication for a client-signed channel",
    ),
    (
        {"action": "voucher", "channelId": kat.CHANNEL, "voucher": SIGNED},
        "operator",
        "voucher action is only valid for a client-signed channel",
    ),
    (
        {"action": "use", "channelId": kat.CHANNEL, "authentication": PROOF},
        "client",
        "use action is only valid for an operator-signed channel",
    ),
    (
        {"action": "close", "channelId": kat.CHANNEL, "voucher": SIGNED},
        "operator",
        "close requires authentication",
    ),
    (
        {"action": "close", "channelId": kat.CHANNEL, "authentication": PROOF},
        "client",
        "close must not carry authentication",
    ),
]


@pytest.mark.parametrize(("payload", "mode", "why"), MODE_RULES)
def test_authentication_rules_per_voucher_signer(payload: dict[str, Any], mode: str, why: str) -> None:
    other = "client" if mode == "operator" else "operator"
    assert parse_action(payload, other).action == payload["action"]
    with pytest.raises(MalformedError, match=why):
        parse_action(payload, mode)


def test_shared_action_vectors() -> None:
    vectors = load_vectors("session-wire.json")
    if vectors is None:
        pytest.skip("../shared/reference is absent")
    cases = [case for case in vectors if case["input"]["sessionWire"]["shape"] == "action"]
    assert len(cases) == 3
    for case in cases:
        value = case["input"]["sessionWire"]["value"]
        if case["expect"]["outcome"] == "accept":
            canonical = canonical_json(parse_action(value).to_json()).decode()
            assert canonical == case["expect"]["exactBytes"]["canonicalJson"], case["id"]
        else:
            with pytest.raises(MalformedError):
                parse_action(value)
