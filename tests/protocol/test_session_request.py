"""The session request: every field rule of draft-solana-session-00, and the shared wire vectors."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mppcli.errors import MalformedError
from mppcli.protocol.encoding import canonical_json
from mppcli.protocol.session import SplitEntry, parse_session_request
from tests.protocol import kat
from tests.protocol.kat import new_channel_request
from tests.support import load_vectors


def test_a_full_new_channel_request_round_trips() -> None:
    source = new_channel_request(
        feePayer=True,
        feePayerKey=kat.OTHER,
        operator=kat.OTHER,
        minVoucherDelta="10",
        ttlSeconds=3600,
        distributionSplits=[{"recipient": kat.PAYER, "shareBps": 250}],
    )
    source.update(description="metered inference", externalId="ord-1", unitType="request")
    request = parse_session_request(source)
    assert (
        request.amount == 100 and request.minimum_deposit == 1000 and request.suggested_deposit == 1_000_000
    )
    details = request.method_details
    assert details.recent_slot == 250_000_000 and details.min_voucher_delta == 10
    assert details.splits == (SplitEntry(kat.PAYER, 250),)
    assert details.effective_voucher_signer == "client" and not details.is_resume
    assert request.mint == kat.MINT
    assert request.to_json() == source
    assert parse_session_request(request.to_json()) == request


def test_defaults_and_unknown_fields() -> None:
    source = new_channel_request(voucherSigner=None, futureField={"x": 1})
    source["alsoUnknown"] = 1
    request = parse_session_request(source)
    assert request.method_details.voucher_signer is None
    assert request.method_details.effective_voucher_signer == "client"
    normalized = request.to_json()
    assert "voucherSigner" not in normalized["methodDetails"]
    assert "futureField" not in normalized["methodDetails"] and "alsoUnknown" not in normalized


def test_a_resume_request() -> None:
    source = new_channel_request(
        channelId=kat.CHANNEL,
        recentBlockhash=None,
        recentSlot=None,
        idleTimeoutOptionsSeconds=None,
        gracePeriodSeconds=None,
        idleTimeoutSeconds=600,
    )
    request = parse_session_request(source)
    assert request.method_details.is_resume and request.method_details.idle_timeout_seconds == 600
    assert request.to_json() == source


def test_operator_mode() -> None:
    request = parse_session_request(new_channel_request(voucherSigner="operator", operator=kat.OTHER))
    assert request.method_details.effective_voucher_signer == "operator"


def test_currency_symbol_is_parsed_but_is_not_a_mint() -> None:
    """Decision: the shared vectors carry `currency: "USDC"`; we parse it, but `.mint` is None, so a
    client that needs a mint address refuses to open rather than guess."""
    source = new_channel_request(decimals=None)
    source["currency"] = "USDC"
    request = parse_session_request(source)
    assert request.currency == "USDC" and request.mint is None


def without(source: dict[str, Any], *path: str) -> dict[str, Any]:
    copy_ = copy.deepcopy(source)
    target = copy_
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return copy_


def with_top(**changes: object) -> dict[str, Any]:
    source = new_channel_request()
    source.update(changes)
    return source


BAD_REQUESTS = [
    (without(new_channel_request(), "amount"), "amount is required"),
    (with_top(amount=100), r"amount must be an unsigned decimal string \(a JSON number\)"),
    (with_top(amount="0"), "amount must be greater than zero"),
    (with_top(amount="01"), "amount must not have a leading zero"),
    (without(new_channel_request(), "currency"), "currency is required"),
    (with_top(currency=""), "currency must not be empty"),
    (without(new_channel_request(), "recipient"), "recipient is required"),
    (with_top(recipient="acct_123"), "recipient contains '_'"),
    (with_top(suggestedDeposit=5), "suggestedDeposit must be an unsigned decimal string"),
    (with_top(minimumDeposit="-1"), "minimumDeposit must be an unsigned decimal string"),
    (with_top(description=None), "description must not be null"),
    (without(new_channel_request(), "methodDetails"), "methodDetails is required"),
    (with_top(methodDetails=[]), "methodDetails must be a JSON object"),
    (new_channel_request(network=None), "methodDetails.network is required"),
    (
        new_channel_request(network="mainnet-beta"),
        "methodDetails.network must be one of mainnet, devnet, localnet",
    ),
    (new_channel_request(channelProgram=None), "methodDetails.channelProgram is required"),
    (new_channel_request(channelProgram="not base58!"), "methodDetails.channelProgram contains"),
    (new_channel_request(decimals=None), "methodDetails.decimals is required when currency is a mint"),
    (new_channel_request(decimals=10), "methodDetails.decimals must be at most 9"),
    (new_channel_request(decimals=-1), "methodDetails.decimals must be at least 0"),
    (new_channel_request(decimals=6.0), "methodDetails.decimals must be a JSON integer"),
    (new_channel_request(decimals=True), "methodDetails.decimals must be a JSON integer"),
    (
        new_channel_request(recentBlockhash=None),
        "methodDetails.recentBlockhash is required for a new channel",
    ),
    (new_channel_request(recentBlockhash="abc"), "methodDetails.recentBlockhash must be a base58 hash of 32"),
    (new_channel_request(recentSlot=None), "methodDetails.recentSlot is required for a new channel"),
    (
        new_channel_request(recentSlot=250000000),
        "methodDetails.recentSlot must be an unsigned decimal string",
    ),
    (new_channel_request(gracePeriodSeconds=None), "methodDetails.gracePeriodSeconds is required for a new"),
    (new_channel_request(gracePeriodSeconds=0), "methodDetails.gracePeriodSeconds must be at least 1"),
    (new_channel_request(gracePeriodSeconds=2**32), "methodDetails.gracePeriodSeconds must be at most"),
    (
        new_channel_request(gracePeriodSeconds="900"),
        "methodDetails.gracePeriodSeconds must be a JSON integer",
    ),
    (new_channel_request(idleTimeoutSeconds=600), "idleTimeoutSeconds must be absent from a new-channel"),
    (
        new_channel_request(channelId=kat.CHANNEL, idleTimeoutSeconds=600),
        "methodDetails.recentBlockhash must be absent when methodDetails.channelId resumes",
    ),
    (
        new_channel_request(channelId=kat.CHANNEL, recentBlockhash=None, recentSlot=None),
        "methodDetails.idleTimeoutOptionsSeconds must be absent",
    ),
    (
        new_channel_request(
            channelId=kat.CHANNEL, recentBlockhash=None, recentSlot=None, idleTimeoutOptionsSeconds=None
        ),
        "methodDetails.idleTimeoutSeconds is required",
    ),
    (
        new_channel_request(
            channelId=kat.CHANNEL,
            recentBlockhash=None,
            recentSlot=None,
            idleTimeoutOptionsSeconds=None,
            idleTimeoutSeconds=2592001,
        ),
        "methodDetails.idleTimeoutSeconds must be at most 2592000",
    ),
    (new_channel_request(idleTimeoutOptionsSeconds=[]), "idleTimeoutOptionsSeconds must not be empty"),
    (
        new_channel_request(idleTimeoutOptionsSeconds=[600, 30]),
        r"must be strictly increasing \(30 follows 600\)",
    ),
    (new_channel_request(idleTimeoutOptionsSeconds=[30, 30]), "must be strictly increasing"),
    (
        new_channel_request(idleTimeoutOptionsSeconds=[0, 30]),
        r"idleTimeoutOptionsSeconds\[0\] must be at least 1",
    ),
    (new_channel_request(idleTimeoutOptionsSeconds=[30, 2592001]), r"\[1\] must be at most 2592000"),
    (new_channel_request(idleTimeoutOptionsSeconds=[30, "600"]), r"\[1\] must be a JSON integer"),
    (new_channel_request(idleTimeoutOptionsSeconds=30), "idleTimeoutOptionsSeconds must be a JSON array"),
    (new_channel_request(tokenProgram=kat.SYSTEM), "tokenProgram must be the SPL Token or the Token-2022"),
    (new_channel_request(feePayer=True), "methodDetails.feePayerKey is required when methodDetails.feePayer"),
    (new_channel_request(feePayer="true"), "methodDetails.feePayer must be true or false"),
    (
        new_channel_request(voucherSigner="payer"),
        "methodDetails.voucherSigner must be 'client' or 'operator'",
    ),
    (new_channel_request(voucherSigner="operator"), "methodDetails.operator is required when voucherSigner"),
    (new_channel_request(minVoucherDelta=10), "methodDetails.minVoucherDelta must be an unsigned decimal"),
    (new_channel_request(ttlSeconds=-1), "methodDetails.ttlSeconds must be at least 0"),
    (new_channel_request(version=2), "methodDetails.version must be at most 1"),
    (
        new_channel_request(distributionSplits=[{"recipient": kat.PAYER, "shareBps": 0}]),
        r"distributionSplits\[0\].shareBps must be at least 1",
    ),
    (
        new_channel_request(distributionSplits=[{"recipient": kat.PAYER, "bps": 10}]),
        r"distributionSplits\[0\].shareBps is required",
    ),
    (
        new_channel_request(
            distributionSplits=[
                {"recipient": kat.PAYER, "shareBps": 6000},
                {"recipient": kat.OTHER, "shareBps": 4001},
            ]
        ),
        "shares add up to 10001 bps, above 10000",
    ),
    (
        new_channel_request(
            distributionSplits=[
                {"recipient": kat.PAYER, "shareBps": 1},
                {"recipient": kat.PAYER, "shareBps": 1},
            ]
        ),
        "names the same recipient twice",
    ),
    (
        new_channel_request(distributionSplits=[{"recipient": "1" * 32 + "2", "shareBps": 1}]),
        r"distributionSplits\[0\].recipient must be a base58 public key",
    ),
    (new_channel_request(distributionSplits={"a": 1}), "distributionSplits must be a JSON array"),
    (with_top(cap="5000"), "cap is not allowed: it belongs to the superseded session draft"),
    (with_top(programId=kat.PROGRAM), "programId is not allowed"),
    (with_top(modes=["push", "pull"]), "modes is not allowed: push/pull funding modes"),
    (with_top(pullVoucherStrategy="clientVoucher"), "pullVoucherStrategy is not allowed"),
    (new_channel_request(modes=["push"]), "methodDetails.modes is not allowed"),
    ([], "request must be a JSON object"),
]


@pytest.mark.parametrize(("source", "why"), BAD_REQUESTS)
def test_every_rule_rejects_naming_the_field(source: object, why: str) -> None:
    with pytest.raises(MalformedError, match=why):
        parse_session_request(source)


def test_thirty_two_splits_are_allowed_thirty_three_are_not() -> None:
    keys = [kat.SYSTEM[:-1] + c for c in "23456789ABCDEFGHJKLMNPQRSTUVWXYZabc"]
    splits = [{"recipient": key, "shareBps": 1} for key in keys]
    assert (
        len(parse_session_request(new_channel_request(distributionSplits=splits[:32])).method_details.splits)
        == 32
    )
    with pytest.raises(MalformedError, match="has 33 entries; at most 32"):
        parse_session_request(new_channel_request(distributionSplits=splits[:33]))


def _wire_vectors(shape: str) -> list[dict[str, Any]]:
    vectors = load_vectors("session-wire.json")
    if vectors is None:
        pytest.skip("../shared/reference is absent")
    return [case for case in vectors if case["input"]["sessionWire"]["shape"] == shape]


def test_shared_superseded_request_vector_is_rejected() -> None:
    rejected = [case for case in _wire_vectors("request") if case["expect"]["outcome"] == "reject"]
    assert rejected
    for case in rejected:
        with pytest.raises(MalformedError, match="superseded"):
            parse_session_request(case["input"]["sessionWire"]["value"])


def test_pre_head_vectors_are_rejected_where_spec_head_tightened_the_rules() -> None:
    """Decision: the two 'accept' request vectors predate mpp-specs PR #309 (operator mode needs
    `operator`; a resume challenge needs `idleTimeoutSeconds`). We follow the spec at HEAD and reject
    them, naming the missing field; with that field added they round-trip byte for byte. Interop is
    unaffected: the reference server always sends `operator` in operator mode and never resumes."""
    accepted = {
        case["id"]: case for case in _wire_vectors("request") if case["expect"]["outcome"] == "accept"
    }
    new_channel = accepted["session-wire-request-new-channel-frozen"]["input"]["sessionWire"]["value"]
    with pytest.raises(MalformedError, match=r"methodDetails\.operator is required"):
        parse_session_request(new_channel)
    fixed = copy.deepcopy(new_channel)
    fixed["methodDetails"]["operator"] = kat.OTHER
    assert canonical_json(parse_session_request(fixed).to_json()) == canonical_json(fixed)

    resume = accepted["session-wire-request-resume-frozen"]["input"]["sessionWire"]["value"]
    with pytest.raises(MalformedError, match="idleTimeoutSeconds is required"):
        parse_session_request(resume)
    fixed = copy.deepcopy(resume)
    fixed["methodDetails"]["idleTimeoutSeconds"] = 300
    assert canonical_json(parse_session_request(fixed).to_json()) == canonical_json(fixed)
