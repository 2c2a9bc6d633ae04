"""Background duties of a running server (asyncio tasks started with the app).

- Idle close (spec: Server-Initiated Idle Close): a channel with no activity for its negotiated
  idle timeout is closed cooperatively with its highest accepted voucher.
- Re-drive: a channel left `closing` (settlement failed, RPC down, crash) is settled again.
- Chain watch: open channels are re-read every few seconds; a forced close (`requestClose`) stops
  service at once and is answered within the grace period by `settleAndSeal` with the highest
  voucher; a deposit raised on chain is picked up.
- Reclaim sweep: `Distributed` channels whose open-slot window has passed are deallocated in
  batches of `reclaim`, returning the PDA rent to the operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable

from solders.hash import Hash
from solders.pubkey import Pubkey

from mppcli.chain.channel import ChannelStatus
from mppcli.chain.constants import OPEN_SLOT_WINDOW
from mppcli.chain.transactions import build_reclaim_transaction
from mppcli.chain.txcodec import partial_sign
from mppcli.errors import MalformedError, RpcError
from mppcli.server.chainport import ChainMismatch
from mppcli.server.context import ServerContext, sync_with_chain
from mppcli.server.settle import close_for_server, is_idle
from mppcli.server.state import ChannelState, Status

REDRIVE_SECONDS = 10.0
RECLAIM_BATCH = 8


class Watchdog:
    def __init__(self, ctx: ServerContext):
        self.ctx = ctx
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        c = self.ctx.config
        self._tasks = [
            asyncio.create_task(self._every(c.idle_check_interval, self.close_idle)),
            asyncio.create_task(self._every(REDRIVE_SECONDS, self.redrive)),
            asyncio.create_task(self._every(c.chain_watch_interval, self.watch_chain)),
            asyncio.create_task(self._every(c.reclaim_interval, self.reclaim)),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _every(self, seconds: float, duty: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await duty()
            except (RpcError, MalformedError, ChainMismatch) as exc:
                self.ctx.log(f"watchdog: {exc}")
            await asyncio.sleep(seconds)

    async def close_idle(self) -> None:
        now = self.ctx.clock()
        for state in self.ctx.store.channels(Status.OPEN):
            if is_idle(state, now):
                self.ctx.log(f"channel {state.channel_id} idle for {state.idle_timeout}s: closing")
                await close_for_server(self.ctx, state.channel_id, "idle")

    async def redrive(self) -> None:
        for state in self.ctx.store.channels(Status.CLOSING):
            await close_for_server(self.ctx, state.channel_id, state.close_reason or "redrive")

    async def watch_chain(self) -> None:
        for state in self.ctx.store.channels(Status.OPEN):
            await self._watch_one(state)

    async def _watch_one(self, state: ChannelState) -> None:
        async with self.ctx.locks(state.channel_id):
            current = self.ctx.store.channel(state.channel_id)
            if current is None or current.status is not Status.OPEN:
                return
            # The pushed view when the websocket is live (no read); a read when it is not (polling).
            synced = sync_with_chain(current, await self.ctx.chain.live_channel(current.channel_id))
            if synced != current:
                self.ctx.store.save(synced)
                self.ctx.locks(state.channel_id).notify_all()
        if synced.status is Status.CLOSING:
            self.ctx.log(f"channel {state.channel_id} is closing on chain ({synced.close_reason}): settling")
            await close_for_server(self.ctx, state.channel_id, synced.close_reason or "forced")

    async def reclaim(self) -> None:
        waiting = [s for s in self.ctx.store.channels(Status.CLOSED) if not s.reclaimed]
        if not waiting:
            return
        slot = await self.ctx.chain.slot()
        ready: list[ChannelState] = []
        for state in waiting:
            account = await self.ctx.chain.channel(state.channel_id)
            if account is None:
                self._done(state)
            elif account.status is ChannelStatus.DISTRIBUTED and slot > account.open_slot + OPEN_SLOT_WINDOW:
                ready.append(state)
        for start in range(0, len(ready), RECLAIM_BATCH):
            await self._reclaim_batch(ready[start : start + RECLAIM_BATCH])

    def _done(self, state: ChannelState) -> None:
        """The channel is gone from the chain: keep its record, drop its retry and delivery rows."""
        self.ctx.store.save(dataclasses.replace(state, reclaimed=True))
        self.ctx.store.forget_details(state.channel_id)

    async def _reclaim_batch(self, batch: list[ChannelState]) -> None:
        operator = self.ctx.config.operator
        blockhash, _ = await self.ctx.chain.blockhash()
        targets = [(Pubkey.from_string(s.channel_id), Pubkey.from_string(s.rent_payer)) for s in batch]
        tx = build_reclaim_transaction(
            targets,
            Hash.from_string(blockhash),
            operator.pubkey(),
            Pubkey.from_string(self.ctx.config.program_id),
        )
        submitted = await self.ctx.chain.submit(partial_sign(tx, [operator]))
        if not submitted.ok:
            self.ctx.log(f"reclaim of {len(batch)} channels failed: {submitted.error}")
            return
        for state in batch:
            self._done(state)
        self.ctx.log(f"reclaimed {len(batch)} channels (tx {submitted.signature})")
