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
from typing import Any

from mppcli.client import machine as m
from mppcli.client import records
from mppcli.client.answer import Answer
from mppcli.client.challenge import Offer, offer_of
from mppcli.client.context import Client, PayOptions, budget_for
from mppcli.client.credentials import (
    IDEMPOTENCY_HEADER,
    Reply,
    Sender,
    check_fresh,
    check_transport,
    problem_text,
    send_credential,
)
from mppcli.client.http import RequestSpec
from mppcli.client.openings import load_opening
from mppcli.client.resolve import channel_for, retire_if_gone
from mppcli.client.signing import read_voucher, sign_and_record, signer_keypair, voucher_text
from mppcli.client.topup import top_up
from mppcli.errors import (
    HttpStatusError,
    MalformedError,
    NetworkError,
    PaymentRejected,
    ProtocolViolation,
    channel_context,
)
from mppcli.protocol.actions import UseAction, VoucherAction
from mppcli.protocol.auth import Challenge
from mppcli.protocol.bearer import parse_authentication
from mppcli.protocol.encoding import loads_json
from mppcli.protocol.problem import ACCEPTED_CUMULATIVE, AVAILABLE, PROBLEM_BASE, REQUIRED
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


class Uncharged(HttpStatusError):
    """The server answered an error that is not a payment refusal (e.g. a gateway's 502 for a
    failing upstream, or the upstream's own 404) and sent no receipt: it did not charge. The
    voucher sent stays signed-but-unconfirmed in the record, so the next request re-sends it
    byte-identical (no new exposure) instead of signing more."""

    def __init__(self, answer: Answer, channel_id: str, cumulative: int | None):
        self.answer = answer
        status = f"HTTP {answer.status} {answer.reason}".strip()
        detail = problem_text(answer)
        said = "" if detail == status else f": {detail}"
        voucher = "" if cumulative is None else f" for the voucher for {cumulative}"
        super().__init__(f"the server answered {status}{said}; it did not charge{voucher}",
                         channel_id=channel_id,
                         hint="Nothing more was signed and nothing was spent: the next request re-sends "
                              "the same voucher. Try again later, or ask the seller about the service.")


def is_refusal(answer: Answer) -> bool:
    """Whether an answer without a receipt refuses the payment (a 402, a Payment challenge, or a
    problem of the payment types or with a payment member), rather than failing the service."""
    if answer.status == 402 or any(v.lower().startswith("payment") for v in answer.all("www-authenticate")):
        return True
    data = _problem_object(answer)
    if data is None:
        return False
    kind = data.get("type")
    return (isinstance(kind, str) and kind.startswith(PROBLEM_BASE)) or any(
        member in data for member in (REQUIRED, AVAILABLE, ACCEPTED_CUMULATIVE))


def _check_charged(reply: Reply, channel_id: str, cumulative: int | None) -> None:
    """Raise `Uncharged` for an error answer that refuses nothing (see `is_refusal`)."""
    if reply.receipt is None and reply.answer.status >= 400 and not is_refusal(reply.answer):
        raise Uncharged(reply.answer, channel_id, cumulative)


@dataclass(frozen=True)
class RequestResult:
    answer: Answer
    paid: Paid | None
    uncharged: Uncharged | None = None  # an error answer the server did not charge for


async def paid_request(client: Client, spec: RequestSpec, options: PayOptions) -> RequestResult:
    """Send `spec`; when it costs money, pay for it through a session channel."""
    answer = await client.http.send(spec)
    if answer.status != 402:
        return RequestResult(answer, None)
    offer = offer_of(answer)
    budget = budget_for(options, offer.details.decimals or 0)
    record, budget = await channel_for(client, spec, offer, options, budget)
    try:
        try:
            paid = await _pay_fresh(client, spec, offer, record, options, budget)
        except PaymentRejected:
            if options.channel != "auto" or not await retire_if_gone(client, record):
                raise
            record, budget = await channel_for(client, spec, offer, options, budget)  # a new channel
            paid = await _pay_fresh(client, spec, offer, record, options, budget)
    except Uncharged as uncharged:  # an error answer like any other, but nothing was charged
        return RequestResult(uncharged.answer, None, uncharged)
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
    check_transport(spec.url, client.allow_http)  # before anything is signed for it
    check_fresh(offer.challenge, client.clock())
    record, budget = await covered(client, spec, record, offer, options, budget,
                                   lambda v, b: m.request_cumulative(v, offer.price, b))
    pay = _Payment(client, spec, offer, record.channel_id, options, sender, signer_keypair(client, record))
    attempt = await pay.first(budget)
    if not attempt.reply.ok:
        attempt = await pay.after_top_up(attempt)
    _check_charged(attempt.reply, record.channel_id, attempt.cumulative)
    if not attempt.reply.ok:
        raise PaymentRejected(f"the server refused the voucher for {attempt.cumulative}: "
                              f"{attempt.reply.reason}",
                              channel_id=record.channel_id,
                              hint="Nothing more was signed for the refusal. `mpp channels sync` shows the "
                                   "channel on chain; `mpp close` settles what the server accepted.")
    return _accept(client, record, attempt.reply, attempt.cumulative, attempt.budget,
                   voucher_text(attempt.signed))


