"""Address lookup tables: what a settlement with many splits needs to fit in one transaction.

A legacy transaction is at most 1232 bytes, and every account key costs 32 of them: `distribute`
with 32 recipients names ~45 accounts and cannot fit. The spec's answer is a v0 transaction that
takes the keys from an address lookup table (ALT) as one-byte indexes. A table is created and
extended in earlier transactions, and an address is usable from the slot after the one that added
it; signers and invoked program ids can never come from a table.

The instruction encodings are the ALT program's (bincode: a u32 variant tag, then the fields);
reading a table and deciding which of its addresses are active at a slot is solders'
`AddressLookupTable`, the runtime's own logic.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from solders.address_lookup_table_account import (
    ID as ADDRESS_LOOKUP_TABLE_PROGRAM,
)
from solders.address_lookup_table_account import (
    AddressLookupTable,
    AddressLookupTableAccount,
    SlotHashes,
    derive_lookup_table_address,
)
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from mppcli.chain.constants import SYSTEM_PROGRAM
from mppcli.errors import MalformedError

__all__ = [
    "ADDRESS_LOOKUP_TABLE_PROGRAM",
    "AUTHORITY_OFFSET",
    "EXTEND_CHUNK",
    "LookupTable",
    "authority_filter",
    "create_lookup_table",
    "decode_lookup_table",
    "extend_lookup_table",
    "lookup_candidates",
]

_CREATE, _EXTEND = 0, 2
# Addresses per extend instruction: 20 keeps an extend transaction (fee payer = authority, one
# signature) far below 1232 bytes; a table holds at most 256.
EXTEND_CHUNK = 20
MAX_TABLE_ADDRESSES = 256
_NO_SLOT_HASHES = SlotHashes([(0, Hash.default())])


@dataclass(frozen=True)
class LookupTable:
    """A decoded table account: its address, state, and addresses in index order."""

    address: Pubkey
    table: AddressLookupTable

    @property
    def addresses(self) -> tuple[Pubkey, ...]:
        return tuple(self.table.addresses)

    @property
    def authority(self) -> Pubkey | None:
        authority = self.table.meta.authority
        return None if authority is None else Pubkey(bytes(authority))

    @property
    def last_extended_slot(self) -> int:
        return int(self.table.meta.last_extended_slot)

    @property
    def deactivated(self) -> bool:
        """Deactivation started (a table we would use must never be on its way out)."""
        return int(self.table.meta.deactivation_slot) != 2**64 - 1

    def active_addresses(self, slot: int) -> tuple[Pubkey, ...]:
        """The addresses a transaction executing at `slot` may load (none once deactivated)."""
        if self.deactivated:
            return ()
        return self.addresses[:self.table.get_active_addresses_len(slot, _NO_SLOT_HASHES)]

    def covers(self, keys: Iterable[Pubkey], slot: int) -> bool:
        return set(keys) <= set(self.active_addresses(slot))

    def account(self) -> AddressLookupTableAccount:
        """The form `MessageV0.try_compile` takes."""
        return AddressLookupTableAccount(self.address, list(self.addresses))


AUTHORITY_OFFSET = 22  # LookupTableMeta: u32 tag, u64 deactivation, u64 extended, u8 index, u8 Some


def authority_filter(authority: Pubkey) -> dict[str, Any]:
    """The `getProgramAccounts` filter for the lookup tables `authority` owns."""
    return {"memcmp": {"offset": AUTHORITY_OFFSET, "bytes": str(authority)}}


def decode_lookup_table(address: Pubkey, data: bytes) -> LookupTable:
    try:
        return LookupTable(address, AddressLookupTable.deserialize(bytes(data)))
    except Exception as exc:  # solders raises its own error types for malformed input
        raise MalformedError(f"{address} is not an address lookup table: {exc}") from None


def create_lookup_table(authority: Pubkey, payer: Pubkey, recent_slot: int) -> tuple[Instruction, Pubkey]:
    """`CreateLookupTable`; `recent_slot` must be in the cluster's SlotHashes (the last 512 slots).
    The authority signs (older program versions require it; newer ones accept it)."""
    table, bump = derive_lookup_table_address(authority, recent_slot)
    metas = [AccountMeta(table, False, True), AccountMeta(authority, True, False),
             AccountMeta(payer, True, True), AccountMeta(SYSTEM_PROGRAM, False, False)]
    return Instruction(ADDRESS_LOOKUP_TABLE_PROGRAM, struct.pack("<IQB", _CREATE, recent_slot, bump),
                       metas), table


def extend_lookup_table(table: Pubkey, authority: Pubkey, payer: Pubkey,
                        addresses: Sequence[Pubkey]) -> Instruction:
    """`ExtendLookupTable` (payer funds the extra rent)."""
    if not 0 < len(addresses) <= EXTEND_CHUNK:
        raise MalformedError(f"extend takes 1 to {EXTEND_CHUNK} addresses, got {len(addresses)}")
    data = struct.pack("<IQ", _EXTEND, len(addresses)) + b"".join(bytes(a) for a in addresses)
    metas = [AccountMeta(table, False, True), AccountMeta(authority, True, False),
             AccountMeta(payer, True, True), AccountMeta(SYSTEM_PROGRAM, False, False)]
    return Instruction(ADDRESS_LOOKUP_TABLE_PROGRAM, data, metas)


def lookup_candidates(calls: Sequence[Instruction], exclude: Iterable[Pubkey] = ()) -> list[Pubkey]:
    """The keys of `calls` a table may carry, in first-use order: never a signer, never a program
    the transaction invokes (the runtime loads neither from a table), nor anything in `exclude`."""
    barred = {c.program_id for c in calls} | {m.pubkey for c in calls for m in c.accounts if m.is_signer}
    barred |= set(exclude)
    seen: dict[Pubkey, None] = {}
    for call in calls:
        for meta in call.accounts:
            if meta.pubkey not in barred:
                seen.setdefault(meta.pubkey)
    if len(seen) > MAX_TABLE_ADDRESSES:
        raise MalformedError(f"{len(seen)} addresses do not fit one lookup table ({MAX_TABLE_ADDRESSES})")
    return list(seen)
