"""The seam between the pure machine and the stored channel record.

`advance` runs one machine step on the freshest record inside the channel lock (`ChannelStore.update`
re-reads under it) and writes the result before the caller lets anything leave the process. The
machine's `Status` is the record's `ChannelStatus`, so a status passes through unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mppcli.client import machine as m
from mppcli.client.policy import OfferedTerms, SessionTerms, check_same_terms
from mppcli.state.record import ChannelRecord, ChannelStatus
from mppcli.state.store import ChannelStore


def view_of(record: ChannelRecord) -> m.ChannelView:
    return m.ChannelView(status=record.status, deposit=record.deposit,
                         signed=record.signed_cumulative, accepted=record.accepted_cumulative,
                         spent=record.spent, settled=record.settled, refunded=record.refunded)


def merge(record: ChannelRecord, view: m.ChannelView, **extra: Any) -> ChannelRecord:
    return replace(record, status=view.status, deposit=view.deposit, signed_cumulative=view.signed,
                   accepted_cumulative=view.accepted, spent=view.spent, settled=view.settled,
                   refunded=view.refunded, **extra)


def advance(store: ChannelStore, channel_id: str, event: m.Event, **extra: Any) -> ChannelRecord:
    """Apply `event` (and any extra record fields) to the stored record, atomically."""
    return store.update(channel_id, lambda record: merge(record, m.step(view_of(record), event), **extra))


def terms_of(record: ChannelRecord) -> SessionTerms:
    return SessionTerms(record.network, record.program_id, record.mint, record.payee)


def reusable(store: ChannelStore, origin: str, payer: str, offered: OfferedTerms) -> ChannelRecord | None:
    """The channel this payer already has open with this server, if any (open: not merely live).

    An open channel of this payer at this origin whose terms differ from the new challenge means
    the server changed network, program, mint or payee mid-session: a protocol violation.
    """
    candidates = [r for r in store.list(include_closed=False).records
                  if r.origin == origin and r.payer == payer and r.status is ChannelStatus.OPEN]
    for record in reversed(candidates):  # the newest first
        check_same_terms(terms_of(record), offered)
        return record
    return None


def known_origin(store: ChannelStore, origin: str) -> bool:
    """Whether this machine ever deposited to this server (any record, any status)."""
    return any(r.origin == origin for r in store.list().records)


def deposited_at_least(store: ChannelStore, origin: str, amount: int) -> bool:
    """Whether some channel of this machine with this server already held `amount` or more."""
    return any(r.origin == origin and r.deposit >= amount for r in store.list().records)
