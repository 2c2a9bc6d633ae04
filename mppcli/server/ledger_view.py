"""`mpp serve channels`: the server's channels, read from its database while it may be running.

A read-only SQLite connection (`mode=ro`) under WAL sees the last committed state without
blocking the server and without its exclusive `<db>.lock` (that lock guards writers: two servers
on one database; a reader changes nothing). Nothing here writes, so a corrupt or foreign file is
reported, never "repaired".
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from mppcli.protocol.auth import format_rfc3339
from mppcli.server.state import ChannelState
from mppcli.server.store import all_channels, all_meta


@dataclass(frozen=True)
class ServerChannels:
    """What the listing shows: the channels, and the facts the server pinned in its database."""

    channels: tuple[ChannelState, ...]
    network: str | None
    decimals: int | None


def read_channels(path: Path) -> ServerChannels:
    """Every channel in the database at `path`, newest first; ValueError when it cannot be read."""
    if not path.exists():
        raise ValueError(f"no server database at {path}")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ValueError(f"cannot open {path}: {exc}") from None
    try:
        meta = all_meta(conn)
        rows = all_channels(conn)
    except sqlite3.Error as exc:
        raise ValueError(f"{path} is not an mpp serve database ({exc})") from None
    finally:
        conn.close()
    channels = sorted(rows, key=lambda c: c.created_at, reverse=True)
    decimals = meta.get("decimals")
    return ServerChannels(tuple(channels), meta.get("network"), int(decimals) if decimals else None)


def idle_deadline(state: ChannelState) -> float | None:
    """When the idle watchdog closes an open channel that sees no further activity."""
    return state.last_activity_at + state.idle_timeout if state.is_open else None


def entry(state: ChannelState) -> dict[str, object]:
    """One channel as JSON (amounts in base units, as decimal strings)."""
    deadline = idle_deadline(state)
    return {
        "channelId": state.channel_id,
        "status": state.status.value,
        "payer": state.payer,
        "mint": state.mint,
        "voucherSigner": state.voucher_signer,
        "deposit": str(state.deposit),
        "acceptedCumulative": str(state.accepted),
        "spent": str(state.spent),
        "settled": str(state.settled),
        "idleDeadline": format_rfc3339(deadline) if deadline is not None else None,
        "closeReason": state.close_reason,
        "closeTx": state.close_tx,
    }
