"""Every instruction: known bytes, encode -> decode round trips, and what decoding refuses."""

from __future__ import annotations

from typing import Any

import pytest
from solders.instruction import Instruction
from solders.pubkey import Pubkey

from mppcli.chain import instructions as ix
from mppcli.chain.constants import (
    ASSOCIATED_TOKEN_PROGRAM,
    INSTRUCTIONS_SYSVAR,
    PROGRAM_ID,
    RENT_SYSVAR,
    SYSTEM_PROGRAM,
    TOKEN_2022_PROGRAM,
    TREASURY_OWNER,
)
from mppcli.chain.idl import load_idl
from mppcli.chain.params import ChannelKeys, OpenParams
from mppcli.chain.pda import associated_token_address, event_authority
from mppcli.chain.splits import Split
from mppcli.errors import MalformedError
from tests.chain.helpers import seeded

PAYER, PAYEE, MINT, SIGNER, RENT = (seeded(i).pubkey() for i in (31, 32, 33, 34, 35))
R1, R2 = seeded(36).pubkey(), seeded(37).pubkey()


def _open_params(splits: tuple[Split, ...] = (), **changes: Any) -> OpenParams:
    values: dict[str, Any] = {"payer": PAYER, "payee": PAYEE, "mint": MINT, "authorized_signer": SIGNER,
                              "salt": 7, "deposit": 1_000_000, "grace_period": 60, "open_slot": 0,
                              "rent_payer": RENT, "splits": splits}
    values.update(changes)
    return OpenParams(**values)


def _keys(splits: tuple[Split, ...] = (), token_program: Pubkey = TOKEN_2022_PROGRAM) -> ChannelKeys:
    channel = _open_params(splits).channel
    return ChannelKeys(channel, PAYER, PAYEE, MINT, SIGNER, RENT, token_program, splits)


def test_open_data_known_answer() -> None:
    """research/onchain.md: salt 7, deposit 1,000,000, grace 60, openSlot 0, no recipients."""
    expected = "01" "0700000000000000" "40420f0000000000" "3c000000" "0000000000000000" "00000000"
    assert bytes(ix.open_instruction(_open_params()).data).hex() == expected


def test_open_accounts_in_order_with_flags() -> None:
    params = _open_params()
    channel = params.channel
    metas = [(m.pubkey, m.is_signer, m.is_writable) for m in ix.open_instruction(params).accounts]
    token = params.token_program
    assert metas == [
        (PAYER, True, True), (RENT, True, True), (PAYEE, False, False), (MINT, False, False),
        (SIGNER, False, False), (channel, False, True),
        (associated_token_address(PAYER, MINT, token), False, True),
        (associated_token_address(channel, MINT, token), False, True),
        (token, False, False), (SYSTEM_PROGRAM, False, False), (RENT_SYSVAR, False, False),
        (ASSOCIATED_TOKEN_PROGRAM, False, False), (event_authority(), False, False),
        (PROGRAM_ID, False, False),
    ]


def test_open_with_splits_appends_the_preimage() -> None:
    data = bytes(ix.open_instruction(_open_params((Split(R1, 250), Split(R2, 1000)))).data)
    assert data[29:33] == (2).to_bytes(4, "little")
    assert data[33:] == bytes(R1) + (250).to_bytes(2, "little") + bytes(R2) + (1000).to_bytes(2, "little")


def test_small_instruction_bytes() -> None:
    keys = _keys()
    assert bytes(ix.top_up_instruction(keys, 5000).data).hex() == "03" "8813000000000000"
    assert bytes(ix.settle_and_seal_instruction(keys, True).data).hex() == "0401"
    assert bytes(ix.settle_and_seal_instruction(keys, False).data).hex() == "0400"
    assert bytes(ix.settle_instruction(keys.channel).data) == b"\x02"
    assert bytes(ix.request_close_instruction(keys).data) == b"\x05"
    assert bytes(ix.seal_instruction(keys.channel).data) == b"\x06"
    assert bytes(ix.distribute_instruction(keys).data).hex() == "07" "00000000"
    assert bytes(ix.withdraw_payer_instruction(keys).data) == b"\x08"
    assert bytes(ix.reclaim_instruction(keys.channel, RENT).data) == b"\x09"


def test_distribute_accounts_and_recipient_tail() -> None:
    splits = (Split(R1, 250), Split(R2, 1000))
    keys = _keys(splits)
    built = ix.distribute_instruction(keys)
    ata = keys.token_account
    assert [(m.pubkey, m.is_signer, m.is_writable) for m in built.accounts] == [
        (keys.channel, False, True), (PAYER, False, True), (RENT, False, True),
        (ata(keys.channel), False, True),
        (ata(PAYER), False, True), (ata(PAYEE), False, True), (ata(TREASURY_OWNER), False, True),
        (MINT, False, False), (TOKEN_2022_PROGRAM, False, False), (event_authority(), False, False),
        (PROGRAM_ID, False, False), (ata(R1), False, True), (ata(R2), False, True),
    ]


