"""What the server asks of the cluster, over `mppcli.rpc.Rpc` (the one RPC port).

Keeps the server's RPC use in one place: a recent blockhash for challenges (cached for a second,
so a burst of 402s costs one call), the current slot, reading and decoding `Channel` accounts
(owner checked), and submit-then-confirm for the transactions the server signs or co-signs.

`live_channel` is the per-voucher freshness check: it answers from the websocket-pushed view
(`mppcli.server.chainwatch`) when that view is trustworthy, and otherwise reads over RPC (and the
read seeds the view). `channel` always reads.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from mppcli.chain.channel import ChannelAccount, ChannelStatus, decode_channel
from mppcli.errors import MalformedError, RpcError
from mppcli.rpc import AccountInfo
from mppcli.server.chainwatch import ChannelWatch

BLOCKHASH_CACHE_SECONDS = 1.0
SUBSCRIBE_PATIENCE = 2.0  # an open waits this long at most for its channel's subscription


class ChainMismatch(Exception):
    """An account exists at a channel address but is not a Channel of our program."""


@dataclass(frozen=True)
class Submitted:
    """A transaction the cluster accepted and confirmed (`signature`), or refused (`error`)."""

    signature: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class ChainPort:
    """The server's view of one cluster through one RPC endpoint."""

    def __init__(
        self,
        rpc: Any,
        program_id: str,
        confirm_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        watch: ChannelWatch | None = None,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ):
        self.rpc = rpc
        self.program_id = Pubkey.from_string(program_id)
        self.confirm_timeout = confirm_timeout
        self._clock = clock
        self._blockhash: tuple[float, str, int] | None = None
        self.watch = watch
        self._before_send = before_send  # the store's durability barrier (group commit)
        # the pushed account object and its decoding: a channel's vouchers decode it once
        self._decoded: dict[str, tuple[AccountInfo | None, ChannelAccount | None]] = {}
        if watch is not None:
            watch.keep = self._worth_watching

    async def close(self) -> None:
        if self.watch is not None:
            await self.watch.close()

    async def blockhash(self) -> tuple[str, int]:
        """(recentBlockhash, its context slot) from one `getLatestBlockhash`, reused for a second."""
        now = self._clock()
        if self._blockhash is not None and now - self._blockhash[0] < BLOCKHASH_CACHE_SECONDS:
            return self._blockhash[1], self._blockhash[2]
        blockhash, slot = await self.rpc.latest_blockhash()
        self._blockhash = (now, str(blockhash), int(slot))
        return str(blockhash), int(slot)

    async def slot(self) -> int:
        return int(await self.rpc.slot())

    async def genesis_hash(self) -> str:
        return str(await self.rpc.genesis_hash())

    async def channel(self, channel_id: str) -> ChannelAccount | None:
        """The decoded account read now, None when the address holds nothing; ChainMismatch when not ours."""
        return self._decode(channel_id, await self.rpc.account(Pubkey.from_string(channel_id)))

    async def live_channel(self, channel_id: str) -> ChannelAccount | None:
        """Like `channel`, from the pushed view when it is trustworthy (no round trip)."""
        if self.watch is None:
            return await self.channel(channel_id)
        fresh, pushed = self.watch.view(channel_id)
        if fresh:
            decoded = self._decoded.get(channel_id)
            if decoded is not None and decoded[0] is pushed:  # unchanged since the last voucher
                return decoded[1]
            account = self._decode(channel_id, pushed)
            self._decoded[channel_id] = (pushed, account)
            return account
        return await self.read_seeding(channel_id)

    async def read_seeding(self, channel_id: str) -> ChannelAccount | None:
        """Like `channel`, and the read seeds the pushed view when it may (`ChannelWatch.seed`)."""
        if self.watch is None:
            return await self.channel(channel_id)
        token = self.watch.before_read(channel_id)
        found = await self.rpc.account(Pubkey.from_string(channel_id))
        self.watch.seed(channel_id, token, found)
        return self._decode(channel_id, found)

    async def watch_first(self, channel_id: str, patience: float = SUBSCRIBE_PATIENCE) -> None:
        """Subscribe to a channel about to be opened (at most `patience` seconds for the
        confirmation), so the read after its open seeds the view."""
        if self.watch is not None:
            await self.watch.subscribed(channel_id, patience)

    def forget(self, channel_id: str) -> None:
        """The server is done with this channel: stop watching it."""
        self._decoded.pop(channel_id, None)
        if self.watch is not None:
            self.watch.forget(channel_id)

    def _worth_watching(self, channel_id: str, found: AccountInfo | None) -> bool:
        """Open, or Closing (vouchers must be refused from the view): settled, gone or foreign is not."""
        try:
            account = self._decode(channel_id, found)
        except ChainMismatch:
            account = None
        if account is not None and account.status in (ChannelStatus.OPEN, ChannelStatus.CLOSING):
            self._decoded[channel_id] = (found, account)  # the next voucher reuses this decoding
            return True
        self._decoded.pop(channel_id, None)
        return False

    def _decode(self, channel_id: str, found: AccountInfo | None) -> ChannelAccount | None:
        if found is None:
            return None
        if found.owner != self.program_id:
            raise ChainMismatch(
                f"the account at {channel_id} is owned by {found.owner}, not the channel program "
                f"{self.program_id}"
            )
        try:
            return decode_channel(bytes(found.data))
        except MalformedError as exc:
            raise ChainMismatch(f"the account at {channel_id} is not a Channel: {exc}") from None

    async def submit(self, tx: VersionedTransaction) -> Submitted:
        """Send, then wait for confirmation. A program or preflight failure is returned, not raised;
        an unreachable RPC raises RpcError."""
        signature = str(tx.signatures[0])
        if self._before_send is not None:
            await self._before_send()  # the state that justifies this transaction is on disk first
        try:
            sent = await self.rpc.send_transaction(bytes(tx))
            signature = str(sent)
        except RpcError as exc:
            if not _already_processed(exc):
                return Submitted(signature, exc.message)
        try:
            await self.rpc.confirm(signature, self.confirm_timeout)
        except RpcError as exc:
            return Submitted(signature, exc.message)
        return Submitted(signature)


def _already_processed(exc: RpcError) -> bool:
    text = exc.message.lower()
    return "already been processed" in text or "alreadyprocessed" in text
