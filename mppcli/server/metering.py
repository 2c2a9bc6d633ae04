"""Metered delivery: the reference implementation's side channel and our metered SSE stream.

Side channel (PROTOCOL-NOTES §7.2, answered as the reference answers: 200 or 400/405 with
`{"error": ...}`): `reserve` sets capacity aside for one delivery against the deposit
(`accepted + reserved + amount <= deposit`); `commit` accepts the client's voucher for it. Two
choices of ours: reservations expire (default 300 s; the reference keeps them forever, so a
stranger who knows a channel id could pin its capacity), and only client-signed channels can
reserve (an operator-signed channel's client cannot sign the commit voucher).

The stream (`GET /stream?chunks=N`) is documented in `mppcli.server.app`; `StreamRun` produces it.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from mppcli.protocol.encoding import canonical_json
from mppcli.protocol.metering import (
    CommitReceipt,
    CommitRequest,
    DeliveryRequest,
    MeteringDirective,
    MeteringUsage,
    data_frame,
    default_delivery_id,
    done_frame,
    format_sse,
    metering_frame,
    usage_frame,
)
from mppcli.protocol.receipt import format_receipt
from mppcli.protocol.session import VoucherSigner
from mppcli.server import problems
from mppcli.server.challenges import Route
from mppcli.server.context import ServerContext, receipt
from mppcli.server.debit import operator_sign
from mppcli.server.locks import wait_until
from mppcli.server.state import ChannelState, Delivery, Status
from mppcli.server.vouchers import check_binding, check_signature_and_expiry

EVENT_PAYMENT_REQUIRED = "mpp.payment-required"
EVENT_RECEIPT = "mpp.receipt"
QUIET_WAIT = 2.0  # seconds a stream waits for an on-its-way commit before announcing a pause


class SideChannelError(Exception):
    """A side-channel failure: `{"error": message}` with `status` (400, or 405 for a non-POST)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


# --- reserve ---------------------------------------------------------------------------------------


async def reserve(ctx: ServerContext, request: DeliveryRequest) -> MeteringDirective:
    async with ctx.locks(request.session_id):
        state = _usable(ctx, request.session_id)
        return _reserve_locked(
            ctx,
            state,
            request.amount,
            request.delivery_id,
            request.commit_url,
            request.proof,
            request.expires_at,
        )


def _usable(ctx: ServerContext, channel_id: str) -> ChannelState:
    state = ctx.store.channel(channel_id)
    if state is None:
        raise SideChannelError(f"channel {channel_id} not found")
    if state.status is Status.CLOSED:
        raise SideChannelError(f"channel {channel_id} is already closed")
    if not state.is_open:
        raise SideChannelError(f"channel {channel_id} close is pending; no further deliveries accepted")
    if state.voucher_signer != VoucherSigner.CLIENT:
        raise SideChannelError("metered deliveries need a client-signed channel")
    return state


def _reserve_locked(
    ctx: ServerContext,
    state: ChannelState,
    amount: int,
    delivery_id: str | None = None,
    commit_url: str | None = None,
    proof: str | None = None,
    expires_at: int | None = None,
    stream_id: str | None = None,
) -> MeteringDirective:
    if amount > state.headroom(ctx.pending(state.channel_id)):
        raise SideChannelError(f"delivery amount {amount} exceeds available deposit")
    sequence = state.next_delivery_seq
    delivery_id = delivery_id or default_delivery_id(state.channel_id, sequence)
    if ctx.store.delivery(delivery_id) is not None:
        raise SideChannelError(f"delivery {delivery_id} already exists")
    expires = expires_at or int(ctx.clock()) + ctx.config.stream.delivery_ttl
    with ctx.store.batch() as batch:
        batch.put_delivery(
            Delivery(delivery_id, state.channel_id, sequence, amount, expires, stream_id=stream_id)
        )
        batch.put_channel(dataclasses.replace(state, next_delivery_seq=sequence + 1))
    return MeteringDirective(
        delivery_id, state.channel_id, amount, state.mint, sequence, expires, commit_url, proof
    )


# --- commit ----------------------------------------------------------------------------------------


async def commit(ctx: ServerContext, request: CommitRequest) -> CommitReceipt:
    channel_id = request.voucher.voucher.channel_id
    async with ctx.locks(channel_id):
        result = await _commit_locked(ctx, channel_id, request)
        ctx.locks(channel_id).notify_all()
        return result


