"""The 50-byte voucher, signed vouchers, and the bearer proof, against known answers."""

from __future__ import annotations

import struct

import pytest
from solders.keypair import Keypair
from solders.signature import Signature

from mppcli.errors import MalformedError
from mppcli.protocol.bearer import (
    Authentication,
    bearer_message,
    parse_authentication,
    sign_bearer,
    verify_bearer,
)
from mppcli.protocol.encoding import b64url_encode
from mppcli.protocol.voucher import (
    SignedVoucher,
    Voucher,
    parse_signed_voucher,
    parse_voucher_message,
    sign_voucher,
    verify_signed_voucher,
    voucher_message,
)
from tests.protocol import kat
from tests.support import load_vectors

KEY = Keypair.from_seed(kat.RFC8032_SEED)


def test_the_rfc8032_key_is_what_we_think() -> None:
    assert bytes(KEY.pubkey()).hex() == kat.RFC8032_PUBKEY_HEX
    assert str(KEY.pubkey()) == kat.SIGNER
    assert bytes(KEY.sign_message(b"")).hex() == kat.RFC8032_EMPTY_SIGNATURE_HEX


def test_voucher_message_layout_known_answer() -> None:
    message = voucher_message(Voucher(kat.CHANNEL, 42, 1234))
    assert message == b"\x56\x01" + bytes([9] * 32) + (42).to_bytes(8, "little") + (1234).to_bytes(
        8, "little"
    )
    assert len(message) == 50
    assert b64url_encode(message) == "VgEJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCSoAAAAAAAAA0gQAAAAAAAA"


def test_absent_and_zero_expiry_sign_the_same_bytes() -> None:
    assert voucher_message(Voucher(kat.CHANNEL, 1)) == voucher_message(Voucher(kat.CHANNEL, 1, 0))
    assert voucher_message(Voucher(kat.CHANNEL, 2**64 - 1))[34:42] == b"\xff" * 8


def test_voucher_message_round_trip_and_refusals() -> None:
    voucher = Voucher(kat.CHANNEL, 2**64 - 9, 4_102_444_800)
    assert parse_voucher_message(voucher_message(voucher)) == voucher
    message = voucher_message(voucher)
    with pytest.raises(MalformedError, match="48-byte vouchers are the superseded layout"):
        parse_voucher_message(message[2:])
    with pytest.raises(MalformedError, match="50 bytes, got 49"):
        parse_voucher_message(message[:49])
    with pytest.raises(MalformedError, match="voucher magic must be 56 01, got 56 02"):
        parse_voucher_message(b"\x56\x02" + message[2:])


def test_voucher_values_are_checked() -> None:
    for args, why in (
        ((kat.CHANNEL, -1), "u64"),
        ((kat.CHANNEL, 2**64), "u64"),
        (("abc", 1), "channelId"),
        ((kat.CHANNEL, 1, -(2**63) - 1), "expiresAt"),
        ((kat.CHANNEL, 1, 2**63), "expiresAt"),
        ((kat.CHANNEL, 1, True), "expiresAt"),
        ((kat.CHANNEL, True), "u64"),
    ):
        with pytest.raises(MalformedError, match=why):
            Voucher(*args)


@pytest.mark.parametrize("expires_at", [-1, -4_102_444_800, -(2**63), 2**63 - 1])
def test_every_i64_expiry_is_encoded_signed_and_verified_verbatim(expires_at: int) -> None:
    """The spec: expiresAt is an i64 encoded verbatim; the codec carries it, the verifier judges it."""
    voucher = Voucher(kat.CHANNEL, 42, expires_at)
    message = voucher_message(voucher)
    assert message[42:] == struct.pack("<q", expires_at)
    assert parse_voucher_message(message) == voucher
    signed = sign_voucher(KEY, voucher)
    assert verify_signed_voucher(signed)
    assert KEY.sign_message(message) == Signature.from_string(signed.signature)
    assert signed.to_json()["voucher"]["expiresAt"] == expires_at
    assert parse_signed_voucher(signed.to_json()) == signed
    flipped = Voucher(kat.CHANNEL, 42, expires_at ^ 1)
    assert not verify_signed_voucher(SignedVoucher(flipped, signed.signer, signed.signature))


def test_json_expiry_outside_i64_is_malformed() -> None:
    signed = sign_voucher(KEY, Voucher(kat.CHANNEL, 42, 1234)).to_json()
    for bad in (-(2**63) - 1, 2**63):
        signed["voucher"]["expiresAt"] = bad
        with pytest.raises(MalformedError, match=r"voucher\.voucher\.expiresAt must be at"):
            parse_signed_voucher(signed)


def test_signing_known_answer_and_verification() -> None:
    signed = sign_voucher(KEY, Voucher(kat.CHANNEL, 42, 1234))
    assert signed.to_json() == {
        "voucher": {"channelId": kat.CHANNEL, "cumulativeAmount": "42", "expiresAt": 1234},
        "signer": kat.SIGNER,
        "signature": kat.VOUCHER_42_1234_SIGNATURE,
        "signatureType": "ed25519",
    }
    assert verify_signed_voucher(signed)
    assert parse_signed_voucher(signed.to_json()) == signed


