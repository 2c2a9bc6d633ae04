"""Durable server state in SQLite: channels, idempotency cache, top-up dedupe, metered deliveries.

Why SQLite: one file, transactions, WAL, and `synchronous=FULL` so a committed change survives a
process or machine crash (spec: Crash Safety). Every state change is one `batch()`: a single
`BEGIN IMMEDIATE … COMMIT`, so a channel row and the rows that justify it (a delivery, a top-up
signature, a cached response) land together or not at all.

Calls are synchronous and made from the event-loop thread: no other coroutine runs while a batch
commits, and the method layer serializes each channel with an asyncio lock, so a read-modify-write
of one channel is never interleaved. One server process owns a database at a time (an exclusive
`fcntl` lock on `<db>.lock`). Amounts are stored as decimal text (u64 exceeds SQLite's int64).

Group commit (`enable_group_commit`, which `mpp serve` turns on). With `synchronous=FULL` every
COMMIT fsyncs the WAL on the event loop, so each request waits for its own fsync and blocks every
other request meanwhile. In group mode a COMMIT only writes the WAL (SQLite's NORMAL), and
`await durable()` fsyncs the WAL file in a worker thread: once synced, every batch committed before
the fsync began is on disk exactly as FULL would have left it (FULL is NORMAL plus that fsync).
Batches committed while an fsync runs share the next one, so concurrent requests on different
channels share commits, and the loop keeps working during the fsync. The HTTP layer awaits
`durable()` before any response message leaves (`mppcli.server.durable`), and the chain port before
any transaction leaves, so nothing is released on the strength of a state that a crash could undo.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any

from mppcli.files.locks import flock_nonblocking
from mppcli.server.state import CachedResponse, ChannelState, Delivery, Status

SCHEMA_VERSION = 2  # 2: idempotency rows carry the digest of the credential they answered

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS channels (
    channel_id TEXT PRIMARY KEY,
    opening_challenge_id TEXT NOT NULL,
    status TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS channels_status ON channels(status);
CREATE INDEX IF NOT EXISTS channels_opening ON channels(opening_challenge_id);
CREATE TABLE IF NOT EXISTS idempotency (
    challenge_id TEXT NOT NULL,
    key TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    status INTEGER NOT NULL,
    receipt TEXT,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    credential_digest TEXT,
    PRIMARY KEY (challenge_id, key)
);
CREATE TABLE IF NOT EXISTS topups (
    signature TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL,
    amount TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL,
    stream_id TEXT,
    sequence INTEGER NOT NULL,
    amount TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    cumulative TEXT,
    voucher_signature TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries(channel_id, status);
"""

# Checkpoint the WAL into the database every this many pages (SQLite's default: 1000). The WAL is
# fsync'd on every commit, and while it grows each fsync also commits the file's new size and
# blocks to the filesystem journal: timed around the fsync (the per-stage profile of
# `bench/server_vouchers.py`), ~210 µs in the first 1000 commits, ~130 µs with the WAL wrapping
# at 100 pages. A paid request rewrites the same few pages, so a checkpoint copies only those (its
# own fsync, amortized, costs ~1 µs a commit).
WAL_CHECKPOINT_PAGES = 100

_INT_FIELDS = ("salt", "open_slot", "deposit", "accepted", "spent", "settled", "refunded")


@dataclass(frozen=True)
class CachedEntry:
    """An idempotency row: the channel and the credential (by digest) that the response answered.

    `credential_digest` is None for rows written before schema 2, which cannot be matched."""

    channel_id: str
    credential_digest: str | None
    response: CachedResponse


@dataclass
class RequestWrites:
    """The number of the last batch one request committed (its task, and the tasks it starts,
    which inherit the context and so share this object); 0 when it committed none."""

    last: int = 0


_REQUEST_WRITES: ContextVar[RequestWrites | None] = ContextVar("request_writes", default=None)


class StoreLocked(RuntimeError):
    """Another server process already owns this database."""