async def _commit_locked(ctx: ServerContext, channel_id: str, request: CommitRequest) -> CommitReceipt:
    state = ctx.store.channel(channel_id)
    if state is None:
        raise SideChannelError(f"channel {channel_id} not found")
    delivery = ctx.store.delivery(request.delivery_id)
    if delivery is None or delivery.channel_id != channel_id:
        raise SideChannelError(f"delivery {request.delivery_id} not found")
    signed, cumulative = request.voucher, request.voucher.voucher.cumulative_amount
    if delivery.status == "committed":
        return _replayed(ctx, state, delivery, request)
    if delivery.status != "pending":
        raise SideChannelError(f"delivery {request.delivery_id} was released (the channel is closing)")
    _usable(ctx, channel_id)
    if delivery.expires_at <= ctx.clock():
        raise SideChannelError(f"delivery {request.delivery_id} has expired")
    if cumulative <= state.accepted:
        raise SideChannelError(f"commit cumulative {cumulative} must exceed watermark {state.accepted}")
    actual = cumulative - state.accepted
    if actual > delivery.amount:
        raise SideChannelError(f"commit amount {actual} exceeds reserved amount {delivery.amount}")
    try:
        check_binding(state, signed)
        check_signature_and_expiry(state, signed, ctx.clock(), ctx.config.clock_skew)
        state = await ctx.confirm_live(state)
    except problems.Rejection as exc:
        raise SideChannelError(exc.detail) from None
    committed = dataclasses.replace(
        state,
        accepted=cumulative,
        spent=state.spent + actual,
        highest_voucher=signed.to_json(),
        last_activity_at=ctx.clock(),
    )
    with ctx.store.batch() as batch:
        batch.put_channel(committed)
        batch.put_delivery(
            dataclasses.replace(
                delivery,
                status="committed",
                amount=actual,
                cumulative=cumulative,
                voucher_signature=signed.signature,
            )
        )
    return CommitReceipt(request.delivery_id, channel_id, actual, cumulative, "committed")


def _replayed(
    ctx: ServerContext, state: ChannelState, delivery: Delivery, request: CommitRequest
) -> CommitReceipt:
    signed = request.voucher
    if (
        delivery.cumulative != signed.voucher.cumulative_amount
        or delivery.voucher_signature != signed.signature
    ):
        raise SideChannelError(
            f"delivery {delivery.delivery_id} was already committed with different voucher"
        )
    try:
        check_signature_and_expiry(state, signed, ctx.clock(), ctx.config.clock_skew)
    except problems.Rejection as exc:
        raise SideChannelError(exc.detail) from None
    return CommitReceipt(
        delivery.delivery_id, state.channel_id, delivery.amount, delivery.cumulative or 0, "replayed"
    )


# --- the metered stream ----------------------------------------------------------------------------


