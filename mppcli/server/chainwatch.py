"""A pushed view of the channel accounts the server meters (`accountSubscribe` over the RPC's
websocket), so spec voucher checks 6-7 need no RPC round trip per voucher.

Freshness argument. A channel's view is trusted only when all of these hold:
1. the websocket is connected and its subscription to the channel was confirmed;
2. after that confirmation, either a notification arrived (it carries the whole account as of a
   write made since the subscription began), or a `getAccountInfo` read seeded the view and no
   notification arrived while that read was in flight (otherwise the read may be older than the
   notification; the notification itself then seeds the view);
3. every notification since replaced the view (the cluster notifies on every write of the
   account, in order).
So the view is the confirmed state as of the last notification delivered, the same as a read
issued now minus the websocket's delivery time (on loopback, well under a millisecond; on a
cluster, the notification arrives with the confirmation). Anything else - not subscribed yet,
subscription pending, connection dropped - makes `view()` answer None and the caller reads over
RPC as before (polling). A dropped connection forgets every view at once and reconnects with
backoff, re-subscribing the channels it watched; a connection that dies without a close frame is
found by websocket pings within 2 x PING_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solders.pubkey import Pubkey

from mppcli.rpc import AccountInfo

RECONNECT_MIN = 0.2
RECONNECT_MAX = 5.0
PING_SECONDS = 5.0
MAX_WATCHED = 10_000  # subscriptions held at once; beyond it channels are read per voucher


@dataclass
class _Watched:
    subscription: Any = None  # the confirmed subscription handle on the current connection
    generation: int = 0  # notifications received since subscribing
    seeded: bool = False
    account: AccountInfo | None = None
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)  # set while `subscription` is


class ChannelWatch:
    """Subscriptions to channel accounts over one websocket, with the rules in the module docstring."""

    def __init__(self, ws_url: str, log: Callable[[str], None] = lambda line: None,
                 connect: Callable[[str], Any] | None = None) -> None:
        self.ws_url = ws_url
        self._log = log
        self._connect = connect or _solana_ws
        self._watched: dict[str, _Watched] = {}
        self._by_subscription: dict[int, str] = {}
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._failures = 0
        # Whether a pushed account is still worth watching (ChainPort: an Open or Closing channel);
        # the others are forgotten, so subscriptions do not pile up over the server's life.
        self.keep: Callable[[str, AccountInfo | None], bool] = lambda channel_id, account: True

    # --- the view ----------------------------------------------------------------------------
    def view(self, channel_id: str) -> tuple[bool, AccountInfo | None]:
        """(True, account or None when gone) when the pushed view is trustworthy, else (False, None)."""
        watched = self._watched.get(channel_id)
        if self._ws is None or watched is None or watched.subscription is None or not watched.seeded:
            return False, None
        return True, watched.account

    async def subscribed(self, channel_id: str, patience: float) -> None:
        """Start watching a channel and wait (at most `patience` seconds) until its subscription is
        confirmed: a read made after that seeds the view (the server's read of a channel it just
        opened), so its first voucher needs no read of its own."""
        self.before_read(channel_id)
        watched = self._watched.get(channel_id)
        if watched is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watched.confirmed.wait(), patience)

    def before_read(self, channel_id: str) -> int | None:
        """Called before an RPC read of the channel: a token for `seed`, when the read may seed the
        view (subscription confirmed); otherwise starts watching the channel and returns None."""
        self._ensure_running()
        watched = self._watched.get(channel_id)
        if watched is None:
            if len(self._watched) >= MAX_WATCHED:
                return None
            watched = self._watched[channel_id] = _Watched()
            self._subscribe_soon(channel_id)
        if self._ws is None or watched.subscription is None:
            return None
        return watched.generation

    def seed(self, channel_id: str, token: int | None, account: AccountInfo | None) -> None:
        """The result of a read that began with `token` (rule 2 of the module docstring)."""
        watched = self._watched.get(channel_id)
        if token is None or watched is None or watched.subscription is None or watched.generation != token:
            return
        watched.account, watched.seeded = account, True

    def forget(self, channel_id: str) -> None:
        """Stop watching a channel the server is done with."""
        watched = self._watched.pop(channel_id, None)
        if watched is not None and watched.subscription is not None:
            self._by_subscription.pop(watched.subscription.subscription_id, None)
            ws = self._ws
            if ws is not None:
                self._spawn(_unsubscribe(ws, watched.subscription))

    # --- the connection ----------------------------------------------------------------------
    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="mpp-chain-watch")

    async def close(self) -> None:
        tasks = [t for t in (self._task, *self._pending) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self) -> None:
        delay = RECONNECT_MIN
        while True:
            try:
                async with self._connect(self.ws_url) as ws:
                    self._ws = ws
                    self._failures, delay = 0, RECONNECT_MIN
                    for channel_id in list(self._watched):
                        self._subscribe_soon(channel_id)
                    await self._receive(ws)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of the websocket: fall back to reads, retry
                self._failures += 1
                if self._failures == 1:
                    self._log(f"chain watch: websocket {self.ws_url} unavailable ({type(exc).__name__}: "
                              f"{exc}); reading channels over RPC per voucher until it is back")
            finally:
                self._drop_views()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX)

    async def _receive(self, ws: Any) -> None:
        while True:
            note = await ws.recv()
            channel_id = self._by_subscription.get(note.subscription)
            watched = self._watched.get(channel_id) if channel_id is not None else None
            if watched is None:
                continue
            value = note.result.value
            watched.generation += 1
            watched.account = (None if value is None or value.lamports == 0
                               else AccountInfo(value.owner, int(value.lamports), bytes(value.data)))
            watched.seeded = True  # rule 2: a write since the subscription, whole
            if channel_id is not None and not self.keep(channel_id, watched.account):
                self.forget(channel_id)

    def _drop_views(self) -> None:
        self._ws = None
        self._by_subscription.clear()
        for watched in self._watched.values():
            watched.subscription, watched.seeded, watched.account = None, False, None
            watched.confirmed.clear()

    def _subscribe_soon(self, channel_id: str) -> None:
        if self._ws is not None:
            self._spawn(self._subscribe(self._ws, channel_id))

    async def _subscribe(self, ws: Any, channel_id: str) -> None:
        try:
            subscription = await ws.account_subscribe(pubkey=Pubkey.from_string(channel_id),
                                                      commitment="confirmed", encoding="base64")
        except Exception:  # the connection failed; `_run` notices and re-subscribes after reconnecting
            return
        watched = self._watched.get(channel_id)
        if ws is not self._ws or watched is None:
            with contextlib.suppress(Exception):
                await ws.unsubscribe(subscription)
            return
        watched.subscription, watched.generation, watched.seeded = subscription, 0, False
        self._by_subscription[subscription.subscription_id] = channel_id
        watched.confirmed.set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)


async def _unsubscribe(ws: Any, subscription: Any) -> None:
    with contextlib.suppress(Exception):
        await ws.unsubscribe(subscription)


def _solana_ws(url: str) -> Any:
    from solana.rpc.websocket_api import SolanaWsClient

    # Pings bound how long a silently dead connection (no close frame) can pass for a live one.
    return SolanaWsClient(url, ping_interval=PING_SECONDS, ping_timeout=PING_SECONDS)
