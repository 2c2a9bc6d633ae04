"""LiteSVM, used as the ledger's execution engine for every program it really runs.

The ledger has already checked signatures, blockhash and fee before anything reaches here, so the
engine runs with signature and blockhash checks off and no history of its own, one instruction per
engine transaction, paid for by an internal executor account whose balance is restored afterwards
(the ledger charges the real fee itself). With signature checks off, a channel PDA can be marked as
signer of a token instruction: that is how the channel model moves escrowed tokens through the
real SPL Token program.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from solders.account import Account
from solders.address_lookup_table_account import SlotHashes
from solders.clock import Clock
from solders.hash import Hash
from solders.instruction import Instruction
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata

from mppcli.ledger.clock import ChainTime
from mppcli.ledger.errors import TxErr

EXECUTOR = Pubkey(hashlib.sha256(b"mppcli-ledger-executor").digest())
_EXECUTOR_LAMPORTS = 10**15
SLOTS_PER_EPOCH = 432_000
SLOT_HASHES_DEPTH = 512  # the sysvar's length on a real cluster


@dataclass(frozen=True)
class EngineResult:
    """One instruction's run: `err` is the instruction error (None on success), keys are its accounts."""

    err: TxErr | None
    logs: list[str]
    units: int
    keys: tuple[Pubkey, ...]


class Svm:
    """The LiteSVM instance plus the few operations the ledger needs."""

    def __init__(self) -> None:
        self._svm = (LiteSVM().with_sigverify(False).with_blockhash_check(False)
                     .with_transaction_history(0))
        self._executor_account = Account(_EXECUTOR_LAMPORTS, b"", Pubkey.default(), False, 0)
        self._svm.set_account(EXECUTOR, self._executor_account)
        self._hashed_slot = -1
        self._slot_hashes = SlotHashes([])

    def set_time(self, now: ChainTime) -> None:
        epoch = now.slot // SLOTS_PER_EPOCH
        self._svm.set_clock(Clock(now.slot, now.unix_timestamp, epoch, epoch + 1, now.unix_timestamp))
        if now.slot != self._hashed_slot:  # rebuilt once per slot, not per transaction
            entries = _slot_hashes(now.slot)
            self._svm.set_slot_hashes(entries)
            self._slot_hashes = SlotHashes(entries)
            self._hashed_slot = now.slot

    def slot_hashes(self) -> SlotHashes:
        """The SlotHashes sysvar (lookup-table creation and deactivation read it)."""
        return self._slot_hashes

    def account(self, key: Pubkey) -> Account | None:
        return self._svm.get_account(key)

    def put(self, key: Pubkey, account: Account | None) -> None:
        """Write an account; None (or zero lamports) deletes it."""
        self._svm.set_account(key, account or Account(0, b"", Pubkey.default(), False, 0))

    def rent_exempt(self, size: int) -> int:
        return int(self._svm.minimum_balance_for_rent_exemption(size))

    def program_accounts(self, owner: Pubkey) -> list[tuple[Pubkey, Account]]:
        return list(self._svm.get_program_accounts(owner))

    def run(self, instruction: Instruction) -> EngineResult:
        """Execute one instruction as the runtime would; its effects stay only if it succeeded."""
        message = Message.new_with_blockhash([instruction], EXECUTOR, self._svm.latest_blockhash())
        signatures = [Signature.default()] * message.header.num_required_signatures
        result = self._svm.send_transaction(VersionedTransaction.populate(message, signatures))
        self._svm.set_account(EXECUTOR, self._executor_account)
        keys = tuple(message.account_keys)
        if isinstance(result, FailedTransactionMetadata):
            meta = result.meta()
            err = json.loads(result.to_json())["err"]
            return EngineResult(err, list(meta.logs()), int(meta.compute_units_consumed()), keys)
        return EngineResult(None, list(result.logs()), int(result.compute_units_consumed()), keys)


def _slot_hashes(slot: int) -> list[tuple[int, Hash]]:
    """The previous 512 slots, newest first, each with a stable stand-in bank hash: the runtime
    never checks the hashes, only which slots are present (an address lookup table must be
    created with a recent one)."""
    return [(s, Hash(hashlib.sha256(b"mppcli-ledger-slot" + s.to_bytes(8, "little")).digest()))
            for s in range(slot - 1, max(slot - 1 - SLOT_HASHES_DEPTH, -1), -1)]