@dataclass(frozen=True)
class _Payment:
    """One request paid by one voucher; a retry only ever re-sends that same voucher.

    The retry rule (issue 10 item 15): after a refusal nothing higher is signed. A voucher is
    re-sent byte-identical (with the same Idempotency-Key) after a transport failure, after a
    top-up the refusal asked for, and — when an earlier run left it unconfirmed — as the first
    thing a later run sends. A higher voucher is signed only above what the server confirmed
    holding (a receipt, or its refusal's `acceptedCumulative` naming our own highest voucher).
    """

    client: Client
    spec: RequestSpec
    offer: Offer
    channel_id: str
    options: PayOptions
    sender: Sender | None
    keypair: Any

    def _record(self) -> ChannelRecord:
        return self.client.store.get(self.channel_id)

    async def _send(self, signed: SignedVoucher, challenge: Challenge | None = None) -> Reply:
        """Send `signed`; a transport failure is retried once with the same challenge and key
        (spec, Concurrency and Idempotency: the server answers a processed request from its cache)."""
        payload = VoucherAction(self.channel_id, signed).to_json()  # its Idempotency-Key: one per voucher
        echo = challenge or self.offer.challenge
        try:
            return await send_credential(self.client, self.spec, echo, payload, sender=self.sender)
        except NetworkError as exc:
            if self.sender is not None:
                raise
            self.client.emit("retry", channelId=self.channel_id, reason=exc.message,
                             cumulative=str(signed.voucher.cumulative_amount))
            return await send_credential(self.client, self.spec, echo, payload)

    async def first(self, budget: m.Budget) -> _Try:
        """The voucher this request is paid with: an unconfirmed one of an earlier run when it covers
        the price (re-sent byte-identical: no new exposure), else `accepted + price`."""
        record = self._record()
        stored = record.last_signed_voucher
        covers = record.signed_cumulative >= record.accepted_cumulative + self.offer.price
        if stored and record.signed_cumulative > record.accepted_cumulative and covers:
            signed = read_voucher(stored)
            self.client.emit("retry", channelId=self.channel_id, cumulative=str(record.signed_cumulative),
                             reason="re-sending the voucher an earlier run left unconfirmed")
            attempt = _Try(await self._send(signed), signed, budget)
        else:
            attempt = await self.fresh(budget)
        if attempt.reply.ok or not self._holds_highest(attempt):
            return attempt
        _, budget = await covered(self.client, self.spec, self._record(), self.offer, self.options,
                                  attempt.budget, lambda v, b: m.request_cumulative(v, self.offer.price, b))
        return await self.fresh(budget, fresh_challenge(attempt.reply.answer, self.offer))

    def _holds_highest(self, attempt: _Try) -> bool:
        """Whether the refusal says the server already holds our highest, unconfirmed voucher (its
        `acceptedCumulative` names exactly that amount). Then it is recorded as accepted: the server
        can settle it anyway, and it is no more than this client signed."""
        claimed = problem_amount(attempt.reply.answer, ACCEPTED_CUMULATIVE)
        if claimed is None:
            return False
        record = self._record()
        if claimed > record.signed_cumulative:
            raise ProtocolViolation(f"the server claims it accepted {claimed}, above the "
                                    f"{record.signed_cumulative} this client signed",
                                    channel_id=self.channel_id)
        if claimed != record.signed_cumulative or claimed <= record.accepted_cumulative \
                or record.last_signed_voucher is None:
            return False
        view = records.view_of(record)
        records.advance(self.client.store, self.channel_id,
                        m.VoucherAccepted(cumulative=claimed, spent=view.spent),
                        last_accepted_voucher=record.last_signed_voucher)
        return True

    async def fresh(self, budget: m.Budget, challenge: Challenge | None = None) -> _Try:
        """Sign (and record) `accepted + price`, then send it."""
        record = self._record()
        view = records.view_of(record)
        cumulative = m.request_cumulative(view, self.offer.price, budget)
        signed, _ = sign_and_record(self.client, record, self.keypair, cumulative)
        self.client.emit("voucher", channelId=self.channel_id, cumulative=str(cumulative))
        return _Try(await self._send(signed, challenge), signed, budget.after_signing(view, cumulative))

    async def after_top_up(self, attempt: _Try) -> _Try:
        """A refusal for want of deposit: top up within --max-spend, then re-send the same voucher."""
        short = capacity_shortfall(attempt.reply.answer, attempt.cumulative)
        if short is None or not attempt.budget.room_to_lock():
            return attempt
        record = self._record()
        preferred = self.offer.request.suggested_deposit or record.deposit
        amount = m.top_up_amount(records.view_of(record), max(short, 1), preferred, attempt.budget)
        await top_up(self.client, record, amount, self.options, self.offer, url=self.spec.url)
        self.client.emit("retry", channelId=self.channel_id, reason="topped up after a refusal")
        challenge = fresh_challenge(attempt.reply.answer, self.offer)
        return _Try(await self._send(attempt.signed, challenge), attempt.signed,
                    attempt.budget.after_locking(amount))


