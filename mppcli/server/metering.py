"""Metered delivery: the reference implementation's side channel and our metered SSE stream.

Side channel (PROTOCOL-NOTES §7.2, answered as the reference answers: 200 or 400/405 with
`{"error": ...}`): `reserve` sets capacity aside for one delivery against the deposit
(`accepted + reserved + amount <= deposit`); `commit` accepts the client's voucher for it.
Choices of ours: a reservation needs the voucher signer's proof and an expiry at most
`delivery_ttl` (300 s) ahead (the reference takes anyone's, forever, so a stranger who knows a
channel id could pin its capacity), and only client-signed channels can reserve (an
operator-signed channel's client cannot sign the commit voucher). Our own stream does not
reserve: it charges `spent` as chunks leave (below), and commits pay it.

The stream (`GET /stream?chunks=N`) is documented in `mppcli.server.app`; `StreamRun` produces it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from mppcli.protocol.encoding import canonical_json
from mppcli.protocol.metering import (
    EVENT_PAYMENT_REQUIRED,
    EVENT_RECEIPT,
    CommitReceipt,
    CommitRequest,
    DeliveryRequest,
    MeteringDirective,
    MeteringUsage,
    PaymentRequired,
    data_frame,
    done_frame,
    format_sse,
    metering_frame,
    usage_frame,
    verify_reservation,
)
from mppcli.protocol.receipt import format_receipt
from mppcli.protocol.session import VoucherSigner
from mppcli.protocol.voucher import DEFAULT_EXPIRES_AT, SignedVoucher
from mppcli.server import problems
from mppcli.server.challenges import Route
from mppcli.server.config import ServerConfig
from mppcli.server.context import ServerContext, receipt
from mppcli.server.credit import parse_credit
from mppcli.server.debit import operator_sign
from mppcli.server.locks import wait_until
from mppcli.server.state import ChannelState, Delivery, Status
from mppcli.server.vouchers import check_binding, check_signature_and_expiry

STREAMING = "streaming"  # a stream's delivery row: charged to `spent` as sent, never reserved
END_WAIT = 0.5  # seconds the end of a stream waits for commits on their way
QUIET_WAIT = 2.0  # seconds a stream waits for an on-its-way commit before announcing a pause


class SideChannelError(Exception):
    """A side-channel failure: `{"error": message}` with `status` (400, or 405 for a non-POST)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


# --- reserve ---------------------------------------------------------------------------------------


