"""Settling a top-up that was recorded as pending but never confirmed (crash, refusal, lost reply).

The top-up flow writes `pending_top_up` before the transaction leaves the process. When no
receipt clears it, the next `mpp topup`, `mpp channels sync` or `mpp channels show` asks the chain:
a deposit that grew by at least the amount means it landed (take the chain's deposit); anything
else means it did not land (forget it, and say so: if it still lands later, a sync picks the
new deposit up from the chain like any other deposit change).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mppcli.state.record import ChannelRecord
from mppcli.state.store import ChannelStore


@dataclass(frozen=True)
class Settled:
    record: ChannelRecord
    landed: bool
    message: str


def settle_pending(record: ChannelRecord, chain_deposit: int | None) -> Settled:
    """The record with its pending top-up judged against the chain's deposit (None: no account).

    Pure: the caller reads the chain and writes the result under the channel lock.
    """
    pending = record.pending_top_up
    if pending is None:
        return Settled(record, False, "")
    cid = record.channel_id
    if chain_deposit is not None and chain_deposit >= pending.deposit_before + pending.amount:
        deposit = max(record.deposit, chain_deposit)
        return Settled(replace(record, deposit=deposit, pending_top_up=None), True,
                       f"channel {cid}: the earlier top-up of {pending.amount} landed; "
                       f"deposit now {deposit}")
    where = "the channel account is gone" if chain_deposit is None else f"the chain holds {chain_deposit}"
    return Settled(replace(record, pending_top_up=None), False,
                   f"channel {cid}: the earlier top-up of {pending.amount} did not land ({where}, "
                   f"not {pending.deposit_before + pending.amount}); forgetting it")


def reconcile_pending(store: ChannelStore, channel_id: str, chain_deposit: int | None
                      ) -> Settled:
    """Apply `settle_pending` to the freshest record (the caller holds the channel lock)."""
    outcome: list[Settled] = []

    def change(record: ChannelRecord) -> ChannelRecord:
        outcome.append(settle_pending(record, chain_deposit))
        return outcome[-1].record

    written = store.update(channel_id, change)
    return replace(outcome[-1], record=written)
