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

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from mppcli.client import machine as m
from mppcli.client import records
from mppcli.client.challenge import Offer, offer_of
from mppcli.client.context import Client, PayOptions, budget_for
from mppcli.client.credentials import Reply, Sender, send_credential
from mppcli.client.http import Answer, RequestSpec
from mppcli.client.resolve import channel_for
from mppcli.client.signing import read_voucher, sign_and_record, signer_keypair, voucher_text
from mppcli.client.topup import top_up
from mppcli.errors import PaymentRejected, ProtocolViolation, channel_context
from mppcli.protocol.receipt import SessionReceipt
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
    with channel_context(record.channel_id):
        if record.opening_challenge_id == offer.challenge.id:
            offer = offer_of(await client.http.send(spec))  # the open used that challenge: a fresh one
        paid = await pay(client, spec, offer, record, options, budget)
    return RequestResult(paid.answer, paid)


async def pay(client: Client, spec: RequestSpec, offer: Offer, record: ChannelRecord,
              options: PayOptions, budget: m.Budget, sender: Sender | None = None) -> Paid:
    """Pay `offer` on `record`'s channel (the caller holds the channel lock across the exchange)."""
    with client.store.lock(record.channel_id, purpose="paying a request"):
        record = client.store.get(record.channel_id)
        if record.voucher_signer is VoucherSigner.OPERATOR:
            return await _pay_operator(client, spec, offer, record, options, budget, sender)
        return await _pay_voucher(client, spec, offer, record, options, budget, sender)


async def _pay_voucher(client: Client, spec: RequestSpec, offer: Offer, record: ChannelRecord,
                       options: PayOptions, budget: m.Budget, sender: Sender | None) -> Paid:
    keypair = signer_keypair(client, record)
    record, budget = await covered(client, spec, record, offer, options, budget,
                                   lambda v, b: m.request_cumulative(v, offer.price, b))
    view = records.view_of(record)
    cumulative = m.request_cumulative(view, offer.price, budget)
    signed, record = sign_and_record(client, record, keypair, cumulative)
    budget = budget.after_signing(view, cumulative)
    client.emit("voucher", channelId=record.channel_id, cumulative=str(cumulative))
    reply = await _send_voucher(client, spec, offer, record.channel_id, signed.to_json(), sender)
    sent = voucher_text(signed)
    if not reply.ok:
        reply, cumulative, sent = await _after_refusal(client, spec, offer, record, reply, cumulative, sender)
    return _accept(client, record, reply, cumulative, budget, sent)


async def _send_voucher(client: Client, spec: RequestSpec, offer: Offer, channel_id: str,
                        voucher: dict[str, object], sender: Sender | None) -> Reply:
    payload = {"action": "voucher", "channelId": channel_id, "voucher": voucher}
    return await send_credential(client, spec, offer.challenge, payload, sender=sender)


async def _after_refusal(client: Client, spec: RequestSpec, offer: Offer, record: ChannelRecord,
                         reply: Reply, sent: int, sender: Sender | None) -> tuple[Reply, int, str]:
    """Offer the stored, never-confirmed voucher once; otherwise the refusal stands."""
    record = client.store.get(record.channel_id)
    stored = record.last_signed_voucher
    unconfirmed = record.signed_cumulative > max(sent, record.accepted_cumulative)
    if reply.answer.status == 402 and stored and unconfirmed:
        client.emit("retry", channelId=record.channel_id, cumulative=str(record.signed_cumulative),
                    reason=reply.reason)
        retry = await _send_voucher(client, spec, offer, record.channel_id, read_voucher(stored).to_json(),
                                    sender)
        if retry.ok:
            return retry, record.signed_cumulative, stored
    raise PaymentRejected(f"the server refused the voucher for {sent}: {reply.reason}",
                          channel_id=record.channel_id,
                          hint="`mpp channels sync` shows the channel on chain; `mpp close` ends it.")


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
    reply = await send_credential(client, spec, offer.challenge, payload,
                                  extra=(("Idempotency-Key", str(uuid.uuid4())),), sender=sender)
    if not reply.ok or reply.receipt is None:
        raise PaymentRejected(f"the server refused the request: {reply.reason}", channel_id=record.channel_id)
    receipt = reply.receipt
    event = m.check_use_receipt(view, offer.price, receipt.accepted_cumulative or 0, receipt.spent or 0)
    record = records.advance(client.store, record.channel_id, event)
    client.emit("receipt", channelId=record.channel_id, acceptedCumulative=str(event.cumulative),
                spent=str(event.spent))
    return Paid(reply.answer, record, receipt, event.cumulative, budget.after_paying(offer.price), offer.price)
