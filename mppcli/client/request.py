"""One paid request, curl-like: 402 → (open) → voucher for exactly the price → the resource.

The voucher is `accepted + price` (spec §Voucher Verification step 5: the increment is the cost),
signed by the channel's authorized signer and recorded before it leaves. A receipt must confirm
exactly that voucher. When the deposit cannot cover it, the channel is topped up within
--max-spend, else the request stops with exit 5. When the server refuses a voucher while our
record says a higher one was signed but never confirmed (a crash between sending and recording),
the identical stored voucher is offered once: it adds no exposure, and a server that already took
it recognises it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mppcli.client import machine as m
from mppcli.client import records
from mppcli.client.challenge import Offer, offer_of
from mppcli.client.context import Client, PayOptions, budget_for
from mppcli.client.credentials import Reply, Sender, send_credential
from mppcli.client.http import Answer, RequestSpec
from mppcli.client.openings import load_opening
from mppcli.client.resolve import channel_for, retire_if_gone
from mppcli.client.signing import read_voucher, sign_and_record, signer_keypair, voucher_text
from mppcli.client.topup import top_up
from mppcli.errors import PaymentRejected, ProtocolViolation, channel_context
from mppcli.protocol.receipt import SessionReceipt
from mppcli.protocol.voucher import SignedVoucher
from mppcli.state.record import ChannelRecord, VoucherSigner


@dataclass(frozen=True)
class Paid:
    """What one payment produced."""

    answer: Answer
    record: ChannelRecord
    receipt: SessionReceipt
    cumulative: int
    budget: m.Budget
    amount: int  # what this payment added


@dataclass(frozen=True)
class RequestResult:
    answer: Answer
    paid: Paid | None


async def paid_request(client: Client, spec: RequestSpec, options: PayOptions) -> RequestResult:
    """Send `spec`; when it costs money, pay for it through a session channel."""
    answer = await client.http.send(spec)
    if answer.status != 402:
        return RequestResult(answer, None)
    offer = offer_of(answer)
    budget = budget_for(options, offer.details.decimals or 0)
    record, budget = await channel_for(client, spec, offer, options, budget)
    try:
        paid = await _pay_fresh(client, spec, offer, record, options, budget)
    except PaymentRejected:
        if options.channel != "auto" or not await retire_if_gone(client, record):
            raise
        record, budget = await channel_for(client, spec, offer, options, budget)  # a new channel
        paid = await _pay_fresh(client, spec, offer, record, options, budget)
    return RequestResult(paid.answer, paid)


async def _pay_fresh(client: Client, spec: RequestSpec, offer: Offer, record: ChannelRecord,
                     options: PayOptions, budget: m.Budget) -> Paid:
    with channel_context(record.channel_id):
        if record.opening_challenge_id == offer.challenge.id:
            offer = offer_of(await client.http.send(spec))  # the open used that challenge: a fresh one
        return await pay(client, spec, offer, record, options, budget)


async def pay(client: Client, spec: RequestSpec, offer: Offer, record: ChannelRecord,
              options: PayOptions, budget: m.Budget, sender: Sender | None = None) -> Paid:
    """Pay `offer` on `record`'s channel (the caller holds the channel lock across the exchange)."""
    with client.store.lock(record.channel_id, purpose="paying a request"):
        record = client.store.get(record.channel_id)
        if record.voucher_signer is VoucherSigner.OPERATOR:
            return await _pay_operator(client, spec, offer, record, options, budget, sender)
        return await _pay_voucher(client, spec, offer, record, options, budget, sender)


@dataclass(frozen=True)
class _Try:
    """One voucher sent for this request, and how the server answered."""

    reply: Reply
    signed: SignedVoucher
    budget: m.Budget

    @property
    def cumulative(self) -> int:
        return self.signed.voucher.cumulative_amount


