"""The reference-kit drivers checked against each other (reference ↔ reference).

These show the drivers discriminate: what the reference signs or builds, the reference accepts,
and a single changed byte or field is rejected. The cross tests (ours ↔ reference) rely on that.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.interop.refkit_runner import RefKit
from tests.interop.samples import new_blockhash, new_pubkey, new_secret, pubkey_of, session_request

pytestmark = pytest.mark.reference


def _sign(refkit: RefKit, secret: str, channel: str, amount: str, **extra: Any) -> dict[str, Any]:
    answer = refkit.ok("voucher.py", {"op": "sign", "secretKey": secret, "channelId": channel,
                                      "cumulativeAmount": amount, **extra})
    signed: dict[str, Any] = answer["signedVoucher"]
    return signed


def test_reference_voucher_round_trip_and_tamper(refkit: RefKit) -> None:
    secret, channel = new_secret(), new_pubkey()
    signed = _sign(refkit, secret, channel, "650", expiresAt=4102444800)
    assert signed["signer"] == pubkey_of(secret)
    assert signed["voucher"] == {"channelId": channel, "cumulativeAmount": "650", "expiresAt": 4102444800}
    verdict = refkit.ok("voucher.py", {"op": "verify", "signedVoucher": signed})
    assert verdict["valid"] is True and verdict["reason"] is None
    tampered = {**signed, "voucher": {**signed["voucher"], "cumulativeAmount": "651"}}
    rejected = refkit.ok("voucher.py", {"op": "verify", "signedVoucher": tampered})
    assert rejected["valid"] is False
    assert "signature" in rejected["reason"]


def test_reference_voucher_channel_check_reports_the_servers_tag(refkit: RefKit) -> None:
    signed = _sign(refkit, new_secret(), new_pubkey(), "650")
    over = refkit.ok("voucher.py", {"op": "verify", "signedVoucher": signed, "channel": {"deposit": "600"}})
    assert over["valid"] is True
    assert over["channelCheck"]["status"] == "rejected"
    assert over["channelCheck"]["reason"] == "exceeds-deposit"


def _open_inputs(fee_payer: bool = True) -> tuple[dict[str, Any], str]:
    operator = new_pubkey()
    request = session_request(operator, new_pubkey(), recent_blockhash=new_blockhash(), recent_slot=5000,
                              fee_payer=fee_payer)
    return request, new_secret()


@pytest.mark.parametrize("fee_payer", [True, False], ids=["sponsored", "payer-pays"])
def test_reference_open_build_passes_reference_verify(refkit: RefKit, fee_payer: bool) -> None:
    request, payer = _open_inputs(fee_payer)
    built = refkit.ok("open_tx.py", {"op": "build", "request": request, "payerSecret": payer})
    assert built["payload"]["action"] == "open"
    assert built["payload"]["payer"] == pubkey_of(payer)
    verdict = refkit.ok("open_tx.py", {"op": "verify", "request": request, "payload": built["payload"]})
    assert verdict == {"ok": True, "accepted": True, "reason": None}


@pytest.mark.parametrize(("field", "value", "words"), [
    ("depositAmount", "999", "deposit"),
    ("salt", "7", "salt"),
    ("gracePeriodSeconds", 901, "grace"),
])
def test_reference_open_verify_rejects_a_changed_field(refkit: RefKit, field: str, value: Any,
                                                       words: str) -> None:
    request, payer = _open_inputs()
    built = refkit.ok("open_tx.py", {"op": "build", "request": request, "payerSecret": payer})
    payload = {**built["payload"], field: value}
    verdict = refkit.ok("open_tx.py", {"op": "verify", "request": request, "payload": payload})
    assert verdict["accepted"] is False
    assert words in verdict["reason"].lower()


def test_reference_open_verify_checks_the_current_slot_window(refkit: RefKit) -> None:
    request, payer = _open_inputs()
    built = refkit.ok("open_tx.py", {"op": "build", "request": request, "payerSecret": payer})
    verdict = refkit.ok("open_tx.py", {"op": "verify", "request": request, "payload": built["payload"],
                                       "currentSlot": 5000 + 1501})
    assert verdict["accepted"] is False
    assert "1500-slot" in verdict["reason"]


def test_reference_top_up_build_passes_reference_verify_and_binds_the_amount(refkit: RefKit) -> None:
    request, payer = _open_inputs()
    opened = refkit.ok("open_tx.py", {"op": "build", "request": request, "payerSecret": payer})
    top_up = refkit.ok("open_tx.py", {"op": "buildTopUp", "request": request, "payerSecret": payer,
                                      "channelId": opened["channelId"], "amount": "500",
                                      "recentBlockhash": new_blockhash()})
    channel = {"payer": pubkey_of(payer), "deposit": "1000000"}
    verdict = refkit.ok("open_tx.py", {"op": "verifyTopUp", "request": request,
                                       "payload": top_up["payload"], "channel": channel})
    assert verdict["accepted"] is True, verdict
    changed = {**top_up["payload"], "additionalAmount": "501"}
    rejected = refkit.ok("open_tx.py", {"op": "verifyTopUp", "request": request, "payload": changed,
                                        "channel": channel})
    assert rejected["accepted"] is False
    stranger = refkit.ok("open_tx.py", {"op": "verifyTopUp", "request": request, "payload": top_up["payload"],
                                        "channel": {**channel, "payer": new_pubkey()}})
    assert stranger["accepted"] is False
