"""The SQLite store: rows round-trip exactly, batches are atomic, state survives reopening."""

from __future__ import annotations

import dataclasses
import multiprocessing
from pathlib import Path

import pytest

from mppcli.server.state import CachedResponse, ChannelState, Delivery, Status
from mppcli.server.store import CachedEntry, Store, StoreLocked

U64_MAX = (1 << 64) - 1


def make_state(channel_id: str = "Chan111", **changes: object) -> ChannelState:
    base = ChannelState(
        channel_id=channel_id,
        payer="Payer1",
        payee="Payee1",
        mint="Mint1",
        token_program="Tok1",
        authorized_signer="Signer1",
        salt=U64_MAX,
        open_slot=123,
        grace_period=900,
        splits=(("R1", 250), ("R2", 100)),
        rent_payer="Op1",
        voucher_signer="client",
        opening_challenge_id=f"ch-{channel_id}",
        authentication=None,
        deposit=1_000_000,
        idle_timeout=600,
        last_activity_at=1.5,
        created_at=1.0,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_channel_round_trips_u64_values_beyond_sqlite_int64(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    state = make_state(
        accepted=U64_MAX - 1,
        spent=U64_MAX - 2,
        highest_voucher={"signature": "x"},
        authentication={"type": "proof", "payer": "p"},
        status=Status.CLOSING,
    )
    store.save(state)
    assert store.channel("Chan111") == state
    assert store.channel("missing") is None
    assert store.channel_opened_by("ch-Chan111") == "Chan111"


def test_state_survives_reopening_the_database(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store.open(path)
    store.save(make_state("A"))
    with store.batch() as b:
        b.put_topup("sig1", "A", 500)
        b.put_delivery(Delivery("A:1", "A", 1, 700, 99))
        b.put_cached("ch", "key", "A", CachedResponse(200, "rcpt", "application/json", b"{}"), "d1")
    store.close()
    again = Store.open(path)
    assert again.channel("A") == make_state("A")
    assert again.topup_seen("sig1") == "A"
    assert again.pending_amount("A") == 700
    assert again.cached("ch", "key") == CachedEntry(
        "A", "d1", CachedResponse(200, "rcpt", "application/json", b"{}")
    )
    assert [c.channel_id for c in again.channels(Status.OPEN)] == ["A"]
    assert again.channels(Status.CLOSED) == []


def test_a_failing_batch_leaves_no_trace(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    store.save(make_state("A"))
    with pytest.raises(RuntimeError), store.batch() as b:
        b.put_channel(make_state("A", spent=10))
        b.put_topup("sig", "A", 1)
        raise RuntimeError("boom")
    assert store.channel("A") == make_state("A")
    assert store.topup_seen("sig") is None


def test_a_duplicate_topup_signature_aborts_the_whole_batch(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    store.save(make_state("A"))
    with store.batch() as b:
        b.put_topup("sig", "A", 1)
    with pytest.raises(Exception, match="UNIQUE"), store.batch() as b:
        b.put_channel(make_state("A", deposit=5))
        b.put_topup("sig", "A", 1)
    assert store.channel("A").deposit == 1_000_000  # type: ignore[union-attr]


def _try_open(path: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        Store.open(Path(path))
        queue.put("opened")
    except StoreLocked as exc:
        queue.put(str(exc))


def test_a_second_process_cannot_open_the_same_database(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store.open(path)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_try_open, args=(str(path), queue))
    proc.start()
    proc.join(30)
    assert "another mpp serve" in queue.get(timeout=5)
    store.close()


def test_database_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "s.db"
    Store.open(path)
    assert path.stat().st_mode & 0o777 == 0o600


def test_forgetting_a_finished_channel_drops_only_its_retry_and_delivery_rows(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    for channel in ("A", "B"):
        store.save(make_state(channel))
        with store.batch() as b:
            b.put_delivery(Delivery(f"{channel}:1", channel, 1, 5, 99))
            b.put_cached("ch", f"key-{channel}", channel, CachedResponse(200, None, "text/plain", b"x"))
    store.forget_details("A")
    assert store.channel("A") == make_state("A")
    assert store.delivery("A:1") is None and store.cached("ch", "key-A") is None
    assert store.delivery("B:1") is not None and store.cached("ch", "key-B") is not None


def test_a_schema_1_database_gains_credential_digests_and_keeps_its_rows(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('schema_version', '1');"
        "CREATE TABLE idempotency (challenge_id TEXT NOT NULL, key TEXT NOT NULL, channel_id TEXT NOT NULL,"
        " status INTEGER NOT NULL, receipt TEXT, content_type TEXT NOT NULL, body BLOB NOT NULL,"
        " PRIMARY KEY (challenge_id, key));"
        "INSERT INTO idempotency VALUES ('ch', 'old', 'A', 200, NULL, 'text/plain', x'78');"
    )
    conn.commit()
    conn.close()
    store = Store.open(path)
    assert store.meta("schema_version") == "2"
    assert store.cached("ch", "old") == CachedEntry("A", None, CachedResponse(200, None, "text/plain", b"x"))
    with store.batch() as b:
        b.put_cached("ch", "new", "A", CachedResponse(200, None, "text/plain", b"y"), "digest")
    entry = store.cached("ch", "new")
    assert entry is not None and entry.credential_digest == "digest"


def test_headroom_counts_what_a_stream_spent_ahead_of_its_vouchers() -> None:
    """A reservation may not take deposit a metered stream already delivered unvouched."""
    state = make_state(deposit=1_000, accepted=300, spent=700)
    assert state.headroom() == 300
    assert state.headroom(pending=100) == 200
    assert make_state(deposit=1_000, accepted=700, spent=300).headroom(pending=400) == 0
