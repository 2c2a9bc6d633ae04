"""One metered SSE response, event by event (PROTOCOL-NOTES §7 and `mppcli.server.app`).

Each `mpp.metering` directive is checked (this channel, this mint, never beyond the deposit) and
paid on the side channel with a cumulative voucher, recorded before it leaves. Two shapes exist:
- a directive that follows its data (`mpp serve`, the reference's per-chunk envelopes) bills the
  data frames since the previous directive: its amount may not exceed the challenged price times
  that many frames. Commits are pipelined: the stream keeps reading while one commit is in flight;
  directives that arrive meanwhile are coalesced into the next voucher, which covers everything
  metered so far (at most one commit in flight). The data path waits for commits only when the
  server pauses (`mpp.payment-required`) or the stream ends;
- a directive ahead of any data (the reference's whole-stream reservation) is held until its
  `mpp.usage` (or the end), then committed for the usage amount, never more than it reserved
  nor more than the price times the data units actually received.
`mpp.usage` may only lower what a held reservation costs; for per-unit directives, already paid
as they came, it is only reported. `mpp.payment-required` with `insufficient-deposit` tops the
channel up within --max-spend (the server waits for it), or stops cleanly with exit 5; every
amount in it is parsed strictly (a malformed one is a protocol violation, exit 4).
`mpp.receipt` and the `Payment-Receipt` header may never claim more than this client signed.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from mppcli.client import machine as m
from mppcli.client import records
from mppcli.client.challenge import Offer
from mppcli.client.context import Client, PayOptions, origin_of
from mppcli.client.events import EventData
from mppcli.client.http import RequestSpec
from mppcli.client.signing import signer_keypair, voucher_text
from mppcli.client.topup import top_up
from mppcli.errors import MalformedError, NetworkError, PaymentRejected, ProtocolViolation
from mppcli.protocol.encoding import loads_json
from mppcli.protocol.metering import (
    COMMIT_PATH,
    EVENT_PAYMENT_REQUIRED,
    EVENT_RECEIPT,
    CommitRequest,
    MeteredEvent,
    MeteringDirective,
    classify_event,
    is_data_event,
    parse_commit_receipt,
    parse_payment_required,
    parse_side_channel_error,
)
from mppcli.protocol.receipt import receipt_from_json
from mppcli.protocol.voucher import DEFAULT_EXPIRES_AT, Voucher, sign_voucher
from mppcli.state.record import ChannelRecord, VoucherSigner
from mppcli.state.store import StagedRecord

COMMIT_ATTEMPTS = 3
ABANDON_GRACE = 5.0  # seconds a failing stream waits for the commit already on its way


@dataclass
class Meter:
    """The metering state of one stream on one channel (the caller holds the channel lock)."""

    client: Client
    spec: RequestSpec
    offer: Offer
    channel_id: str
    options: PayOptions
    budget: m.Budget
    committed: dict[str, int] = field(default_factory=dict)
    pending: MeteringDirective | None = None  # a reservation ahead of its data
    units: int = 0  # data frames since the pending reservation
    since_directive: int = 0  # data frames since the last directive (or the start)
    events: int = 0
    data_events: int = 0
    done: bool = False
    ended: str | None = None
    start_accepted: int = 0  # operator mode: the cumulative once the request itself was paid
    owed: list[MeteringDirective] = field(default_factory=list)  # metered, not yet in a voucher
    _inflight: asyncio.Task[None] | None = None  # the one commit on its way, if any
    _keypair: Any = None
    _cached: ChannelRecord | None = None
    _stash: tuple[m.VoucherAccepted, dict[str, str]] | None = None  # a receipt not yet written

    # --- the record: read once, written once per voucher ----------------------------------------

    @property
    def record(self) -> ChannelRecord:
        """The stored record (flushed first, so it holds every receipt already checked)."""
        self.flush()
        return self._stored()

    def _stored(self) -> ChannelRecord:
        if self._cached is None:
            self._cached = self.client.store.get(self.channel_id)
        return self._cached

    def _view(self) -> m.ChannelView:
        view = records.view_of(self._stored())
        return m.step(view, self._stash[0]) if self._stash else view

    def _persist(self, event: m.Event | None, **extra: str) -> None:
        """One atomic write of `_stage`'s record, before anything leaves. On the event loop, not
        a worker thread: the thread had to win the GIL back from the busy reader after each of
        the write's syscalls, which made a voucher's write 2-3 ms instead of 0.6 (measured with
        `bench/stream_events.py`) and cost more than the reading it let go on."""
        staged = self._stage(event, **extra)
        if staged is not None:
            self.client.store.write_staged(staged)

    def _stage(self, event: m.Event | None, **extra: str) -> StagedRecord | None:
        """The next record: the receipt checked last (if any), then `event`.

        A commit receipt is written together with the next voucher rather than on its own: one
        fsync'd write per metered unit instead of two. A crash in between leaves `accepted` one
        receipt behind `signed`, the case the close already handles (it resends the signed one).
        The record in memory is the stored one (the stream holds the channel lock for its whole
        life), so it is not read back from the file for each voucher.
        """
        stash, self._stash = self._stash, None
        old = self._stored()
        view, fields = records.view_of(old), {}
        if stash is not None:
            view, fields = m.step(view, stash[0]), dict(stash[1])
        if event is not None:
            view = m.step(view, event)
        staged = self.client.store.stage(old, records.merge(old, view, **fields, **extra))
        if staged is not None:
            self._cached = staged.record
        return staged

    def flush(self) -> None:
        """Write a checked receipt that is still only in memory."""
        if self._stash is not None:
            self._persist(None)

    def _signer(self) -> Any:
        if self._keypair is None:
            self._keypair = signer_keypair(self.client, self._stored())
        return self._keypair

    @property
    def committing(self) -> bool:
        """Whether a commit is on its way (the reader then lets it run now and then)."""
        return self._inflight is not None

    def take_data(self, name: str | None, data: str) -> bool:
        """Fold in one data frame, the common case, synchronously and without decoding it
        (profiled: a coroutine and a JSON decode per chunk were a quarter of `mpp stream`'s
        time per metered chunk); False for any other frame, which `handle` takes."""
        if not is_data_event(name, data):
            return False
        self.events += 1
        self.data_events += 1
        self.since_directive += 1
        self.units += 1
        task = self._inflight
        if task is not None and task.done():
            self._check_inflight()
        self.client.emit("data", data=EventData(data))
        return True

    async def handle(self, name: str | None, data: str) -> str | None:
        """Fold one SSE frame in; returns application data to print, if any."""
        if self.take_data(name or None, data):
            return data
        self.events += 1
        self._check_inflight()
        try:
            event = classify_event(name or None, data)
        except MalformedError as exc:
            raise ProtocolViolation(f"the server sent a malformed stream event: {exc}") from None
        return await self._dispatch(event, data)

    async def _dispatch(self, event: MeteredEvent, data: str) -> str | None:
        if event.kind == "metering" and event.directive is not None:
            await self._directive(event.directive)
        elif event.kind == "usage" and event.usage is not None:
            await self._usage(event.usage.delivery_id, event.usage.amount)
        elif event.kind == "done":
            await self.finish()
            self.done = True
            self.client.emit("done", channelId=self.channel_id, events=self.events)
        elif event.event == EVENT_PAYMENT_REQUIRED:
            await self._payment_required(data)
        elif event.event == EVENT_RECEIPT:
            await self.drain()
            self._final_receipt(_json(data, EVENT_RECEIPT))
        return None

    # --- commits -----------------------------------------------------------------------------------

    async def _directive(self, directive: MeteringDirective) -> None:
        await self.finish(drain=False)
        self._check_directive(directive, self._stored())
        units, self.since_directive = self.since_directive, 0
        if units == 0:  # ahead of its data: a reservation, paid at its usage or the end
            await self.drain()
            self.pending, self.units = directive, 0
            self.client.emit("metering", deliveryId=directive.delivery_id, amount=str(directive.amount),
                             reserved=True)
            return
        if directive.amount > self.offer.price * units:
            raise ProtocolViolation(f"server metered {directive.amount} for {units} data frame(s), more "
                                    f"than the price {self.offer.price} it challenged for each")
        self.committed[directive.delivery_id] = directive.amount
        self.owed.append(directive)
        self.client.emit("metering", deliveryId=directive.delivery_id, amount=str(directive.amount))
        self._check_inflight()
        if self._inflight is None:
            self._inflight = asyncio.create_task(self._commit_owed())

    async def _commit_owed(self) -> None:
        """The commit loop: one cumulative voucher for everything metered so far, then again for
        what arrived meanwhile, until nothing is owed. Only a server that marks its directives
        `cumulativeCommit` (`mpp serve`) takes one voucher for several; for any other (the
        reference checks each commit against that delivery's amount) they go one by one. A
        failure stays in the task until the data path collects it (`_check_inflight`, `drain`)."""
        while self.owed:
            last = self.owed[-1]
            count = len(self.owed) if last.cumulative_commit else 1
            batch, self.owed = self.owed[:count], self.owed[count:]
            amount = sum(d.amount for d in batch)
            await self.commit(batch[-1], amount, amount)

    def _check_inflight(self) -> None:
        """Collect a finished commit; a failed one ends the stream with its error."""
        task = self._inflight
        if task is not None and task.done():
            self._inflight = None
            task.result()

    async def drain(self) -> None:
        """Wait until every metered directive is committed (a pause, a top-up, the end)."""
        while True:
            task = self._inflight
            if task is None:
                if not self.owed:
                    return
                task = self._inflight = asyncio.create_task(self._commit_owed())
            try:
                await task
            finally:
                if self._inflight is task:
                    self._inflight = None

    async def abandon(self) -> None:
        """The stream ended on an error: give a commit on its way a moment to land (so the record
        says what the server accepted), then stop it; its voucher is recorded either way."""
        task, self._inflight = self._inflight, None
        if task is None:
            return
        if not task.done():
            with contextlib.suppress(BaseException):
                await asyncio.wait({task}, timeout=ABANDON_GRACE)
            task.cancel()
        with contextlib.suppress(BaseException):  # its failure, if any, is not the one to report
            await task

    async def finish(self, usage: int | None = None, drain: bool = True) -> None:
        """Pay a held reservation: its usage (or reserved) amount, at most price x units received
        (no data received, nothing paid: a reservation alone delivers nothing); then, unless told
        otherwise, wait for every per-unit commit."""
        directive, self.pending = self.pending, None
        if directive is not None:
            cap = self.offer.price * self.units
            if usage is not None and usage > cap:
                raise ProtocolViolation(f"the server bills {usage} for {self.units} data frame(s) priced "
                                        f"{self.offer.price} each")
            amount = min(directive.amount if usage is None else usage, cap)
            if amount > 0:
                await self.drain()
                await self.commit(directive, amount, cap)
                self.committed[directive.delivery_id] = amount
        if drain:
            await self.drain()

    async def commit(self, directive: MeteringDirective, amount: int, price: int) -> None:
        view = self._view()
        cumulative = m.commit_cumulative(view, amount, price, self.budget)
        signed = sign_voucher(self._signer(), Voucher(self.channel_id, cumulative, DEFAULT_EXPIRES_AT))
        text = voucher_text(signed)
        extra = {"last_signed_voucher": text} if cumulative > view.signed else {}
        self._persist(m.VoucherSigned(cumulative), **extra)
        self.budget = self.budget.after_signing(view, cumulative)
        self.client.emit("voucher", channelId=self.channel_id, cumulative=str(cumulative))
        body = CommitRequest(directive.delivery_id, signed).to_json()
        status, answer = await self._post_commit(self._commit_url(directive), body)
        if status != 200:
            raise PaymentRejected(f"the server refused the commit of {directive.delivery_id}: "
                                  f"{_side_error(answer)}", channel_id=self.channel_id)
        self._accept_commit(directive, amount, cumulative, text, answer)

    def _check_directive(self, directive: MeteringDirective, record: ChannelRecord) -> None:
        if directive.session_id != self.channel_id:
            raise ProtocolViolation(f"a metering directive names channel {directive.session_id}, "
                                    f"not {self.channel_id}")
        if directive.currency != record.mint:
            raise ProtocolViolation(f"the server changed the mint mid-session: {record.mint} -> "
                                    f"{directive.currency}")
        if directive.delivery_id in self.committed or (self.pending and self.pending.delivery_id ==
                                                        directive.delivery_id):
            raise ProtocolViolation(f"the server metered delivery {directive.delivery_id} twice")

    def _commit_url(self, directive: MeteringDirective) -> str:
        url = urljoin(self.spec.url, directive.commit_url or COMMIT_PATH)
        if origin_of(url) != origin_of(self.spec.url):
            raise ProtocolViolation(f"the commit URL {url} is not on the server {origin_of(self.spec.url)}")
        return url

    async def _post_commit(self, url: str, body: dict[str, Any]) -> tuple[int, Any]:
        """POST the commit; a dropped connection is retried with the identical voucher."""
        for attempt in range(COMMIT_ATTEMPTS):
            try:
                answer = await self.client.http.post_commit(url, body)
                break
            except NetworkError:
                if attempt + 1 == COMMIT_ATTEMPTS:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
        try:
            return answer.status, loads_json(answer.body, "the commit answer")
        except MalformedError:
            return answer.status, None

    def _accept_commit(self, directive: MeteringDirective, amount: int, sent: int, text: str,
                       answer: Any) -> None:
        try:
            receipt = parse_commit_receipt(answer)
        except MalformedError as exc:
            raise ProtocolViolation(f"the commit receipt is malformed: {exc}") from None
        if receipt.delivery_id != directive.delivery_id or receipt.session_id != self.channel_id:
            raise ProtocolViolation(f"the commit receipt answers {receipt.delivery_id} on "
                                    f"{receipt.session_id}, not what was committed")
        view = self._view()
        event = m.check_commit_receipt(view, sent, receipt.status, receipt.cumulative)
        if event.cumulative > view.accepted:  # the side channel debits what it accepted
            event = m.VoucherAccepted(event.cumulative, view.spent + event.cumulative - view.accepted)
        m.step(view, event)  # refuse here, not at the next write, whatever the machine refuses
        extra = {"last_accepted_voucher": text} if event.cumulative == sent > view.accepted else {}
        self._stash = (event, extra)
        self.client.emit("receipt", channelId=self.channel_id, acceptedCumulative=str(event.cumulative),
                         deliveryId=directive.delivery_id, status=receipt.status)

    async def _usage(self, delivery_id: str, amount: int) -> None:
        self.client.emit("usage", deliveryId=delivery_id, amount=str(amount))
        if self.pending is not None and self.pending.delivery_id == delivery_id:
            if amount > self.pending.amount:
                raise ProtocolViolation(f"the server reports usage {amount} for delivery {delivery_id}, "
                                        f"above the {self.pending.amount} it reserved")
            await self.finish(amount)
            return
        # a per-unit delivery was paid as it came: its usage (what the server still lacks a
        # voucher for, at the end of `mpp serve`'s stream) is only reported, never paid again

    # --- pauses and the end ------------------------------------------------------------------------

    async def _payment_required(self, data: str) -> None:
        try:
            pause = parse_payment_required(loads_json(data, EVENT_PAYMENT_REQUIRED))
        except MalformedError as exc:
            raise ProtocolViolation(f"the server's {EVENT_PAYMENT_REQUIRED} event is malformed: "
                                    f"{exc}") from None
        if pause.session_id != self.channel_id:
            raise ProtocolViolation(f"a {EVENT_PAYMENT_REQUIRED} event names channel {pause.session_id}, "
                                    f"not {self.channel_id}")
        self.client.emit("payment-required", sessionId=pause.session_id, reason=pause.reason,
                         amount=str(pause.amount), deposit=str(pause.deposit),
                         acceptedCumulative=str(pause.accepted), spent=str(pause.spent))
        if pause.reason == "channel-closing":
            self.ended = pause.reason
            return
        await self.finish()  # pay what is metered or held: the server waits for exactly that
        if pause.reason != "insufficient-deposit":
            return
        record = self.record
        needed = pause.amount - pause.headroom()
        preferred = self.offer.request.suggested_deposit or record.deposit
        amount = m.top_up_amount(records.view_of(record), max(needed, 1), preferred, self.budget)
        result = await top_up(self.client, record, amount, self.options, url=self.spec.url)
        self._cached = result.record
        self.budget = self.budget.after_locking(amount)
        self.client.emit("topup", channelId=self.channel_id, amount=str(amount),
                         deposit=str(result.record.deposit))

    def _final_receipt(self, body: dict[str, Any]) -> None:
        if body.get("replayed") is True:  # `mpp serve`: our voucher was one it already had
            self.ended = "replayed"
            return
        try:
            receipt = receipt_from_json(body)
        except MalformedError as exc:
            raise ProtocolViolation(f"the stream's final receipt is malformed: {exc}") from None
        self.check_receipt_amounts(receipt.reference, receipt.accepted_cumulative, receipt.spent)
        self.ended = str(body.get("reason") or "complete")

    def check_receipt_amounts(self, reference: str, accepted: int | None, spent: int | None) -> None:
        """A receipt may lag our commits, but never name another channel or exceed what we allowed:
        our own signatures, or (operator mode, where the operator signs) the price of each data
        frame received beyond the first, which the request itself paid."""
        if reference != self.channel_id:
            raise ProtocolViolation(f"a receipt names channel {reference}, not {self.channel_id}")
        record = self.record
        view = records.view_of(record)
        if accepted is None or spent is None:
            raise ProtocolViolation("a stream receipt lacks acceptedCumulative or spent")
        if record.voucher_signer is VoucherSigner.OPERATOR:
            if spent > accepted:
                raise ProtocolViolation(f"the server reports spent {spent} above acceptedCumulative "
                                        f"{accepted}")
            self._operator_receipt(view, accepted, spent)
            return
        if accepted > view.signed:
            raise ProtocolViolation(f"the server reports acceptedCumulative {accepted}, above the "
                                    f"{view.signed} this client signed")
        vouched = m.vouched_spent(spent, accepted)  # a stream may charge ahead of our vouchers
        event = m.VoucherAccepted(max(view.accepted, accepted), max(view.spent, vouched))
        self._cached = records.advance(self.client.store, self.channel_id, event)

    def _operator_receipt(self, view: m.ChannelView, accepted: int, spent: int) -> None:
        ceiling = self.start_accepted + self.offer.price * max(self.data_events - 1, 0)
        if accepted > min(ceiling, view.deposit):
            raise ProtocolViolation(f"the operator signed {accepted} for {self.data_events} chunk(s) priced "
                                    f"{self.offer.price}; at most {min(ceiling, view.deposit)} was due")
        event = m.UseAccepted(max(view.accepted, accepted), max(view.spent, spent))
        self._cached = records.advance(self.client.store, self.channel_id, event)


def _json(data: str, name: str) -> dict[str, Any]:
    try:
        value = loads_json(data, f"the {name} event")
    except MalformedError as exc:
        raise ProtocolViolation(str(exc)) from None
    if not isinstance(value, dict):
        raise ProtocolViolation(f"the {name} event is not a JSON object")
    return value


def _side_error(answer: Any) -> str:
    try:
        return parse_side_channel_error(answer)
    except MalformedError:
        return "no reason given"
