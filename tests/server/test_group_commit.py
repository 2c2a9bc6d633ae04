"""Group commit: concurrent batches share one fsync of the WAL, a batch is reported durable only by
an fsync that began after it committed, and `mpp serve` releases a paid response only once its
state is on disk (a SIGKILL right after the responses loses none of them)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import signal
import sqlite3
import threading
from pathlib import Path

import httpx

from mppcli.protocol.auth import Credential, format_authorization
from mppcli.server.store import Store, decode_channel
from tests.server.harness import ServerProcess
from tests.server.payer import Payer, receipt_of
from tests.server.test_store import make_state


def rows(path: Path) -> dict[str, int]:
    """channel id -> accepted, read by a separate connection."""
    conn = sqlite3.connect(path)
    try:
        found = {cid: decode_channel(body)
                 for cid, body in conn.execute("SELECT channel_id, body FROM channels")}
    finally:
        conn.close()
    return {cid: state.accepted for cid, state in found.items()}


def test_concurrent_batches_share_one_fsync(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    store.enable_group_commit()

    async def pay(i: int) -> None:
        with store.batch() as b:
            b.put_channel(make_state(f"C{i}", accepted=i))
        await store.durable()

    async def main() -> None:
        await asyncio.gather(*(pay(i) for i in range(20)))

    asyncio.run(main())
    assert store.syncs == 1  # twenty commits, one fsync
    store.close()
    assert rows(tmp_path / "s.db") == {f"C{i}": i for i in range(20)}


class HeldStore(Store):
    """A store whose WAL fsync waits for the test's go-ahead (the fsync itself is real)."""

    go: threading.Event
    started: threading.Event

    def _fsync_wal(self) -> None:
        self.started.set()
        self.go.wait(30)
        super()._fsync_wal()


def test_a_batch_committed_during_an_fsync_waits_for_the_next_one(tmp_path: Path) -> None:
    store = HeldStore.open(tmp_path / "s.db")
    assert isinstance(store, HeldStore)
    store.go, store.started = threading.Event(), threading.Event()
    store.enable_group_commit()
    done: list[tuple[str, int]] = []

    async def commit_and_wait(name: str) -> None:
        with store.batch() as b:
            b.put_channel(make_state(name))
        await store.durable()
        done.append((name, store.syncs))

    async def main() -> None:
        first = asyncio.create_task(commit_and_wait("A"))
        await asyncio.to_thread(store.started.wait, 30)  # the fsync for A is under way
        second = asyncio.create_task(commit_and_wait("B"))  # B commits after that fsync began
        await asyncio.sleep(0)
        store.go.set()
        await asyncio.gather(first, second)

    asyncio.run(main())
    assert done == [("A", 1), ("B", 2)]
    store.close()


def test_nothing_to_group_without_fsync(tmp_path: Path) -> None:
    for store in (Store.open(tmp_path / "n.db", "NORMAL"), Store.open(None)):
        store.enable_group_commit()
        with store.batch() as b:
            b.put_channel(make_state())
        asyncio.run(store.durable())
        assert store.syncs == 0
        store.close()


def test_paid_responses_survive_a_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "server.db"
    args = ("--ephemeral", "--db", str(db), "--chain-watch-interval", "3600")
    server = ServerProcess.start(tmp_path / "home", *args)
    try:
        payers = [Payer(server) for _ in range(8)]
        for payer in payers:
            assert payer.open().status_code == 200
        challenges = [payer.challenge()[0] for payer in payers]

        async def pay_all() -> list[int]:
            async def pay(payer: Payer, challenge: object, http: httpx.AsyncClient) -> int:
                accepted = 0
                for k in range(1, 6):
                    auth = format_authorization(
                        Credential(challenge, payer.voucher_payload(payer.voucher(k * 10_000)))  # type: ignore[arg-type]
                    )
                    response = await http.get(server.url + "/paid", headers={"Authorization": auth})
                    accepted = receipt_of(response).accepted_cumulative or 0
                return accepted

            async with httpx.AsyncClient(timeout=60) as http:
                pairs = zip(payers, challenges, strict=True)
                return await asyncio.gather(*(pay(p, c, http) for p, c in pairs))

        accepted = asyncio.run(pay_all())
        server.stop(signal.SIGKILL)
    finally:
        server.stop()
    on_disk = rows(db)
    assert [on_disk[str(p.channel_id)] for p in payers] == accepted == [50_000] * 8


def test_a_response_head_waits_for_every_batch_and_its_body_for_its_own(tmp_path: Path) -> None:
    """DurableResponses: the head of a response waits for everything committed so far (it may
    replay rows another request wrote); a later body message waits only for this request's own
    batches, so a commit answer does not wait for a stream's next charge, while a stream chunk
    still waits for the charge that pays for it."""
    from starlette.types import Message, Receive, Scope, Send

    from mppcli.server.durable import DurableResponses

    store = Store.open(tmp_path / "s.db")
    store.enable_group_commit()
    sent: list[tuple[bytes, int]] = []  # (body, or b"head"; fsyncs done when it left)

    def write(name: str) -> None:
        with store.batch() as b:
            b.put_channel(make_state(name))

    def another_request_writes(name: str) -> None:
        contextvars.Context().run(write, name)  # outside this request's context

    async def stream(scope: Scope, receive: Receive, send: Send) -> None:
        write("own-1")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        another_request_writes("theirs")
        await send({"type": "http.response.body", "body": b"nothing new of its own", "more_body": True})
        write("own-2")
        await send({"type": "http.response.body", "body": b"after its own write", "more_body": False})

    async def replay(scope: Scope, receive: Receive, send: Send) -> None:
        another_request_writes("cached")  # this response writes nothing itself
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def record(message: Message) -> None:
        sent.append((message.get("body", b"head"), store.syncs))

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def main() -> None:
        for app in (stream, replay):
            await DurableResponses(app, store)({"type": "http"}, receive, record)

    asyncio.run(main())
    assert sent == [
        (b"head", 1),  # own-1 on disk before the head left
        (b"nothing new of its own", 1),  # did not wait for "theirs"
        (b"after its own write", 2),  # own-2 (and "theirs" before it) on disk first
        (b"head", 3),  # a head waits for another request's batch too
    ]
    store.close()


class WhereStore(Store):
    """A store that notes which thread ran each (real) WAL fsync."""

    threads: list[int]

    def _fsync_wal(self) -> None:
        self.threads.append(threading.get_ident())
        super()._fsync_wal()


def test_the_only_request_in_flight_fsyncs_on_the_loop_and_others_in_a_worker(tmp_path: Path) -> None:
    """Alone, a request has nobody to share the fsync with and nothing to serve meanwhile, so the
    hand-off to a thread is pure cost; with company, the loop keeps serving during the fsync."""
    store = WhereStore.open(tmp_path / "s.db")
    assert isinstance(store, WhereStore)
    store.threads = []
    store.enable_group_commit()

    async def pay(name: str, requests: int) -> None:
        with contextlib.ExitStack() as scopes:
            for _ in range(requests):
                scopes.enter_context(store.request_scope())
            with store.batch() as b:
                b.put_channel(make_state(name))
            await store.durable()

    async def main() -> int:
        await pay("alone", 1)
        await pay("with company", 2)
        await pay("outside any request", 0)
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert [thread == loop_thread for thread in store.threads] == [True, False, False]
    store.close()
    assert rows(tmp_path / "s.db") == {"alone": 0, "with company": 0, "outside any request": 0}
