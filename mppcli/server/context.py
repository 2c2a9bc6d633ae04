"""The server's shared parts, handed to every flow, and the small helpers they all use."""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from mppcli.chain.channel import ChannelAccount, ChannelStatus
from mppcli.protocol.auth import Challenge, format_rfc3339
from mppcli.protocol.receipt import SessionReceipt
from mppcli.server import problems
from mppcli.server.chainport import ChainMismatch, ChainPort
from mppcli.server.challenges import Echo, Issuer
from mppcli.server.config import ServerConfig
from mppcli.server.locks import ChannelLocks
from mppcli.server.state import ChannelState, Status
from mppcli.server.store import Store
from mppcli.server.terms import check_account_terms

VERIFIED_CHALLENGES = 4096  # echoes remembered by `RememberingIssuer`


class RememberingIssuer(Issuer):
    """An `Issuer` that remembers the echoes it verified.

    Every voucher of a channel echoes the same challenge, and verifying one (HMAC over the canonical
    parameters, decoding the request, comparing the pinned fields) is a pure function of the
    challenge under one configuration, so the answer is reused instead of recomputed per request.
    Refusals are not remembered; expiry and route are checked per request by the caller, as before.
    """

    def __init__(self, config: ServerConfig, size: int = VERIFIED_CHALLENGES):
        super().__init__(config)
        self._size = size
        self._verified: OrderedDict[Challenge, Echo] = OrderedDict()

    def verify(self, challenge: Challenge) -> Echo:
        echo = self._verified.get(challenge)
        if echo is not None:
            self._verified.move_to_end(challenge)
            return echo
        echo = super().verify(challenge)
        self._verified[challenge] = echo
        if len(self._verified) > self._size:
            self._verified.popitem(last=False)
        return echo


def _quiet(message: str) -> None:
    """Default log sink: nothing (the runner installs a stderr logger)."""


@dataclass
class ServerContext:
    """Config, store, chain, locks and clock of one running server."""

    config: ServerConfig
    store: Store
    chain: ChainPort
    locks: ChannelLocks = field(default_factory=ChannelLocks)
    clock: Callable[[], float] = time.time
    log: Callable[[str], None] = _quiet
    _seen: dict[str, float] = field(default_factory=dict)
    # per channel: the pushed account object last found to match the record's terms, and those terms
    _terms_checked: dict[str, tuple[ChannelAccount, tuple[object, ...]]] = field(default_factory=dict)
    _issuer: RememberingIssuer | None = None

    @property
    def issuer(self) -> Issuer:
        if self._issuer is None or self._issuer.config is not self.config:
            self._issuer = RememberingIssuer(self.config)
        return self._issuer

    def pending(self, channel_id: str) -> int:
        """Value reserved by metered deliveries still awaiting their commit (expired ones excluded)."""
        now = self.clock()
        return sum(d.amount for d in self.store.pending_deliveries(channel_id) if d.expires_at > now)

    async def confirm_live(self, state: ChannelState, force: bool = False) -> ChannelState:
        """Spec voucher checks 6-7 against the chain, at most every `chain_check_ttl` seconds per channel.

        The account must still exist, be a Channel of our program and be `Open` with no forced close
        pending; the on-chain deposit is authoritative for `escrowedAmount`. The account comes from
        the websocket-pushed view when it is trustworthy, else from an RPC read
        (`ChainPort.live_channel`). Call with the channel's lock held. A channel that is gone or
        closing is recorded and refused.
        """
        now = self.clock()
        if not force and now - self._seen.get(state.channel_id, 0.0) < self.config.chain_check_ttl:
            return state
        try:
            # A forced check (after a top-up we confirmed) reads: its notification may be in flight.
            read = self.chain.channel if force else self.chain.live_channel
            account = await read(state.channel_id)
        except ChainMismatch as exc:
            raise problems.failed(str(exc)) from None
        if self.config.chain_check_ttl:
            self._seen[state.channel_id] = now
        synced = sync_with_chain(state, account)
        if synced is not state:
            self.store.save(synced)
        if account is not None:
            self._check_terms(synced, account)
        if account is None or account.status is not ChannelStatus.OPEN or account.closure_started_at:
            self.chain.forget(state.channel_id)
            self._terms_checked.pop(state.channel_id, None)
            raise problems.failed(_not_open_detail(state.channel_id, account))
        return synced

    def _check_terms(self, state: ChannelState, account: ChannelAccount) -> None:
        """Spec (Resume): the account is still the session that was opened. A channel's vouchers
        mostly see the same pushed account object, already checked against the same terms: that
        pair is remembered (a changed account or record is checked again)."""
        terms = (state.payee, state.mint, state.authorized_signer, state.open_slot, state.splits)
        checked = self._terms_checked.get(state.channel_id)
        if checked is not None and checked[0] is account and checked[1] == terms:
            return
        check_account_terms(state, account)
        self._terms_checked[state.channel_id] = (account, terms)


def sync_with_chain(state: ChannelState, account: ChannelAccount | None) -> ChannelState:
    """Fold the on-chain account into the record: deposit, settled watermark, forced close."""
    if account is None:
        if state.status is Status.OPEN:
            return dataclasses.replace(state, status=Status.CLOSING, close_reason="account-gone")
        return state
    changes: dict[str, object] = {}
    if account.deposit != state.deposit:
        changes["deposit"] = account.deposit
    if account.settled > state.settled:
        changes["settled"] = account.settled
    if account.closure_started_at and not state.closure_started_at:
        changes["closure_started_at"] = account.closure_started_at
    if account.status is not ChannelStatus.OPEN and state.status is Status.OPEN:
        changes["status"] = Status.CLOSING
        changes["close_reason"] = "forced" if account.status is ChannelStatus.CLOSING else "on-chain"
    return dataclasses.replace(state, **changes) if changes else state  # type: ignore[arg-type]  # mixed field types


def _not_open_detail(channel_id: str, account: ChannelAccount | None) -> str:
    if account is None:
        return f"channel {channel_id} no longer exists on chain"
    if account.closure_started_at:
        return f"channel {channel_id} has a forced close pending on chain; no new vouchers are accepted"
    return f"channel {channel_id} is {account.status.name.lower()} on chain"


def receipt(
    config: ServerConfig,
    state: ChannelState,
    challenge_id: str | None,
    now: float,
    *,
    external_id: str | None = None,
    closing: bool = False,
) -> SessionReceipt:
    """The session receipt for `state` after an action (spec: Receipt Format).

    On a close receipt `spent` is the settled total and `txHash`/`refunded` describe the settlement.
    """
    return SessionReceipt(
        method="solana",
        intent="session",
        reference=state.channel_id,
        timestamp=format_rfc3339(now),
        challenge_id=challenge_id,
        accepted_cumulative=state.accepted,
        spent=state.settled if closing and state.status is Status.CLOSED else state.spent,
        idle_timeout_seconds=state.idle_timeout,
        external_id=external_id,
        tx_hash=state.close_tx if closing else None,
        refunded=state.refunded if closing else None,
    )