def test_any_change_breaks_the_signature() -> None:
    signed = sign_voucher(KEY, Voucher(kat.CHANNEL, 42, 1234))
    other = str(Keypair.from_seed(bytes(32)).pubkey())
    for changed in (
        Voucher(kat.CHANNEL, 43, 1234),
        Voucher(kat.CHANNEL, 42, 1235),
        Voucher(kat.CHANNEL, 42),
        Voucher(kat.PROGRAM, 42, 1234),
    ):
        assert not verify_signed_voucher(SignedVoucher(changed, signed.signer, signed.signature))
    assert not verify_signed_voucher(SignedVoucher(signed.voucher, other, signed.signature))


BAD_SIGNED = [
    ({"voucher": {"channelId": kat.CHANNEL, "cumulativeAmount": 42}}, "voucher.signatureType is required"),
    (
        {"signatureType": "ed25519", "signer": kat.SIGNER, "signature": kat.VOUCHER_42_1234_SIGNATURE},
        "voucher.voucher is required",
    ),
    (
        {
            "voucher": {"channelId": kat.CHANNEL, "cumulativeAmount": 42},
            "signer": kat.SIGNER,
            "signature": kat.VOUCHER_42_1234_SIGNATURE,
            "signatureType": "ed25519",
        },
        r"voucher.voucher.cumulativeAmount must be an unsigned decimal string \(a JSON number\)",
    ),
    (
        {
            "voucher": {"channelId": kat.CHANNEL, "cumulativeAmount": "42", "expiresAt": "1234"},
            "signer": kat.SIGNER,
            "signature": kat.VOUCHER_42_1234_SIGNATURE,
            "signatureType": "ed25519",
        },
        "voucher.voucher.expiresAt must be a JSON integer",
    ),
    (
        {
            "voucher": {"channelId": kat.CHANNEL, "cumulativeAmount": "42", "expiresAt": 1234.0},
            "signer": kat.SIGNER,
            "signature": kat.VOUCHER_42_1234_SIGNATURE,
            "signatureType": "ed25519",
        },
        "expiresAt must be a JSON integer",
    ),
    (
        {
            "voucher": {"channelId": kat.CHANNEL, "cumulativeAmount": "42"},
            "signer": kat.SIGNER,
            "signature": kat.CHANNEL,
            "signatureType": "ed25519",
        },
        "voucher.signature must be a base58 signature",
    ),
    (
        {
            "voucher": {"channelId": kat.CHANNEL, "cumulativeAmount": "42"},
            "signer": "nope",
            "signature": kat.VOUCHER_42_1234_SIGNATURE,
            "signatureType": "ed25519",
        },
        "voucher.signer",
    ),
    ("signed", "voucher must be a JSON object"),
]


@pytest.mark.parametrize(("value", "why"), BAD_SIGNED)
def test_signed_voucher_parser_rejects(value: object, why: str) -> None:
    with pytest.raises(MalformedError, match=why):
        parse_signed_voucher(value)


def test_shared_50_byte_vectors() -> None:
    vectors = load_vectors("session-voucher.50byte.json")
    if vectors is None:
        pytest.skip("../shared/reference is absent")
    for case in vectors:
        source = case["input"]["voucherPreimage"]
        voucher = Voucher(source["channelId"], int(source["cumulativeAmount"]), source["expiresAt"])
        assert list(voucher_message(voucher)) == case["expect"]["exactBytes"]["bytes"], case["id"]
        if "base64Url" in case["expect"]["exactBytes"]:
            assert b64url_encode(voucher_message(voucher)) == case["expect"]["exactBytes"]["base64Url"]


def test_bearer_message_is_the_jcs_object() -> None:
    assert bearer_message(kat.CHANNEL, kat.SIGNER, kat.BEARER_CHALLENGE_ID).decode() == (
        f'{{"channelId":"{kat.CHANNEL}","domain":"mpp-session-auth-v1","payer":"{kat.SIGNER}",'
        f'"sessionChallengeId":"{kat.BEARER_CHALLENGE_ID}"}}'
    )


def test_bearer_known_answer_and_binding() -> None:
    proof = sign_bearer(KEY, kat.CHANNEL, kat.BEARER_CHALLENGE_ID)
    assert proof == Authentication(kat.BEARER_CHALLENGE_ID, kat.SIGNER, kat.BEARER_SIGNATURE)
    assert proof.to_json() == {
        "type": "proof",
        "challengeId": kat.BEARER_CHALLENGE_ID,
        "payer": kat.SIGNER,
        "signature": kat.BEARER_SIGNATURE,
    }
    assert verify_bearer(kat.CHANNEL, proof)
    assert not verify_bearer(kat.PROGRAM, proof)
    assert not verify_bearer(kat.CHANNEL, Authentication("c_other", kat.SIGNER, kat.BEARER_SIGNATURE))
    assert not verify_bearer(
        kat.CHANNEL, Authentication(kat.BEARER_CHALLENGE_ID, kat.PAYER, kat.BEARER_SIGNATURE)
    )
    assert not verify_bearer("bad", proof)
    assert parse_authentication(proof.to_json()) == proof


def test_authentication_parser_rejects() -> None:
    good = {"type": "proof", "challengeId": "c", "payer": kat.SIGNER, "signature": kat.BEARER_SIGNATURE}
    for change, why in (
        ({"type": "Proof"}, "type must be 'proof'"),
        ({"challengeId": ""}, "must not be empty"),
        ({"payer": 1}, "payer must be a base58 public key"),
        ({"signature": None}, "not be null"),
    ):
        with pytest.raises(MalformedError, match=why):
            parse_authentication({**good, **change})
