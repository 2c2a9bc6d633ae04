"""Channel funding transactions cross the boundary both ways: ours ↔ solana-pay-kit 0.10.0.

An open built by `mppcli.chain.transactions` passes the reference server's open pipeline up to
its broadcast; one the reference client builds passes `mppcli.chain.verify`; the same for topUp
(payer-paid, fully signed: the only form the reference server takes). Both sides reject the same
tampered payloads, so an "accepted" here is not a verifier that accepts everything.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.interop import ours
from tests.interop.refkit_runner import RefKit
from tests.interop.samples import new_blockhash, new_pubkey, new_secret, pubkey_of, session_request

pytestmark = [pytest.mark.reference]

RECENT_SLOT = 350_000
FEE_MODES = pytest.mark.parametrize("fee_payer", [True, False], ids=["sponsored", "payer-pays"])


def _request(fee_payer: bool = True, splits: bool = False) -> dict[str, Any]:
    split_list = [{"recipient": new_pubkey(), "shareBps": 250}] if splits else None
    return session_request(new_pubkey(), new_pubkey(), recent_blockhash=new_blockhash(),
                           recent_slot=RECENT_SLOT, fee_payer=fee_payer, splits=split_list)


def _ref_verify(refkit: RefKit, request: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return refkit.ok("open_tx.py", {"op": "verify", "request": request, "payload": payload})


@FEE_MODES
@pytest.mark.parametrize("splits", [False, True], ids=["no-splits", "splits"])
def test_an_open_built_by_our_chain_passes_the_reference_verification(refkit: RefKit, fee_payer: bool,
                                                                      splits: bool) -> None:
    request = _request(fee_payer, splits)
    payload = ours.build_open(request, new_secret(), new_pubkey(), salt=random.getrandbits(64),
                              deposit=1_000_000)
    assert _ref_verify(refkit, request, payload) == {"ok": True, "accepted": True, "reason": None}


@FEE_MODES
@pytest.mark.parametrize("splits", [False, True], ids=["no-splits", "splits"])
def test_an_open_built_by_the_reference_passes_our_verification(refkit: RefKit, fee_payer: bool,
                                                                splits: bool) -> None:
    request, payer = _request(fee_payer, splits), new_secret()
    built = refkit.ok("open_tx.py", {"op": "build", "request": request, "payerSecret": payer})
    verified = ours.verify_open(request, built["payload"], current_slot=RECENT_SLOT + 10)
    assert str(verified.channel) == built["channelId"]
    assert str(verified.params.payer) == pubkey_of(payer)
    assert verified.sponsored is fee_payer


@FEE_MODES
def test_both_sides_build_the_same_open_bytes(refkit: RefKit, fee_payer: bool) -> None:
    request, payer, session_key = _request(fee_payer), new_secret(), new_secret()
    salt = random.getrandbits(64)
    theirs = refkit.ok("open_tx.py", {"op": "build", "request": request, "payerSecret": payer,
                                      "sessionSecret": session_key, "salt": str(salt)})
    mine = ours.build_open(request, payer, pubkey_of(session_key), salt=salt, deposit=1_000_000)
    assert mine["transaction"] == theirs["transaction"]
    assert mine == theirs["payload"]


TAMPERINGS = {
    "deposit": lambda p: {**p, "depositAmount": str(int(p["depositAmount"]) - 1)},
    "salt": lambda p: {**p, "salt": str(int(p["salt"]) ^ 1)},
    "open-slot": lambda p: {**p, "openSlot": str(int(p["openSlot"]) - 1)},
    "channel": lambda p: {**p, "channelId": new_pubkey()},
    "authorized-signer": lambda p: {**p, "authorizedSigner": new_pubkey()},
}


@pytest.mark.parametrize("tamper", sorted(TAMPERINGS))
def test_both_sides_reject_a_payload_that_disagrees_with_its_transaction(refkit: RefKit, tamper: str) -> None:
    from mppcli.chain.verify import OpenRejected

    request = _request()
    payload = TAMPERINGS[tamper](ours.build_open(request, new_secret(), new_pubkey(), salt=7, deposit=5000))
    assert _ref_verify(refkit, request, payload)["accepted"] is False
    with pytest.raises(OpenRejected):
        ours.verify_open(request, payload)


def test_both_sides_reject_an_open_for_another_blockhash(refkit: RefKit) -> None:
    from mppcli.chain.verify import OpenRejected

    request = _request()
    payload = ours.build_open(request, new_secret(), new_pubkey(), salt=9, deposit=5000)
    moved = {**request, "methodDetails": {**request["methodDetails"], "recentBlockhash": new_blockhash()}}
    assert "recentBlockhash" in _ref_verify(refkit, moved, payload)["reason"]
    with pytest.raises(OpenRejected, match="blockhash"):
        ours.verify_open(moved, payload)


def _opened(refkit: RefKit) -> tuple[dict[str, Any], str, dict[str, Any]]:
    request, payer = _request(), new_secret()
    built = refkit.ok("open_tx.py", {"op": "build", "request": request, "payerSecret": payer})
    return request, payer, built


def test_a_top_up_built_by_our_chain_passes_the_reference_verification(refkit: RefKit) -> None:
    request, payer, built = _opened(refkit)
    keys = ours.channel_keys(request, built["channelId"], pubkey_of(payer), built["authorizedSigner"])
    payload = ours.build_top_up(keys, payer, 2500, new_blockhash())
    channel = {"payer": pubkey_of(payer), "deposit": "1000000"}
    verdict = refkit.ok("open_tx.py", {"op": "verifyTopUp", "request": request, "payload": payload,
                                       "channel": channel})
    assert verdict == {"ok": True, "accepted": True, "reason": None}


def test_a_top_up_built_by_the_reference_passes_our_verification(refkit: RefKit) -> None:
    request, payer, built = _opened(refkit)
    top_up = refkit.ok("open_tx.py", {"op": "buildTopUp", "request": request, "payerSecret": payer,
                                      "channelId": built["channelId"], "amount": "2500",
                                      "recentBlockhash": new_blockhash()})
    keys = ours.channel_keys(request, built["channelId"], pubkey_of(payer), built["authorizedSigner"])
    verified = ours.verify_top_up(keys, top_up["payload"])
    assert verified.amount == 2500
    assert verified.sponsored is False


def test_both_sides_reject_a_top_up_of_another_amount(refkit: RefKit) -> None:
    from mppcli.chain.verify import TopUpRejected

    request, payer, built = _opened(refkit)
    keys = ours.channel_keys(request, built["channelId"], pubkey_of(payer), built["authorizedSigner"])
    payload = {**ours.build_top_up(keys, payer, 2500, new_blockhash()), "additionalAmount": "2600"}
    verdict = refkit.ok("open_tx.py", {"op": "verifyTopUp", "request": request, "payload": payload,
                                       "channel": {"payer": pubkey_of(payer), "deposit": "1000000"}})
    assert verdict["accepted"] is False
    with pytest.raises(TopUpRejected):
        ours.verify_top_up(keys, payload)


def _conformance_open_verify(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Our conformance runner's `open.verify`, one process for all cases (`--lines`)."""
    import json
    import subprocess
    import sys

    lines = "".join(json.dumps({"mode": "open.verify", "input": case}) + "\n" for case in cases)
    proc = subprocess.run([sys.executable, "-m", "mppcli.conformance", "--lines"], input=lines,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_reference_opens_through_our_conformance_runner(refkit: RefKit) -> None:
    cases = []
    for request in (_request(True), _request(False)):
        built = refkit.ok("open_tx.py", {"op": "build", "request": request, "payerSecret": new_secret()})
        cases.append({"request": request, "payload": built["payload"], "currentSlot": str(RECENT_SLOT)})
    tampered = {**cases[0], "payload": {**cases[0]["payload"], "depositAmount": "1"}}
    answers = _conformance_open_verify([*cases, tampered])
    assert [a["ok"] and a["output"]["accepted"] for a in answers] == [True, True, False], answers
    assert "deposit" in answers[-1]["output"]["reason"].lower()


def _operator_open(refkit: RefKit) -> tuple[dict[str, Any], dict[str, Any]]:
    """An operator-signed challenge as the reference server issues it (one key: operator = fee payer)."""
    base = _request()
    request = {**base, "methodDetails": {**base["methodDetails"], "voucherSigner": "operator",
                                         "operator": base["recipient"]}}
    built = refkit.ok("open_tx.py", {"op": "build", "request": request, "payerSecret": new_secret(),
                                     "challengeId": "challenge-1"})
    assert built["authorizedSigner"] == base["recipient"]
    assert built["payload"]["authentication"]["challengeId"] == "challenge-1"
    return request, built["payload"]


def test_an_operator_signed_reference_open_passes_the_reference(refkit: RefKit) -> None:
    request, payload = _operator_open(refkit)
    for challenge_id, accepted in (("challenge-1", True), ("challenge-2", False)):
        verdict = refkit.ok("open_tx.py", {"op": "verify", "request": request, "payload": payload,
                                           "challengeId": challenge_id})
        assert verdict["accepted"] is accepted, verdict


def test_an_operator_signed_reference_open_passes_our_verification(refkit: RefKit) -> None:
    request, payload = _operator_open(refkit)
    answer = _conformance_open_verify([{"request": request, "payload": payload,
                                        "currentSlot": str(RECENT_SLOT)}])[0]
    assert answer["output"] == {"accepted": True}, answer