async def _pay_voucher(client: Client, spec: RequestSpec, offer: Offer, record: ChannelRecord,
                       options: PayOptions, budget: m.Budget, sender: Sender | None) -> Paid:
    record, budget = await covered(client, spec, record, offer, options, budget,
                                   lambda v, b: m.request_cumulative(v, offer.price, b))
    pay = _Payment(client, spec, offer, record.channel_id, options, sender, signer_keypair(client, record))
    attempt = await pay.fresh(budget, m.request_cumulative)
    for recover in (pay.resend_stored, pay.beyond_unconfirmed, pay.after_top_up):
        if attempt.reply.ok:
            break
        attempt = await recover(attempt)
    if not attempt.reply.ok:
        raise PaymentRejected(f"the server refused the voucher for {attempt.cumulative}: "
                              f"{attempt.reply.reason}",
                              channel_id=record.channel_id,
                              hint="`mpp channels sync` shows the channel on chain; `mpp close` ends it.")
    return _accept(client, record, attempt.reply, attempt.cumulative, attempt.budget,
                   voucher_text(attempt.signed))


@dataclass(frozen=True)
class _Payment:
    """The ways to get one request paid, tried in order after a refusal."""

    client: Client
    spec: RequestSpec
    offer: Offer
    channel_id: str
    options: PayOptions
    sender: Sender | None
    keypair: Any

    def _record(self) -> ChannelRecord:
        return self.client.store.get(self.channel_id)

    async def _send(self, signed: SignedVoucher) -> Reply:
        payload = {"action": "voucher", "channelId": self.channel_id, "voucher": signed.to_json()}
        return await send_credential(self.client, self.spec, self.offer.challenge, payload,
                                     sender=self.sender)

    async def fresh(self, budget: m.Budget, decide: Callable[[m.ChannelView, int, m.Budget], int]) -> _Try:
        """Sign (and record) the voucher `decide` picks, then send it."""
        record = self._record()
        view = records.view_of(record)
        cumulative = decide(view, self.offer.price, budget)
        signed, _ = sign_and_record(self.client, record, self.keypair, cumulative)
        self.client.emit("voucher", channelId=self.channel_id, cumulative=str(cumulative))
        return _Try(await self._send(signed), signed, budget.after_signing(view, cumulative))

    async def resend_stored(self, attempt: _Try) -> _Try:
        """A higher voucher signed earlier but never confirmed: the identical bytes (no new exposure)."""
        record = self._record()
        stored = record.last_signed_voucher
        if attempt.reply.answer.status != 402 or not stored or \
                record.signed_cumulative <= max(attempt.cumulative, record.accepted_cumulative):
            return attempt
        self.client.emit("retry", channelId=self.channel_id, cumulative=str(record.signed_cumulative),
                         reason=attempt.reply.reason)
        signed = read_voucher(stored)
        reply = await self._send(signed)
        return _Try(reply, signed, attempt.budget) if reply.ok else attempt

    async def beyond_unconfirmed(self, attempt: _Try) -> _Try:
        """The refused voucher was our unconfirmed highest one: the server may hold it already."""
        record = self._record()
        if attempt.reply.answer.status != 402 or record.accepted_cumulative >= record.signed_cumulative \
                or attempt.cumulative != record.signed_cumulative:
            return attempt
        self.client.emit("retry", channelId=self.channel_id, reason=attempt.reply.reason)
        price = self.offer.price
        _, budget = await covered(self.client, self.spec, record, self.offer, self.options, attempt.budget,
                                  lambda v, b: m.retry_cumulative(v, price, b))
        return await self.fresh(budget, m.retry_cumulative)

    async def after_top_up(self, attempt: _Try) -> _Try:
        """A refusal about the deposit (a crash may have left capacity held for unpaid deliveries):
        top up within --max-spend and resend the same voucher once."""
        if not about_capacity(attempt.reply.reason) or not attempt.budget.room_to_lock():
            return attempt
        record = self._record()
        preferred = self.offer.request.suggested_deposit or record.deposit
        amount = m.top_up_amount(records.view_of(record), self.offer.price, preferred, attempt.budget)
        await top_up(self.client, record, amount, self.options, self.offer, url=self.spec.url)
        self.client.emit("retry", channelId=self.channel_id, reason="topped up after a refusal")
        return _Try(await self._send(attempt.signed), attempt.signed, attempt.budget.after_locking(amount))