class Store:
    """The server's SQLite database (see the module docstring for the guarantees)."""

    def __init__(self, conn: sqlite3.Connection, lock_file: IO[str] | None, path: Path | None):
        self._conn = conn
        self._lock_file = lock_file
        self.path = path
        self._wal: Path | None = None  # set in group-commit mode: the file `durable()` fsyncs
        self._wal_fd: int | None = None
        self._committed = 0  # batches committed so far
        self._synced = 0  # of those, how many are known to be on disk
        self._syncing: asyncio.Future[None] | None = None
        self._requests = 0  # HTTP requests in flight (`request_scope`)
        self.syncs = 0  # fsyncs done by `durable()` (the bench reports commits per fsync)
        # Decoded rows, kept in step with what is committed: channels (filled by reads, updated after
        # each COMMIT that wrote the row) and each channel's pending deliveries (filled by reads
        # outside a batch, dropped after each COMMIT that wrote a delivery of the channel). Every
        # paid request reads both; neither read may see a batch's uncommitted rows.
        self._channel_cache: dict[str, ChannelState] = {}
        self._pending_cache: dict[str, list[Delivery]] = {}
        self._in_batch = False

    @classmethod
    def open(cls, path: Path | None, synchronous: str = "FULL") -> Store:
        """Open (creating if needed) the database at `path`; `None` gives a throwaway in-memory one.

        `synchronous` FULL (default) survives machine crashes; NORMAL (WAL) survives process crashes
        and skips the fsync per commit."""
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be FULL or NORMAL")
        lock_file = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            lock_file = _lock_exclusively(path.with_name(path.name + ".lock"))
        conn = sqlite3.connect(
            ":memory:" if path is None else str(path), isolation_level=None, check_same_thread=False
        )
        if path is not None:
            os.chmod(path, 0o600)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.executescript(_SCHEMA)
        _add_credential_digest(conn)
        store = cls(conn, lock_file, path)
        store._check_version()
        return store

    def enable_group_commit(self) -> None:
        """Switch a file database in `synchronous=FULL` to group commit (module docstring): from now
        on its writes are durable only once `durable()` returns."""
        if self.path is None or self._conn.execute("PRAGMA synchronous").fetchone()[0] != 2:
            return  # in memory, or NORMAL (no fsync promised): nothing to group
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._wal = self.path.with_name(self.path.name + "-wal")

    @contextmanager
    def request_scope(self) -> Iterator[RequestWrites]:
        """One HTTP request in flight: counted (see `durable`), and the batches it commits (in
        its task or the tasks it starts) noted in the `RequestWrites` it yields."""
        writes = RequestWrites()
        token = _REQUEST_WRITES.set(writes)
        self._requests += 1
        try:
            yield writes
        finally:
            self._requests -= 1
            _REQUEST_WRITES.reset(token)

    async def durable(self, upto: int | None = None) -> None:
        """Return once every batch committed before this call (or only up to batch number `upto`)
        is on disk: one shared fsync. Batches land in order, so batch n durable means every
        batch before it is too.

        The fsync runs in a worker thread so that other requests are served (and their batches
        gathered for the next fsync) meanwhile; but when the request waiting is the only one in
        flight there is nothing to do meanwhile, and it runs right here: the hand-off to the
        thread and back cost more than the fsync itself (`bench/server_vouchers.py`: 5-10% of a
        sequential paid request)."""
        if self._wal is None:
            return
        target = self._committed if upto is None else min(upto, self._committed)
        while self._synced < target:
            if self._syncing is None or self._syncing.done():
                if self._requests == 1:
                    self._sync_here()
                    continue
                self._syncing = asyncio.ensure_future(self._sync())
            await asyncio.shield(self._syncing)

    async def _sync(self) -> None:
        upto = self._committed  # read on the loop, where commits happen: all of them are in the WAL
        await asyncio.to_thread(self._fsync_wal)
        self._mark_synced(upto)

    def _sync_here(self) -> None:
        upto = self._committed
        self._fsync_wal()
        self._mark_synced(upto)

    def _mark_synced(self, upto: int) -> None:
        self.syncs += 1
        self._synced = max(self._synced, upto)

    def _fsync_wal(self) -> None:
        assert self._wal is not None
        if self._wal_fd is None:
            self._wal_fd = os.open(self._wal, os.O_RDONLY)
        os.fsync(self._wal_fd)

    def close(self) -> None:
        self._conn.close()
        if self._wal_fd is not None:
            os.close(self._wal_fd)
            self._wal_fd = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # -- meta ---------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.batch() as b:
            b.put_meta(key, value)

    def _check_version(self) -> None:
        found = self.meta("schema_version")
        if found is None or int(found) < SCHEMA_VERSION:
            self.set_meta("schema_version", str(SCHEMA_VERSION))
        elif int(found) > SCHEMA_VERSION:
            raise RuntimeError(
                f"the server database uses schema {found}, newer than this mpp "
                f"({SCHEMA_VERSION}); upgrade mpp or use another --db"
            )

    # -- reads --------------------------------------------------------------------------------

    def channel(self, channel_id: str) -> ChannelState | None:
        cached = self._channel_cache.get(channel_id)
        if cached is not None:
            return cached
        row = self._conn.execute("SELECT body FROM channels WHERE channel_id = ?", (channel_id,)).fetchone()
        if row is None:
            return None
        state = decode_channel(row[0])
        if not self._in_batch:  # a batch's uncommitted row is not remembered
            self._channel_cache[channel_id] = state
        return state

    def channels(self, *statuses: Status) -> list[ChannelState]:
        """Every channel, or those in one of `statuses`."""
        if not statuses:
            return all_channels(self._conn)
        marks = ",".join("?" * len(statuses))
        rows = self._conn.execute(
            f"SELECT body FROM channels WHERE status IN ({marks})", [s.value for s in statuses]
        ).fetchall()
        return [decode_channel(r[0]) for r in rows]

    def channel_opened_by(self, challenge_id: str) -> str | None:
        row = self._conn.execute(
            "SELECT channel_id FROM channels WHERE opening_challenge_id = ?", (challenge_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def cached(self, challenge_id: str, key: str) -> CachedEntry | None:
        row = self._conn.execute(
            "SELECT channel_id, status, receipt, content_type, body, credential_digest FROM idempotency "
            "WHERE challenge_id = ? AND key = ?",
            (challenge_id, key),
        ).fetchone()
        if row is None:
            return None
        response = CachedResponse(int(row[1]), row[2], str(row[3]), bytes(row[4]))
        return CachedEntry(str(row[0]), None if row[5] is None else str(row[5]), response)

    def topup_seen(self, signature: str) -> str | None:
        row = self._conn.execute("SELECT channel_id FROM topups WHERE signature = ?", (signature,)).fetchone()
        return None if row is None else str(row[0])

    def delivery(self, delivery_id: str) -> Delivery | None:
        row = self._conn.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE delivery_id = ?", (delivery_id,)
        ).fetchone()
        return None if row is None else _delivery_from_row(row)

    def pending_deliveries(self, channel_id: str) -> list[Delivery]:
        """The channel's pending deliveries in sequence order (a copy: callers may keep it). Inside a
        batch this reads the database, which shows the batch's own writes."""
        cached = None if self._in_batch else self._pending_cache.get(channel_id)
        if cached is not None:
            return list(cached)
        rows = self._conn.execute(
            f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE channel_id = ? AND status = 'pending' "
            "ORDER BY sequence",
            (channel_id,),
        ).fetchall()
        found = [_delivery_from_row(r) for r in rows]
        if not self._in_batch:
            self._pending_cache[channel_id] = found
        return list(found)

    def pending_amount(self, channel_id: str) -> int:
        return sum(d.amount for d in self.pending_deliveries(channel_id))

    # -- writes -------------------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[Batch]:
        """One atomic transaction; commits when the block ends, rolls back if it raises. In group
        mode the commit is durable once `durable()` returns."""
        self._conn.execute("BEGIN IMMEDIATE")
        self._in_batch = True
        batch = Batch(self._conn, self._channel_cache)
        try:
            try:
                yield batch
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except BaseException:
                self._channel_cache.clear()
                self._pending_cache.clear()
                raise
        finally:
            self._in_batch = False
        self._committed += 1
        writes = _REQUEST_WRITES.get()
        if writes is not None:
            writes.last = self._committed
        self._channel_cache.update(batch.channels_written)
        for channel_id in batch.deliveries_written:
            self._pending_cache.pop(channel_id, None)

    def forget_details(self, channel_id: str) -> None:
        """Drop a finished channel's idempotency cache and delivery rows (its record stays)."""
        with self.batch() as b:
            b.forget_details(channel_id)

    def save(self, state: ChannelState) -> None:
        with self.batch() as b:
            b.put_channel(state)


class Batch:
    """The writes allowed inside `Store.batch()`: each names the rows it touches, so the store
    knows which of its decoded rows the COMMIT makes stale (there is no raw SQL to guess from)."""

    def __init__(self, conn: sqlite3.Connection, committed: dict[str, ChannelState]):
        self._conn = conn
        self._committed = committed  # the store's decoded rows, as committed (read only here)
        self.channels_written: dict[str, ChannelState] = {}
        self.deliveries_written: set[str] = set()  # channels whose delivery rows changed

    def put_meta(self, key: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def forget_details(self, channel_id: str) -> None:
        """Drop a finished channel's idempotency cache and delivery rows."""
        self.deliveries_written.add(channel_id)
        self._conn.execute("DELETE FROM idempotency WHERE channel_id = ?", (channel_id,))
        self._conn.execute("DELETE FROM deliveries WHERE channel_id = ?", (channel_id,))

    def put_channel(self, state: ChannelState) -> None:
        """Insert or update the row. When the row is known with the same status (every paid request),
        only its body is rewritten: leaving the status index alone halves what the commit writes."""
        row = self.channels_written.get(state.channel_id) or self._committed.get(state.channel_id)
        self.channels_written[state.channel_id] = state
        if row is not None and row.status is state.status:
            self._conn.execute(
                "UPDATE channels SET body = ? WHERE channel_id = ?", (encode_channel(state), state.channel_id)
            )
            return
        self._conn.execute(
            "INSERT INTO channels (channel_id, opening_challenge_id, status, body) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(channel_id) DO UPDATE SET status = excluded.status, body = excluded.body",
            (state.channel_id, state.opening_challenge_id, state.status.value, encode_channel(state)),
        )

    def put_cached(
        self,
        challenge_id: str,
        key: str,
        channel_id: str,
        response: CachedResponse,
        credential_digest: str | None = None,
    ) -> None:
        self._conn.execute(
            "INSERT INTO idempotency (challenge_id, key, channel_id, status, receipt, content_type, body, "
            "credential_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                challenge_id,
                key,
                channel_id,
                response.status,
                response.receipt,
                response.content_type,
                response.body,
                credential_digest,
            ),
        )

    def put_topup(self, signature: str, channel_id: str, amount: int) -> None:
        self._conn.execute(
            "INSERT INTO topups (signature, channel_id, amount) VALUES (?, ?, ?)",
            (signature, channel_id, str(amount)),
        )

    def put_delivery(self, d: Delivery) -> None:
        self.deliveries_written.add(d.channel_id)
        self._conn.execute(
            f"INSERT OR REPLACE INTO deliveries ({_DELIVERY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                d.delivery_id,
                d.channel_id,
                d.stream_id,
                d.sequence,
                str(d.amount),
                d.expires_at,
                d.status,
                None if d.cumulative is None else str(d.cumulative),
                d.voucher_signature,
            ),
        )


