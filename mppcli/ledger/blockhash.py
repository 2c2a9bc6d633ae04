"""Blockhashes: one per slot, derived from the genesis hash, valid for 150 slots.

A real cluster hashes its PoH entries; this ledger derives each slot's blockhash from its own
genesis hash, so no history of hashes needs storing and a restart recognises the blockhashes it
issued before. A transaction is accepted only with a blockhash of this ledger's last 150 slots.
"""

from __future__ import annotations

import hashlib

from solders.hash import Hash

MAX_BLOCKHASH_AGE = 150
_DOMAIN = b"mppcli-localnet-blockhash"


def blockhash_for_slot(genesis_hash: Hash, slot: int) -> Hash:
    return Hash(hashlib.sha256(_DOMAIN + bytes(genesis_hash) + slot.to_bytes(8, "little")).digest())


class BlockhashWindow:
    """Answers "which recent slot issued this blockhash?" for the current slot."""

    def __init__(self, genesis_hash: Hash, first_slot: int = 0) -> None:
        self._genesis = genesis_hash
        self._first_slot = first_slot
        self._by_hash: dict[Hash, int] = {}
        self._covered: tuple[int, int] = (0, -1)

    def latest(self, slot: int) -> Hash:
        return blockhash_for_slot(self._genesis, slot)

    def slot_of(self, blockhash: Hash, current_slot: int) -> int | None:
        """The slot that issued `blockhash`, if it is still within the 150-slot window."""
        self._cover(current_slot)
        slot = self._by_hash.get(blockhash)
        if slot is None or not 0 <= current_slot - slot <= MAX_BLOCKHASH_AGE:
            return None
        return slot

    def _cover(self, current_slot: int) -> None:
        low = max(self._first_slot, current_slot - MAX_BLOCKHASH_AGE)
        if self._covered == (low, current_slot):
            return
        start = max(low, self._covered[1] + 1) if self._covered[0] <= low <= self._covered[1] + 1 else low
        self._by_hash = {h: s for h, s in self._by_hash.items() if s >= low}
        for slot in range(start, current_slot + 1):
            self._by_hash[blockhash_for_slot(self._genesis, slot)] = slot
        self._covered = (low, current_slot)