def _every_instruction() -> list[tuple[str, Instruction]]:
    keys = _keys((Split(R1, 250),))
    return [
        ("open", ix.open_instruction(_open_params((Split(R1, 250),), open_slot=99, salt=2**64 - 1))),
        ("settle", ix.settle_instruction(keys.channel)),
        ("topUp", ix.top_up_instruction(keys, 2**64 - 1)),
        ("settleAndSeal", ix.settle_and_seal_instruction(keys, True)),
        ("requestClose", ix.request_close_instruction(keys)),
        ("seal", ix.seal_instruction(keys.channel)),
        ("distribute", ix.distribute_instruction(keys)),
        ("withdrawPayer", ix.withdraw_payer_instruction(keys)),
        ("reclaim", ix.reclaim_instruction(keys.channel, RENT)),
        ("emitEvent", ix.encode_instruction("emitEvent", {}, {})),
    ]


def test_every_idl_instruction_has_a_round_trip_case() -> None:
    assert {name for name, _ in _every_instruction()} == set(load_idl().instructions)


@pytest.mark.parametrize(("name", "built"), _every_instruction(), ids=[n for n, _ in _every_instruction()])
def test_round_trip(name: str, built: Instruction) -> None:
    decoded = ix.decode_instruction(built.program_id, bytes(built.data), built.accounts)
    assert decoded.name == name
    spec = load_idl().instructions[name]
    assert list(decoded.accounts) == [a.name for a in spec.accounts]
    again = ix.encode_instruction(name, decoded.args, dict(decoded.accounts), built.program_id,
                                  list(decoded.remaining) if spec.remaining else None)
    assert again == built


def test_decoded_fields_are_typed() -> None:
    built = ix.open_instruction(_open_params((Split(R1, 250),), salt=2**64 - 1))
    fields = ix.decode_instruction(PROGRAM_ID, bytes(built.data), built.accounts).fields()
    assert fields["salt"] == 2**64 - 1
    assert fields["recipients"] == [{"recipient": R1, "bps": 250}]


def test_derivable_accounts_may_be_given_explicitly() -> None:
    other = seeded(40).pubkey()
    built = ix.encode_instruction("distribute", {"distributeArgs": {"recipients": []}},
                                  {"channel": _keys().channel, "payer": PAYER, "rentPayer": RENT,
                                   "payeeTokenAccount": other, "treasuryTokenAccount": other,
                                   "mint": MINT, "tokenProgram": TOKEN_2022_PROGRAM})
    assert built.accounts[6].pubkey == other


@pytest.mark.parametrize(("data", "accounts", "message"), [
    (b"", 0, "instruction data is empty"),
    (b"\x0a", 0, "unknown instruction discriminator 10"),
    (b"\x03" + bytes(7), 6, "topUpArgs.amount is cut short"),
    (b"\x03" + bytes(9), 6, "topUp data has 1 trailing bytes"),
    (b"\x05", 1, "requestClose takes 2 accounts, got 1"),
    (b"\x05", 3, "requestClose takes 2 accounts, got 3"),
    (b"\x07" + bytes(4), 10, "distribute takes 11 accounts plus its recipient token accounts, got 10"),
    (b"\x01" + bytes(28) + b"\x01\x00\x00\x00", 14, "recipients\\[0\\].recipient is cut short"),
    (b"\x04", 3, "settleAndSealArgs.hasVoucher is cut short"),
])
def test_decode_refuses(data: bytes, accounts: int, message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        ix.decode_instruction(PROGRAM_ID, data, [seeded(50 + i).pubkey() for i in range(accounts)])


@pytest.mark.parametrize(("name", "args", "accounts", "message"), [
    ("nope", {}, {}, "unknown instruction 'nope'"),
    ("topUp", {"topUpArgs": {"amount": 1 << 64}}, {}, "topUpArgs.amount is out of range for u64"),
    ("topUp", {"topUpArgs": {"amount": -1}}, {}, "out of range"),
    ("topUp", {"topUpArgs": {"amount": "5"}}, {}, "must be an integer"),
    ("topUp", {"topUpArgs": {}}, {}, "topUpArgs.amount is required"),
    ("topUp", {"topUpArgs": {"amount": 1, "x": 2}}, {}, "has no field 'x'"),
    ("topUp", {"topUpArgs": {"amount": 1}}, {"payer": PAYER}, "topUp needs account channel"),
    ("seal", {}, {"channel": PAYER, "bogus": PAYER}, "seal has no account named 'bogus'"),
    ("open", {"openArgs": {"salt": 1, "deposit": 1, "gracePeriod": 1 << 32, "openSlot": 1, "recipients": []}},
     {}, "gracePeriod is out of range for u32"),
])
def test_encode_refuses(name: str, args: dict[str, Any], accounts: dict[str, Pubkey], message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        ix.encode_instruction(name, args, accounts)


def test_instructions_sysvar_is_filled_in() -> None:
    built = ix.settle_instruction(seeded(60).pubkey())
    assert built.accounts[1].pubkey == INSTRUCTIONS_SYSVAR
