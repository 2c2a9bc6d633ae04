"""A submitted transaction, decoded once: keys with their signer/writable roles, and its
instructions resolved to full `Instruction`s (address lookup tables included).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from solders.account import Account
from solders.address_lookup_table_account import SlotHashes
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import SanitizeError, VersionedTransaction

from mppcli.chain.lookup_tables import ADDRESS_LOOKUP_TABLE_PROGRAM, LookupTable, decode_lookup_table
from mppcli.chain.txcodec import is_writable
from mppcli.errors import MalformedError
from mppcli.ledger.errors import TransactionFailed

AccountReader = Callable[[Pubkey], Account | None]


@dataclass(frozen=True)
class TxView:
    """What the ledger needs to know about one transaction."""

    tx: VersionedTransaction
    raw: bytes
    keys: tuple[Pubkey, ...]
    signer_flags: tuple[bool, ...]
    writable_flags: tuple[bool, ...]
    instructions: tuple[Instruction, ...]

    @property
    def signature(self) -> Signature:
        return self.tx.signatures[0]

    @property
    def fee_payer(self) -> Pubkey:
        return self.keys[0]

    @property
    def recent_blockhash(self) -> Hash:
        return self.tx.message.recent_blockhash

    @property
    def num_signatures(self) -> int:
        return len(self.tx.signatures)

    def is_signer(self, key: Pubkey) -> bool:
        return any(k == key and s for k, s in zip(self.keys, self.signer_flags, strict=True))

    def writable_keys(self) -> list[Pubkey]:
        return [k for k, w in zip(self.keys, self.writable_flags, strict=True) if w]


@dataclass(frozen=True)
class LookupClock:
    """When a transaction executes, which decides the lookup-table addresses it may load."""

    slot: int
    slot_hashes: SlotHashes


def decode_transaction(raw: bytes, read_account: AccountReader, at: LookupClock | None = None) -> TxView:
    """Parse wire bytes (legacy or v0); `read_account` reads address lookup tables, resolved as of
    `at` (None: a transaction that already landed, resolved against the table as it is)."""
    try:
        tx = VersionedTransaction.from_bytes(raw)
        tx.sanitize()
    except (ValueError, SanitizeError) as exc:  # bad bytes / inconsistent message (solders' two errors)
        raise TransactionFailed("SanitizeFailure") from exc
    message = tx.message
    if not isinstance(message, Message | MessageV0):
        raise TransactionFailed("UnsupportedVersion")
    static = list(message.account_keys)
    header = message.header
    loaded_w, loaded_r = _load_lookups(message, read_account, at)
    keys = static + loaded_w + loaded_r
    signer = [i < header.num_required_signatures for i in range(len(keys))]
    writable = [is_writable(message, i) for i in range(len(static))]
    writable += [True] * len(loaded_w) + [False] * len(loaded_r)
    writable = _demote(keys, writable, message)
    instructions = tuple(_resolve(ci, keys, signer, writable) for ci in message.instructions)
    return TxView(tx, raw, tuple(keys), tuple(signer), tuple(writable), instructions)


def _demote(keys: list[Pubkey], writable: list[bool], message: Message | MessageV0) -> list[bool]:
    """Program ids are never writable (the runtime demotes them)."""
    called = {keys[ci.program_id_index] for ci in message.instructions if ci.program_id_index < len(keys)}
    return [w and k not in called for k, w in zip(keys, writable, strict=True)]


def _resolve(ci: object, keys: list[Pubkey], signer: list[bool], writable: list[bool]) -> Instruction:
    indexes = list(ci.accounts)  # type: ignore[attr-defined]
    program_index = ci.program_id_index  # type: ignore[attr-defined]
    if program_index >= len(keys) or any(i >= len(keys) for i in indexes):
        raise TransactionFailed("SanitizeFailure")
    metas = [AccountMeta(keys[i], signer[i], writable[i]) for i in indexes]
    return Instruction(keys[program_index], bytes(ci.data), metas)  # type: ignore[attr-defined]


def _load_lookups(message: Message | MessageV0, read_account: AccountReader,
                  at: LookupClock | None) -> tuple[list[Pubkey], list[Pubkey]]:
    if not isinstance(message, MessageV0):
        return [], []
    writable: list[Pubkey] = []
    readonly: list[Pubkey] = []
    for lookup in message.address_table_lookups:
        table = _table(lookup.account_key, read_account)
        writable += _lookup(table, list(lookup.writable_indexes), at)
        readonly += _lookup(table, list(lookup.readonly_indexes), at)
    return writable, readonly


def _table(table_key: Pubkey, read_account: AccountReader) -> LookupTable:
    account = read_account(table_key)
    if account is None or account.owner != ADDRESS_LOOKUP_TABLE_PROGRAM:
        raise TransactionFailed("AddressLookupTableNotFound")
    try:
        return decode_lookup_table(table_key, bytes(account.data))
    except MalformedError:
        raise TransactionFailed("InvalidAddressLookupTableData") from None


def _lookup(table: LookupTable, indexes: list[int], at: LookupClock | None) -> list[Pubkey]:
    """The runtime's rule (solders implements it): an address is loadable from the slot after the
    one that added it, and not at all once the table is deactivated. Without `at` (re-reading a
    transaction that already landed) every stored address counts."""
    if at is None:
        try:
            return [table.addresses[i] for i in indexes]
        except IndexError:
            raise TransactionFailed("InvalidAddressLookupTableIndex") from None
    try:
        return list(table.table.lookup(at.slot, indexes, at.slot_hashes))
    except ValueError as exc:
        raise TransactionFailed("InvalidAddressLookupTableIndex" if "index" in str(exc)
                                else "AddressLookupTableNotFound") from None