# The reference server names a refusal for want of deposit by a tag, not by a problem member
# (PROTOCOL-NOTES §4.4, §4.5): the fallback when no `required`/`available` members are sent.
REFERENCE_CAPACITY_TAGS = ("exceeds-deposit", "insufficient channel availability",
                           "insufficient authorized voucher availability")


def fresh_challenge(answer: Answer, offer: Offer) -> Challenge:
    """The refusal's fresh challenge for a re-send (spec: every error carries one); the original
    when the refusal has none usable."""
    try:
        return offer_of(answer).challenge
    except ProtocolViolation:
        return offer.challenge


def _problem_object(answer: Answer) -> dict[str, Any] | None:
    """The answer's body as a JSON object, None when it is not one (an upstream's body may be
    anything, nested 100,000 deep included)."""
    try:
        data = loads_json(answer.body, "the answer")
    except MalformedError:
        return None
    return data if isinstance(data, dict) else None


def problem_amount(answer: Answer, member: str) -> int | None:
    """A decimal-string amount member of a problem+json refusal; None when absent or not one."""
    from mppcli.protocol.encoding import parse_u64

    data = _problem_object(answer)
    value = data.get(member) if data is not None else None
    if not isinstance(value, str):
        return None
    try:
        return parse_u64(value, member)
    except MalformedError:
        return None


def capacity_shortfall(answer: Answer, sent: int) -> int | None:
    """How much more deposit a refusal asks for: from its `required`/`available` members, else
    (the reference server) 1 when its tag says the deposit is short, else None (not about deposit)."""
    if answer.status != 402:
        return None
    required, available = problem_amount(answer, REQUIRED), problem_amount(answer, AVAILABLE)
    if required is not None and available is not None:
        return required - available if required > available else None
    tag = problem_text(answer).split(":", 1)[0].strip().lower()
    return 1 if tag in REFERENCE_CAPACITY_TAGS else None


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
    if record.authentication is None:
        raise ProtocolViolation(f"operator channel {record.channel_id} has no bearer proof on record")
    payload = UseAction(record.channel_id, parse_authentication(record.authentication)).to_json()
    opening = load_opening(client.paths, record.channel_id) or offer.challenge  # spec: echo the opening one
    extra = ((IDEMPOTENCY_HEADER, str(uuid.uuid4())),)  # one key for this request, kept on its retry
    try:
        reply = await send_credential(client, spec, opening, payload, extra=extra, sender=sender,
                                      check_expiry=False)
    except NetworkError as exc:
        if sender is not None:
            raise
        client.emit("retry", channelId=record.channel_id, reason=exc.message)
        reply = await send_credential(client, spec, opening, payload, extra=extra, check_expiry=False)
    _check_charged(reply, record.channel_id, None)
    if not reply.ok or reply.receipt is None:
        raise PaymentRejected(f"the server refused the request: {reply.reason}", channel_id=record.channel_id)
    receipt = reply.receipt
    event = m.check_use_receipt(view, offer.price, receipt.accepted_cumulative or 0, receipt.spent or 0)
    record = records.advance(client.store, record.channel_id, event)
    client.emit("receipt", channelId=record.channel_id, acceptedCumulative=str(event.cumulative),
                spent=str(event.spent))
    return Paid(reply.answer, record, receipt, event.cumulative, budget.after_paying(offer.price),
                offer.price)
