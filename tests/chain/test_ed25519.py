"""The canonical 162-byte Ed25519 precompile instruction, checked against the real precompile."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey

from mppcli.chain.constants import ED25519_PROGRAM
from mppcli.chain.ed25519 import (
    ed25519_instruction,
    ed25519_instruction_data,
    ed25519_program_id,
    parse_ed25519_instruction,
)
from mppcli.chain.txcodec import compile_transaction, partial_sign
from mppcli.errors import MalformedError
from mppcli.protocol.voucher import Voucher, parse_voucher_message, voucher_message
from tests.chain.helpers import seeded

MESSAGE = b"\x56\x01" + bytes(range(32)) + (650).to_bytes(8, "little") + (4_102_444_800).to_bytes(8, "little")


def test_layout_known_answer() -> None:
    signer = seeded(90)
    signature = signer.sign_message(MESSAGE)
    data = ed25519_instruction_data(signer.pubkey(), signature, MESSAGE)
    # num 1, pad 0 | sig @48, ix 0xFFFF | pubkey @16, ix 0xFFFF | msg @112, size 50, ix 0xFFFF
    assert data[:16].hex() == "0100" "3000" "ffff" "1000" "ffff" "7000" "3200" "ffff"
    assert len(data) == 162
    assert data[16:48] == bytes(signer.pubkey())
    assert data[48:112] == bytes(signature)
    assert data[112:] == MESSAGE
    expected = Pubkey.from_string("Ed25519SigVerify111111111111111111111111111")
    assert ed25519_program_id() == ED25519_PROGRAM == expected


def test_parse_round_trip() -> None:
    signer = seeded(91)
    built = ed25519_instruction(signer.pubkey(), signer.sign_message(MESSAGE), MESSAGE)
    assert built.accounts == []
    payload = parse_ed25519_instruction(bytes(built.data))
    assert (payload.public_key, payload.message) == (signer.pubkey(), MESSAGE)
    assert payload.verifies()


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d[:161], "is 162 bytes, got 161"),
    (lambda d: d + b"\x00", "is 162 bytes, got 163"),
    (lambda d: b"\x02" + d[1:], "not the canonical single-signature layout"),
    (lambda d: d[:2] + b"\x31" + d[3:], "not the canonical"),
    (lambda d: d[:4] + b"\x00\x00" + d[6:], "not the canonical"),
    (lambda d: d[:12] + b"\x31\x00" + d[14:], "not the canonical"),
])
def test_parse_refuses_non_canonical(mutate: Callable[[bytes], bytes], message: str) -> None:
    signer = seeded(92)
    data = ed25519_instruction_data(signer.pubkey(), signer.sign_message(MESSAGE), MESSAGE)
    with pytest.raises(MalformedError, match=message):
        parse_ed25519_instruction(mutate(data))


def test_builder_needs_the_50_byte_voucher_message() -> None:
    signer = seeded(93)
    with pytest.raises(MalformedError, match="must be 50 bytes, got 49"):
        ed25519_instruction_data(signer.pubkey(), signer.sign_message(MESSAGE[:49]), MESSAGE[:49])


def _run(instruction_message: bytes, signed_message: bytes) -> object:
    """Send our instruction to LiteSVM's real Ed25519 precompile."""
    svm = LiteSVM()
    fee, signer = Keypair(), seeded(94)
    svm.airdrop(fee.pubkey(), 10**9)
    built = ed25519_instruction(signer.pubkey(), signer.sign_message(signed_message), instruction_message)
    tx = partial_sign(compile_transaction([built], fee.pubkey(), svm.latest_blockhash()), [fee])
    return svm.send_transaction(tx)


def test_the_precompile_accepts_our_instruction() -> None:
    result = _run(MESSAGE, MESSAGE)
    assert type(result).__name__ == "TransactionMetadata", result


def test_the_precompile_rejects_a_signature_over_other_bytes() -> None:
    result = _run(MESSAGE, MESSAGE[:-1] + b"\x01")
    assert type(result).__name__ == "FailedTransactionMetadata", result


@pytest.mark.parametrize("expires_at", [-1, -(2**63)])
def test_a_negative_expiry_voucher_travels_verbatim_through_the_precompile(expires_at: int) -> None:
    """The codec carries any i64 expiry; refusing a past one is the verifier's job, not the builder's."""
    message = voucher_message(Voucher(str(Pubkey(bytes(range(32)))), 650, expires_at))
    assert message[42:] == expires_at.to_bytes(8, "little", signed=True)
    signer = seeded(95)
    payload = parse_ed25519_instruction(bytes(ed25519_instruction(
        signer.pubkey(), signer.sign_message(message), message).data))
    assert payload.message == message and payload.verifies()
    assert parse_voucher_message(payload.message).expires_at == expires_at
    assert type(_run(message, message)).__name__ == "TransactionMetadata"