CAPACITY_WORDS = re.compile(r"deposit|top.?up|insufficient|availab", re.IGNORECASE)


def about_capacity(reason: str) -> bool:
    """Whether a refusal speaks of the deposit (`mpp serve`: "exceeds the channel deposit ... top up";
    the reference: "exceeds-deposit", "insufficient ... availability"). Problem types do not say."""
    return bool(CAPACITY_WORDS.search(reason))


def _accept(client: Client, record: ChannelRecord, reply: Reply, cumulative: int, budget: m.Budget,
            sent_text: str) -> Paid:
    receipt = reply.receipt
    assert receipt is not None
    if receipt.reference != record.channel_id:
        raise ProtocolViolation(f"the receipt names channel {receipt.reference}, not {record.channel_id}")
    view = records.view_of(client.store.get(record.channel_id))
    event = m.check_voucher_receipt(view, cumulative, receipt.accepted_cumulative or 0, receipt.spent or 0)
    extra = {"last_accepted_voucher": sent_text} if cumulative > view.accepted else {}
    record = records.advance(client.store, record.channel_id, event, **extra)
    client.emit("receipt", channelId=record.channel_id, acceptedCumulative=str(event.cumulative),
                spent=str(event.spent))
    return Paid(reply.answer, record, receipt, cumulative, budget, cumulative - view.accepted)


async def covered(client: Client, spec: RequestSpec, record: ChannelRecord, offer: Offer, options: PayOptions,
                   budget: m.Budget, decide: Callable[[m.ChannelView, m.Budget], object]
                   ) -> tuple[ChannelRecord, m.Budget]:
    """Top up within --max-spend when the deposit cannot cover the next payment."""
    try:
        decide(records.view_of(record), budget)
        return record, budget
    except m.BalanceExhausted as exc:
        preferred = offer.request.suggested_deposit or record.deposit
        amount = m.top_up_amount(records.view_of(record), exc.needed, preferred, budget)
    result = await top_up(client, record, amount, options, offer, url=spec.url)
    return result.record, budget.after_locking(amount)


async def _pay_operator(client: Client, spec: RequestSpec, offer: Offer, record: ChannelRecord,
                        options: PayOptions, budget: m.Budget, sender: Sender | None) -> Paid:
    """Operator mode: present the bearer proof; the operator signs the cumulative voucher."""
    record, budget = await covered(client, spec, record, offer, options, budget,
                                   lambda v, b: m.check_use_allowed(v, offer.price, b))
    view = records.view_of(record)
    payload = {"action": "use", "channelId": record.channel_id, "authentication": record.authentication}
    opening = load_opening(client.paths, record.channel_id) or offer.challenge  # spec: echo the opening one
    reply = await send_credential(client, spec, opening, payload,
                                  extra=(("Idempotency-Key", str(uuid.uuid4())),), sender=sender)
    if not reply.ok or reply.receipt is None:
        raise PaymentRejected(f"the server refused the request: {reply.reason}", channel_id=record.channel_id)
    receipt = reply.receipt
    event = m.check_use_receipt(view, offer.price, receipt.accepted_cumulative or 0, receipt.spent or 0)
    record = records.advance(client.store, record.channel_id, event)
    client.emit("receipt", channelId=record.channel_id, acceptedCumulative=str(event.cumulative),
                spent=str(event.spent))
    return Paid(reply.answer, record, receipt, event.cumulative, budget.after_paying(offer.price),
                offer.price)
