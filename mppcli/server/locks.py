"""Per-channel serialization (spec: Concurrency and Idempotency).

Proof verification, voucher acceptance, debits, top-ups, commits and close of one channel run one
at a time under that channel's lock; different channels proceed concurrently. Each lock comes with
a condition so a paused metered stream can wait for a commit or a top-up on its channel.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable


class ChannelLocks:
    """One `asyncio.Condition` (with its lock) per channel id, created on first use and forgotten
    once nobody holds or awaits it (a long-running server must not keep one per channel forever)."""

    def __init__(self) -> None:
        self._conditions: weakref.WeakValueDictionary[str, asyncio.Condition] = weakref.WeakValueDictionary()

    def __call__(self, channel_id: str) -> asyncio.Condition:
        """The condition guarding `channel_id`; `async with` it to hold the channel's lock."""
        cond = self._conditions.get(channel_id)
        if cond is None:
            cond = self._conditions[channel_id] = asyncio.Condition()
        return cond

    async def notify(self, channel_id: str) -> None:
        """Wake every waiter of the channel (after a commit, top-up or close)."""
        cond = self(channel_id)
        async with cond:
            cond.notify_all()


async def wait_until(cond: asyncio.Condition, predicate: Callable[[], bool], timeout: float) -> bool:
    """With `cond` held, wait up to `timeout` seconds for `predicate()`; return whether it holds."""
    if predicate():
        return True
    try:
        await asyncio.wait_for(cond.wait_for(predicate), timeout)
    except TimeoutError:
        return predicate()
    return True
