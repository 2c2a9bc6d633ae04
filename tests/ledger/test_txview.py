"""The ledger reads any wire bytes as a transaction or a SanitizeFailure, and shares chain's rules."""

from __future__ import annotations

import random

from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from mppcli.chain.txcodec import compile_transaction, is_writable, message_of, partial_sign
from mppcli.ledger.errors import TransactionFailed
from mppcli.ledger.txview import decode_transaction

PAYER = Keypair.from_seed(bytes([7]) * 32)
PROGRAM = Pubkey.from_bytes(bytes([9]) * 32)
READONLY = Pubkey.from_bytes(bytes([5]) * 32)
WRITABLE = Pubkey.from_bytes(bytes([6]) * 32)


def _wire(legacy: bool) -> bytes:
    metas = [AccountMeta(PAYER.pubkey(), True, True), AccountMeta(READONLY, False, False),
             AccountMeta(WRITABLE, False, True)]
    tx = compile_transaction([Instruction(PROGRAM, b"\x01\x02", metas)], PAYER.pubkey(),
                             Hash.from_bytes(bytes([3]) * 32), legacy=legacy)
    return bytes(partial_sign(tx, [PAYER]))


def test_writability_is_chains_rule_and_program_ids_are_demoted() -> None:
    for legacy in (True, False):
        view = decode_transaction(_wire(legacy), lambda key: None)
        message = message_of(view.tx)
        expected = [is_writable(message, i) and key != PROGRAM for i, key in enumerate(view.keys)]
        assert list(view.writable_flags) == expected
        assert set(view.writable_keys()) == {PAYER.pubkey(), WRITABLE}


def test_damaged_bytes_are_a_sanitize_failure_and_nothing_else() -> None:
    good, rnd = _wire(False), random.Random(20261127)
    failures = decoded = 0
    for _ in range(3000):
        damaged = bytearray(good)
        for _ in range(rnd.randint(1, 4)):
            damaged[rnd.randrange(len(damaged))] = rnd.randrange(256)
        if rnd.random() < 0.3:
            damaged = damaged[:rnd.randrange(len(damaged))]
        try:
            decode_transaction(bytes(damaged), lambda key: None)
            decoded += 1
        except TransactionFailed as failure:
            assert failure.err in ("SanitizeFailure", "UnsupportedVersion", "AddressLookupTableNotFound",
                                   "InvalidAddressLookupTableIndex")
            failures += 1
    assert failures > 500 and decoded > 500  # both paths ran; no other exception escaped
    assert decoded + failures == 3000


def test_truncated_and_inconsistent_transactions_are_sanitize_failures() -> None:
    good = _wire(True)
    for raw in (b"", good[:10], good[:-1]):
        try:
            decode_transaction(raw, lambda key: None)
        except TransactionFailed as failure:
            assert failure.err == "SanitizeFailure"
        else:
            raise AssertionError(f"{len(raw)} bytes decoded")