_DELIVERY_COLUMNS = (
    "delivery_id, channel_id, stream_id, sequence, amount, expires_at, status, cumulative, voucher_signature"
)


def _delivery_from_row(row: tuple[Any, ...]) -> Delivery:
    return Delivery(
        delivery_id=row[0],
        channel_id=row[1],
        stream_id=row[2],
        sequence=int(row[3]),
        amount=int(row[4]),
        expires_at=int(row[5]),
        status=row[6],
        cumulative=None if row[7] is None else int(row[7]),
        voucher_signature=row[8],
    )


_CHANNEL_FIELDS = tuple(f.name for f in fields(ChannelState))


def encode_channel(state: ChannelState) -> str:
    """JSON text of a channel row; u64 values as decimal strings. Written once per paid request,
    so it starts from the instance's own field dict (a frozen dataclass without slots keeps exactly
    its fields there) rather than reading the fields one by one."""
    body: dict[str, Any] = dict(state.__dict__)
    for name in _INT_FIELDS:
        if body[name] is not None:
            body[name] = str(body[name])
    body["status"] = state.status.value
    body["splits"] = [[r, bps] for r, bps in state.splits]
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def all_channels(conn: sqlite3.Connection) -> list[ChannelState]:
    """Every channel row of a server database, decoded (the store's, and the read-only view of
    `mpp serve channels`, which opens the file without the store's lock)."""
    return [decode_channel(r[0]) for r in conn.execute("SELECT body FROM channels").fetchall()]