@dataclass
class StreamRun:
    """One metered SSE response: chunk 1 was paid by the request's credential; the rest are metered.

    Client-signed channels: each further chunk is reserved against the deposit, sent as a data
    frame followed by its `mpp.metering` directive, and paid by the client's commit. At most
    `credit` chunks may await their commit; when the credit is used or the deposit cannot cover the
    next chunk, an `mpp.payment-required` event says so and the stream waits up to
    `pause_seconds` for the commit or a top-up, then ends (a commit that is merely in flight is
    first awaited quietly for up to `QUIET_WAIT` seconds). Operator-signed channels: the operator
    signs a voucher per chunk before sending it, while the deposit allows.
    """

    ctx: ServerContext
    channel_id: str
    route: Route
    chunks: int
    commit_url: str
    challenge_id: str | None
    stream_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)
    delivered: int = 0
    outstanding: list[str] = dataclasses.field(default_factory=list)
    last: MeteringDirective | None = None
    ended: str = "complete"

    async def frames(self) -> AsyncIterator[str]:
        self.delivered = 1
        yield data_frame(chunk_payload(1, self.chunks))
        for index in range(2, self.chunks + 1):
            if self.ctx.config.stream.interval:
                import asyncio

                await asyncio.sleep(self.ctx.config.stream.interval)
            directive_or_reason = await self._next_unit()
            if directive_or_reason == "awaiting-commit":  # the usual case: the commit is on its way
                directive_or_reason = await self._next_unit(
                    min(QUIET_WAIT, self.ctx.config.stream.pause_seconds)
                )
            if isinstance(directive_or_reason, str):
                yield self._payment_required(directive_or_reason)
                directive_or_reason = await self._next_unit(self.ctx.config.stream.pause_seconds)
                if isinstance(directive_or_reason, str):
                    self.ended = directive_or_reason
                    break
            self.delivered = index
            yield data_frame(chunk_payload(index, self.chunks))
            if directive_or_reason is not None:
                self.last = directive_or_reason
                yield metering_frame(directive_or_reason)
        for frame in self._closing_frames():
            yield frame

    async def _next_unit(self, wait: float = 0.0) -> MeteringDirective | str | None:
        """Reserve (client) or debit (operator) the next chunk; a reason string if it cannot."""
        cond = self.ctx.locks(self.channel_id)
        async with cond:
            await wait_until(cond, lambda: self._blocker() is None, wait)
            reason = self._blocker()
            if reason is not None:
                return reason
            state = self.ctx.store.channel(self.channel_id)
            assert state is not None
            if state.voucher_signer == VoucherSigner.OPERATOR:
                signed = operator_sign(self.ctx, state, self.route.price)
                self.ctx.store.save(signed)
                return None
            directive = _reserve_locked(
                self.ctx, state, self.route.price, commit_url=self.commit_url, stream_id=self.stream_id
            )
            self.outstanding.append(directive.delivery_id)
            return directive

    def _blocker(self) -> str | None:
        """Why the next chunk cannot go out now, or None."""
        state = self.ctx.store.channel(self.channel_id)
        if state is None or not state.is_open:
            return "channel-closing"
        pending = self.ctx.pending(self.channel_id)
        if state.voucher_signer == VoucherSigner.OPERATOR:
            return None if state.available(pending) >= self.route.price else "insufficient-deposit"
        self.outstanding = [d for d in self.outstanding if _is_pending(self.ctx, d)]
        if len(self.outstanding) >= self.ctx.config.stream.credit:
            return "awaiting-commit"
        return None if state.headroom(pending) >= self.route.price else "insufficient-deposit"

    def _payment_required(self, reason: str) -> str:
        state = self.ctx.store.channel(self.channel_id)
        assert state is not None
        body = {
            "sessionId": self.channel_id,
            "reason": reason,
            "amount": str(self.route.price),
            "deposit": str(state.deposit),
            "acceptedCumulative": str(state.accepted),
            "spent": str(state.spent),
            "reserved": str(self.ctx.pending(self.channel_id)),
            "delivered": self.delivered,
            "requested": self.chunks,
            "waitSeconds": self.ctx.config.stream.pause_seconds,
        }
        return format_sse(canonical_json(body).decode(), EVENT_PAYMENT_REQUIRED)

    def _closing_frames(self) -> list[str]:
        frames = []
        if self.last is not None:
            frames.append(usage_frame(MeteringUsage(self.last.delivery_id, self.last.amount)))
        state = self.ctx.store.channel(self.channel_id)
        if state is not None:
            summary = receipt(self.ctx.config, state, self.challenge_id, self.ctx.clock()).to_json()
            summary.update(
                {
                    "delivered": self.delivered,
                    "requested": self.chunks,
                    "complete": self.delivered == self.chunks,
                    "reason": self.ended,
                    "pendingDeliveries": [d for d in self.outstanding if _is_pending(self.ctx, d)],
                }
            )
            frames.append(format_sse(json.dumps(summary, separators=(",", ":")), EVENT_RECEIPT))
        frames.append(done_frame())
        return frames


def _is_pending(ctx: ServerContext, delivery_id: str) -> bool:
    delivery = ctx.store.delivery(delivery_id)
    return delivery is not None and delivery.status == "pending" and delivery.expires_at > ctx.clock()


def chunk_payload(index: int, total: int) -> dict[str, object]:
    """The demo content of one chunk."""
    return {"chunk": index, "of": total, "text": f"metered chunk {index} of {total}"}


def replay_body() -> bytes:
    """The body cached for an idempotent replay of a stream request: no content, just the end."""
    return (format_sse(canonical_json({"replayed": True}).decode(), EVENT_RECEIPT) + done_frame()).encode()


def final_receipt_header(ctx: ServerContext, state: ChannelState, challenge_id: str | None) -> str:
    return format_receipt(receipt(ctx.config, state, challenge_id, ctx.clock()))
