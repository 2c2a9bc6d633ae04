"""The one rule about amounts in a channel record: watermarks only move forward.

A write that would lower one (a stale in-memory copy, a confused flow, a lying server echoed by a
bug) is refused for that watermark and logged; the rest of the write still applies. The voucher
kept beside a watermark travels with it, so the stored voucher always matches its amount. In
client mode the accepted amount may never exceed what this client signed: a server cannot push the
local watermark above our own signatures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from mppcli.state.record import WATERMARKS, ChannelRecord, VoucherSigner, camel

_VOUCHER_OF = {"signed_cumulative": "last_signed_voucher",
               "accepted_cumulative": "last_accepted_voucher"}


def guard_watermarks(old: ChannelRecord, new: ChannelRecord,
                     warn: Callable[[str], None]) -> ChannelRecord:
    """`new`, with every watermark that went backwards (or past our signatures) kept at `old`."""
    kept: dict[str, object] = {}
    for name in WATERMARKS:
        before, after = getattr(old, name), getattr(new, name)
        if after < before:
            warn(f"channel {old.channel_id}: refused to lower {camel(name)} from {before} to {after}")
            kept.update(_restore(old, name))
    guarded = replace(new, **kept) if kept else new  # type: ignore[arg-type]
    return _cap_accepted(old, guarded, warn)


def _restore(old: ChannelRecord, name: str) -> dict[str, object]:
    restored: dict[str, object] = {name: getattr(old, name)}
    voucher = _VOUCHER_OF.get(name)
    if voucher:
        restored[voucher] = getattr(old, voucher)
    return restored


def _cap_accepted(old: ChannelRecord, new: ChannelRecord, warn: Callable[[str], None]) -> ChannelRecord:
    if new.voucher_signer is not VoucherSigner.CLIENT:
        return new
    if new.accepted_cumulative <= new.signed_cumulative:
        return new
    warn(f"channel {old.channel_id}: refused acceptedCumulative {new.accepted_cumulative} above "
         f"what this client signed ({new.signed_cumulative})")
    return replace(new, **_restore(old, "accepted_cumulative"))  # type: ignore[arg-type]