def all_meta(conn: sqlite3.Connection) -> dict[str, str]:
    """The facts the server pinned in its database (`meta`: schema version, network, decimals)."""
    return {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta").fetchall()}


def decode_channel(text: str) -> ChannelState:
    body = json.loads(text)
    values: dict[str, Any] = {k: v for k, v in body.items() if k in _CHANNEL_FIELDS}
    for name in _INT_FIELDS:
        if values.get(name) is not None:
            values[name] = int(values[name])
    values["status"] = Status(values["status"])
    values["splits"] = tuple((r, int(bps)) for r, bps in values["splits"])
    return ChannelState(**values)


def _add_credential_digest(conn: sqlite3.Connection) -> None:
    """Schema 1 -> 2: idempotency rows gain `credential_digest` (old rows keep NULL: never replayed)."""
    columns = {str(row[1]) for row in conn.execute("PRAGMA table_info(idempotency)")}
    if "credential_digest" not in columns:
        conn.execute("ALTER TABLE idempotency ADD COLUMN credential_digest TEXT")


def _lock_exclusively(path: Path) -> IO[str]:
    handle = open(path, "a+")  # noqa: SIM115 - held open for the life of the store
    if not flock_nonblocking(handle.fileno()):
        handle.close()
        raise StoreLocked(f"another mpp serve is using {path.with_suffix('')}")
    os.chmod(path, 0o600)
    return handle
