"""The websocket hub of a ledger must not outlive it (`mppcli.ledger.pubsub.hub_for`)."""

from __future__ import annotations

import gc
import weakref

from mppcli.ledger import pubsub
from mppcli.ledger.core import Ledger


def test_a_ledger_that_answered_rpc_is_freed_with_its_hub() -> None:
    ledger = Ledger.open(None)
    pubsub.hub_for(ledger).count("getSlot")  # what every JSON-RPC request does
    gone = weakref.ref(ledger)
    ledger.close()
    del ledger
    gc.collect()
    assert gone() is None


def test_flushed_sleeps_until_the_last_connection_drains_or_its_patience_runs_out() -> None:
    import asyncio

    async def scenario() -> None:
        ledger = Ledger.open(None)
        hub = pubsub.hub_for(ledger)
        loop = asyncio.get_running_loop()
        first, second = hub.connect(loop), hub.connect(loop)
        await hub.flushed()  # nothing queued: answers at once
        first.push("a")
        second.push("b")
        waiting = asyncio.create_task(hub.flushed(patience=3600))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not waiting.done()
        first.sent()
        for _ in range(20):
            await asyncio.sleep(0)
        assert not waiting.done()  # `second` still has a message on its way
        second.sent()
        await waiting
        second.push("c")
        stuck = asyncio.create_task(hub.flushed(patience=0.01))
        await stuck  # a subscriber that never drains delays the answer by `patience` only
        assert hub._flush_waiters == []
        hub.disconnect(second)
        await hub.flushed()  # a gone connection's queue is awaited no more
        ledger.close()

    asyncio.run(scenario())