async def reserve(ctx: ServerContext, request: DeliveryRequest) -> MeteringDirective:
    """A reservation only for the channel's voucher signer, for at most `delivery_ttl` seconds:
    a stranger who knows a channel id cannot lock its deposit (#10 item 4)."""
    async with ctx.locks(request.session_id):
        state = _usable(ctx, request.session_id)
        if not request.delivery_id or not request.expires_at or not request.proof:
            raise SideChannelError("a reservation needs deliveryId, expiresAt and the voucher signer's proof")
        if not verify_reservation(state.authorized_signer, request):
            raise SideChannelError("the reservation proof is not the voucher signer's signature")
        now = int(ctx.clock())
        if request.expires_at <= now:
            raise SideChannelError(f"the reservation expired at {request.expires_at}")
        if request.expires_at > now + ctx.config.stream.delivery_ttl:
            raise SideChannelError(
                f"expiresAt may be at most {ctx.config.stream.delivery_ttl} seconds ahead"
            )
        return _reserve_locked(ctx, state, request, request.delivery_id, request.expires_at)


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
    ctx: ServerContext, state: ChannelState, request: DeliveryRequest, delivery_id: str, expires: int
) -> MeteringDirective:
    if request.amount > state.headroom(ctx.pending(state.channel_id)):
        raise SideChannelError(f"delivery amount {request.amount} exceeds available deposit")
    sequence = state.next_delivery_seq
    if ctx.store.delivery(delivery_id) is not None:
        raise SideChannelError(f"delivery {delivery_id} already exists")
    with ctx.store.batch() as batch:
        batch.put_delivery(Delivery(delivery_id, state.channel_id, sequence, request.amount, expires))
        batch.put_channel(dataclasses.replace(state, next_delivery_seq=sequence + 1))
    return MeteringDirective(
        delivery_id, state.channel_id, request.amount, state.mint, sequence, expires,
        request.commit_url, request.proof,
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
    stream_row = _stream_row(ctx, request.delivery_id)
    if stream_row is not None and stream_row.channel_id == channel_id:
        return await _commit_streamed(ctx, state, stream_row, request)
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
    state = await _verified(ctx, state, signed)
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


async def _verified(ctx: ServerContext, state: ChannelState, signed: SignedVoucher) -> ChannelState:
    """A commit's voucher: binding, signature and expiry, then a fresh chain view; a refusal in
    the side channel's error shape (it answers as the reference does, not with problem+json)."""
    try:
        check_binding(state, signed)
        check_signature_and_expiry(state, signed, ctx.clock(), ctx.config.clock_skew)
        return await ctx.confirm_live(state)
    except problems.Rejection as exc:
        raise SideChannelError(exc.detail) from None


def _stream_row(ctx: ServerContext, delivery_id: str) -> Delivery | None:
    """The row of the stream that sent directive `<streamId>:<n>`, if it is one of ours."""
    stream_id, _, number = delivery_id.partition(":")
    if not stream_id.startswith(STREAM_PREFIX) or not number.isascii() or not number.isdigit():
        return None
    row = ctx.store.delivery(stream_id)
    return row if row is not None and row.status == STREAMING else None


async def _commit_streamed(
    ctx: ServerContext, state: ChannelState, row: Delivery, request: CommitRequest
) -> CommitReceipt:
    """A voucher for chunks already charged to `spent`: it may cover every directive up to this
    one (one cumulative voucher for several), never more than was spent."""
    signed, cumulative = request.voucher, request.voucher.voucher.cumulative_amount
    if row.voucher_signature == signed.signature and row.cumulative == cumulative:
        try:
            check_signature_and_expiry(state, signed, ctx.clock(), ctx.config.clock_skew)
        except problems.Rejection as exc:
            raise SideChannelError(exc.detail) from None
        return CommitReceipt(request.delivery_id, state.channel_id, 0, cumulative, "replayed")
    _usable(ctx, state.channel_id)
    if cumulative <= state.accepted:
        raise SideChannelError(f"commit cumulative {cumulative} must exceed watermark {state.accepted}")
    if cumulative > state.spent:
        raise SideChannelError(
            f"commit cumulative {cumulative} exceeds what was delivered (spent {state.spent})"
        )
    state = await _verified(ctx, state, signed)
    actual = cumulative - state.accepted
    committed = dataclasses.replace(
        state, accepted=cumulative, highest_voucher=signed.to_json(), last_activity_at=ctx.clock()
    )
    with ctx.store.batch() as batch:
        batch.put_channel(committed)
        batch.put_delivery(
            dataclasses.replace(row, cumulative=cumulative, voucher_signature=signed.signature)
        )
    return CommitReceipt(request.delivery_id, state.channel_id, actual, cumulative, "committed")


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

STREAM_PREFIX = "stream-"
BATCH_CHUNKS = 128  # most chunks charged by one store commit and sent as one write


def credit_window(config: ServerConfig) -> int:
    """The stream credit window in base units (see `mppcli.server.credit`)."""
    return parse_credit(config.stream.credit, config.chunk_price, config.decimals)


@dataclass
class StreamRun:
    """One metered SSE response: chunk 1 was paid by the request's credential; the rest are metered.

    Spent first, then data (spec, Crash Safety): before a batch of chunks leaves, its price is
    added to the channel's `spent` in one store commit, with the stream's delivery row; the batch
    then goes out as its data frames followed by one `mpp.metering` directive for the batch, and
    vouchers catch up (the client may commit one cumulative voucher for several directives).
    Delivery pauses only when `spent - accepted` would exceed the credit window or the deposit
    cannot cover the next chunk: the stream first waits quietly up to `QUIET_WAIT` seconds for a
    commit on its way, then emits `mpp.payment-required` and waits up to `pause_seconds`.
    What was spent but never vouched for is the seller's risk, at most the window per channel.
    Operator-signed channels: the operator signs a voucher for each batch before sending it.
    """

    ctx: ServerContext
    channel_id: str
    route: Route
    chunks: int
    commit_url: str
    challenge_id: str | None
    stream_id: str = dataclasses.field(default_factory=lambda: STREAM_PREFIX + uuid.uuid4().hex)
    delivered: int = 0
    metered: int = 0  # what this stream added to `spent` (every chunk after the first)
    directives: int = 0
    last: MeteringDirective | None = None
    ended: str = "complete"
    # The gateway's upstream SSE events, one billed unit each, instead of the demo chunks, in the
    # batches they arrived in (charged together, at most BATCH_CHUNKS at a time); the stream is
    # complete when the source ends (`chunks` is then only an upper bound).
    source: AsyncIterator[list[str]] | None = None
    _ahead: list[str] = dataclasses.field(default_factory=list)  # read, not yet charged

    async def _source_has_more(self) -> bool:
        """Read the source's next events ahead of charging them, so an ended source charges nothing."""
        if self.source is None:
            return True
        while not self._ahead:
            batch = await anext(self.source, None)
            if batch is None:
                return False
            self._ahead = batch
        return True

    async def frames(self) -> AsyncIterator[str]:
        if self.source is None:
            first: str | None = data_frame(chunk_payload(1, self.chunks))
        elif await self._source_has_more():  # the credential paid for the first event
            first, self._ahead = self._ahead[0], self._ahead[1:]
        else:
            first = None
        if first is None:
            return
        self.delivered = 1
        yield first
        policy = self.ctx.config.stream
        while self.delivered < self.chunks and await self._source_has_more():
            if policy.interval:
                await asyncio.sleep(policy.interval)
            charged = await self._charge()
            if charged == "awaiting-commit":  # the usual case: a commit is on its way
                charged = await self._charge(min(QUIET_WAIT, policy.pause_seconds))
            if isinstance(charged, str):
                yield self._payment_required(charged)
                charged = await self._charge(policy.pause_seconds)
                if isinstance(charged, str):
                    self.ended = charged
                    break
            yield self._batch(charged)
        for frame in await self._closing_frames():
            yield frame

    def _batch(self, count: int) -> str:
        """`count` charged chunks as data frames, then one directive for them (client mode)."""
        first = self.delivered + 1
        self.delivered += count
        if self.source is None:
            frames = [data_frame(chunk_payload(i, self.chunks)) for i in range(first, self.delivered + 1)]
        else:  # upstream events read ahead by `_source_has_more`, no more than `_room` allowed
            assert 0 < count <= len(self._ahead)
            frames, self._ahead = self._ahead[:count], self._ahead[count:]
        state = self.ctx.store.channel(self.channel_id)
        if state is not None and state.voucher_signer == VoucherSigner.CLIENT:
            self.directives += 1
            self.last = MeteringDirective(
                f"{self.stream_id}:{self.directives}",
                self.channel_id,
                count * self.route.price,
                state.mint,
                self.directives,
                DEFAULT_EXPIRES_AT,
                self.commit_url,
                cumulative_commit=True,
            )
            frames.append(metering_frame(self.last))
        return "".join(frames)

    async def _charge(self, wait: float = 0.0) -> int | str:
        """Make the next batch's price durable in `spent`; how many chunks, or why none can go."""
        cond = self.ctx.locks(self.channel_id)
        async with cond:
            await wait_until(cond, lambda: self._room()[0] > 0, wait)
            count, reason = self._room()
            if count == 0:
                return reason
            state = self.ctx.store.channel(self.channel_id)
            assert state is not None
            cost = count * self.route.price
            if state.voucher_signer == VoucherSigner.OPERATOR:
                self.ctx.store.save(operator_sign(self.ctx, state, cost))
                return count
            self.metered += cost
            charged = dataclasses.replace(state, spent=state.spent + cost, last_activity_at=self.ctx.clock())
            row = self._row()
            with self.ctx.store.batch() as batch:
                batch.put_channel(charged)
                sent = self.delivered + count
                batch.put_delivery(dataclasses.replace(row, amount=self.metered, sequence=sent))
            return count

    def _row(self) -> Delivery:
        row = self.ctx.store.delivery(self.stream_id)
        if row is None:
            expires = int(self.ctx.clock()) + self.ctx.config.stream.delivery_ttl
            row = Delivery(self.stream_id, self.channel_id, 0, 0, expires, STREAMING,
                           stream_id=self.stream_id)
        return row

    def _room(self) -> tuple[int, str]:
        """How many chunks may be charged now (at most one batch), else 0 and the reason."""
        state = self.ctx.store.channel(self.channel_id)
        if state is None or not state.is_open:
            return 0, "channel-closing"
        price, pending = self.route.price, self.ctx.pending(self.channel_id)
        if self.ctx.config.stream.interval:
            want = 1
        elif self.source is not None:
            want = min(len(self._ahead), BATCH_CHUNKS)
        else:
            want = BATCH_CHUNKS
        want = min(self.chunks - self.delivered, want)
        if state.voucher_signer == VoucherSigner.OPERATOR:
            fits = state.available(pending) // price
            return (min(want, fits), "") if fits else (0, "insufficient-deposit")
        by_deposit = state.headroom(pending) // price
        by_window = max(0, credit_window(self.ctx.config) - (state.spent - state.accepted)) // price
        if by_deposit == 0:
            return 0, "insufficient-deposit"
        if by_window == 0:
            return 0, "awaiting-commit"
        return min(want, by_deposit, by_window), ""

    def unvouched(self) -> int:
        """What this stream delivered that no accepted voucher covers yet (the seller's risk)."""
        state = self.ctx.store.channel(self.channel_id)
        if state is None or state.voucher_signer != VoucherSigner.CLIENT:
            return 0
        return max(0, min(self.metered, state.spent - state.accepted))

    def _payment_required(self, reason: str) -> str:
        state = self.ctx.store.channel(self.channel_id)
        assert state is not None
        pause = PaymentRequired(
            self.channel_id, reason, self.route.price, state.deposit, state.accepted, state.spent,
            self.ctx.pending(self.channel_id), credit_window(self.ctx.config),
        )
        body = {
            **pause.to_json(),
            "delivered": self.delivered,
            "requested": self.chunks,
            "waitSeconds": self.ctx.config.stream.pause_seconds,
        }
        return format_sse(canonical_json(body).decode(), EVENT_PAYMENT_REQUIRED)

    async def _closing_frames(self) -> list[str]:
        """`mpp.usage` for the last directive (what this stream still lacks a voucher for, so a
        client that commits once per response pays the whole stream), the receipt, `[DONE]`.
        Commits on their way are given up to `END_WAIT` seconds to arrive first."""
        frames = []
        if self.last is not None:
            cond = self.ctx.locks(self.channel_id)
            async with cond:
                await wait_until(cond, lambda: self.unvouched() == 0, END_WAIT)
            frames.append(usage_frame(MeteringUsage(self.last.delivery_id, self.unvouched())))
        # The receipt reports what other requests (the commits) wrote: on disk first, as for a
        # response's head (a body message otherwise waits only for this stream's own writes).
        await self.ctx.store.durable()
        state = self.ctx.store.channel(self.channel_id)
        if state is not None:
            summary = receipt(self.ctx.config, state, self.challenge_id, self.ctx.clock()).to_json()
            summary.update(
                {
                    "delivered": self.delivered,
                    "requested": self.chunks,
                    "complete": self.ended == "complete",
                    "reason": self.ended,
                    "unvouched": str(self.unvouched()),
                    "pendingDeliveries": [self.last.delivery_id] if self.unvouched() and self.last else [],
                }
            )
            frames.append(format_sse(json.dumps(summary, separators=(",", ":")), EVENT_RECEIPT))
        frames.append(done_frame())
        return frames


def chunk_payload(index: int, total: int) -> dict[str, object]:
    """The demo content of one chunk."""
    return {"chunk": index, "of": total, "text": f"metered chunk {index} of {total}"}


def replay_body() -> bytes:
    """The body cached for an idempotent replay of a stream request: no content, just the end."""
    return (format_sse(canonical_json({"replayed": True}).decode(), EVENT_RECEIPT) + done_frame()).encode()


def final_receipt_header(ctx: ServerContext, state: ChannelState, challenge_id: str | None) -> str:
    return format_receipt(receipt(ctx.config, state, challenge_id, ctx.clock()))
