"""Transaction assembly: shapes, fee payers, partial signing, and the wire encoding."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable

import pytest
from solders.hash import Hash
from solders.message import Message, MessageV0
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from mppcli.chain import transactions as txs
from mppcli.chain.constants import ED25519_PROGRAM, PROGRAM_ID
from mppcli.chain.ed25519 import Ed25519Payload, parse_ed25519_instruction
from mppcli.chain.instructions import decode_instruction
from mppcli.chain.params import ChannelKeys
from mppcli.chain.splits import Split
from mppcli.chain.txcodec import (
    compiled_calls,
    decode_transaction,
    encode_transaction,
    has_valid_signature,
    message_of,
    missing_signers,
    partial_sign,
    signer_keys,
)
from mppcli.errors import MalformedError
from tests.chain.helpers import open_case, seeded

BLOCKHASH = Hash(bytes([7]) * 32)


def _names(tx: VersionedTransaction) -> list[str]:
    message = message_of(tx)
    names = []
    for call in compiled_calls(message):
        if call.program_id == ED25519_PROGRAM:
            names.append("ed25519")
        else:
            names.append(decode_instruction(call.program_id, call.data, list(call.accounts)).name)
    return names


def test_sponsored_open_is_v0_with_one_instruction_and_the_sponsor_as_fee_payer() -> None:
    case = open_case(sponsored=True)
    tx = case.unsigned()
    message = message_of(tx)
    assert isinstance(message, MessageV0) and not message.address_table_lookups
    assert _names(tx) == ["open"]
    assert signer_keys(message) == [case.operator.pubkey(), case.payer.pubkey()]
    assert missing_signers(tx) == signer_keys(message)
    assert message.recent_blockhash == case.blockhash


def test_partial_signing_leaves_the_sponsor_slot_zero() -> None:
    case = open_case(sponsored=True)
    tx = case.signed()
    assert tx.signatures[0] == Signature.default()
    assert has_valid_signature(tx, case.payer.pubkey())
    assert missing_signers(tx) == [case.operator.pubkey()]
    cosigned = partial_sign(tx, [case.operator])
    assert missing_signers(cosigned) == []
    assert cosigned.signatures[1] == tx.signatures[1]
    assert has_valid_signature(cosigned, case.operator.pubkey())


def test_payer_paid_open_is_complete_after_the_payer_signs() -> None:
    case = open_case(sponsored=False)
    tx = case.signed()
    assert signer_keys(message_of(tx)) == [case.payer.pubkey()]
    assert missing_signers(tx) == []
    call = compiled_calls(message_of(tx))[0]
    assert call.accounts[1] == case.payer.pubkey()  # rentPayer is the fee payer


def test_rent_payer_must_be_the_fee_payer() -> None:
    case = open_case(sponsored=True)
    params = dataclasses.replace(case.params, rent_payer=case.payer.pubkey())
    with pytest.raises(MalformedError, match=r"rent payer .* must be the fee payer"):
        txs.build_open_transaction(params, case.blockhash, case.operator.pubkey())


def test_signing_with_a_stranger_is_refused() -> None:
    with pytest.raises(MalformedError, match="is not a signer of this transaction"):
        partial_sign(open_case().unsigned(), [seeded(99)])


def test_wire_round_trip_is_padded_standard_base64() -> None:
    tx = open_case().signed()
    text = encode_transaction(tx)
    assert base64.b64decode(text, validate=True) == bytes(tx)
    assert decode_transaction(text) == tx
    assert decode_transaction(bytes(tx)) == tx


@pytest.mark.parametrize(("mangle", "message"), [
    (lambda t: t.rstrip("="), "padding"),
    (lambda t: t[:-4] + "-_" + t[-2:], "standard base64"),
    (lambda t: "!!" + t, "standard base64"),
    (lambda t: base64.b64encode(base64.b64decode(t) + b"\x00").decode(), "trailing bytes"),
    (lambda t: base64.b64encode(b"\x01\x02\x03").decode(), "does not parse"),
])
def test_decode_transaction_refuses(mangle: Callable[[str], str], message: str) -> None:
    text = encode_transaction(_padded_transaction())
    assert text.endswith("=")
    with pytest.raises(MalformedError, match=message):
        decode_transaction(mangle(text))


def _padded_transaction() -> VersionedTransaction:
    """An open whose length is not a multiple of 3 (one split adds 34 bytes), so base64 pads it."""
    for count in range(3):
        splits = tuple(Split(seeded(60 + i).pubkey(), 10) for i in range(count))
        tx = open_case(splits=splits).signed()
        if len(bytes(tx)) % 3:
            return tx
    raise AssertionError("unreachable: 34 is not a multiple of 3")


def _keys() -> ChannelKeys:
    case = open_case(splits=(Split(seeded(6).pubkey(), 500),))
    return case.params.keys()


@pytest.mark.parametrize("sponsor", [False, True])
def test_top_up_forms(sponsor: bool) -> None:
    keys, operator, payer = _keys(), seeded(2), seeded(1)
    tx = txs.build_top_up_transaction(keys, 5_000, BLOCKHASH, operator.pubkey() if sponsor else None)
    assert _names(tx) == ["topUp"]
    signed = partial_sign(tx, [payer])
    assert missing_signers(signed) == ([operator.pubkey()] if sponsor else [])
    assert isinstance(message_of(tx), MessageV0)


def _voucher(keys: ChannelKeys, signer_seed: int = 3) -> Ed25519Payload:
    message = b"\x56\x01" + bytes(keys.channel) + (400).to_bytes(8, "little") + bytes(8)
    signer = seeded(signer_seed)
    return Ed25519Payload(signer.pubkey(), signer.sign_message(message), message)


def test_settlement_bundle_with_voucher_is_legacy_by_default() -> None:
    keys, operator = _keys(), seeded(2)
    tx = txs.build_settlement_transaction(keys, BLOCKHASH, operator.pubkey(), _voucher(keys))
    message = message_of(tx)
    assert isinstance(message, Message)
    assert _names(tx) == ["ed25519", "settleAndSeal", "distribute"]
    calls = compiled_calls(message)
    assert calls[1].data == b"\x04\x01"
    assert parse_ed25519_instruction(calls[0].data).verifies()
    assert signer_keys(message) == [operator.pubkey(), keys.payee]
    assert calls[2].accounts[-1] == keys.token_account(keys.splits[0].recipient)


def test_settlement_bundle_without_voucher_and_as_v0() -> None:
    keys = _keys()
    tx = txs.build_settlement_transaction(keys, BLOCKHASH, keys.payee, legacy=False)
    assert isinstance(message_of(tx), MessageV0)
    assert _names(tx) == ["settleAndSeal", "distribute"]
    assert compiled_calls(message_of(tx))[0].data == b"\x04\x00"
    assert signer_keys(message_of(tx)) == [keys.payee]


def test_settlement_refuses_a_voucher_from_another_signer() -> None:
    keys = _keys()
    with pytest.raises(MalformedError, match="authorized signer"):
        txs.build_settlement_transaction(keys, BLOCKHASH, keys.payee, _voucher(keys, signer_seed=9))


def test_forced_close_and_housekeeping_transactions() -> None:
    keys, cranker = _keys(), seeded(8).pubkey()
    settle = txs.build_settle_transaction(keys, _voucher(keys), BLOCKHASH, cranker)
    assert _names(settle) == ["ed25519", "settle"]
    request = txs.build_request_close_transaction(keys, BLOCKHASH)
    assert _names(request) == ["requestClose"] and signer_keys(message_of(request)) == [keys.payer]
    assert _names(txs.build_seal_transaction(keys.channel, BLOCKHASH, cranker)) == ["seal"]
    assert _names(txs.build_withdraw_payer_transaction(keys, BLOCKHASH)) == ["withdrawPayer"]
    finish = txs.build_withdraw_payer_transaction(keys, BLOCKHASH, seal_first=True)
    assert _names(finish) == ["seal", "withdrawPayer"]
    assert _names(txs.build_distribute_transaction(keys, BLOCKHASH, cranker)) == ["distribute"]
    other = seeded(10).pubkey()
    sweep = txs.build_reclaim_transaction([(keys.channel, keys.rent_payer), (other, keys.rent_payer)],
                                          BLOCKHASH, cranker)
    assert _names(sweep) == ["reclaim", "reclaim"]
    assert compiled_calls(message_of(sweep))[0].program_id == PROGRAM_ID
    with pytest.raises(MalformedError, match="at least one channel"):
        txs.build_reclaim_transaction([], BLOCKHASH, cranker)
