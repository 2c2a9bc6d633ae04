"""Which channel pays for a request: the live one for this server, a named one, or a new one.

`--channel auto` reuses this payer's open channel with the server (after tidying records a crash
left `opening`), `new` always opens, anything else names a channel (id, prefix or URL). A named or
reused channel must still have the terms the server now offers (network, program, mint, payee).
"""

from __future__ import annotations

from mppcli.client import chainio, records
from mppcli.client import machine as m
from mppcli.client.challenge import Offer
from mppcli.client.context import Client, PayOptions, origin_of
from mppcli.client.http import RequestSpec
from mppcli.client.open import open_channel
from mppcli.client.policy import check_same_terms
from mppcli.client.vetting import vet_offer
from mppcli.errors import InputError
from mppcli.state.record import ChannelRecord, ChannelStatus


async def channel_for(client: Client, spec: RequestSpec, offer: Offer, options: PayOptions,
                      budget: m.Budget) -> tuple[ChannelRecord, m.Budget]:
    """The channel to pay `offer` with, opening one when needed (and allowed)."""
    if options.channel not in ("auto", "new"):
        record = client.store.find(options.channel)
        if record.status is not ChannelStatus.OPEN:
            raise InputError(f"channel {record.channel_id} is {record.status.value}, not open",
                             channel_id=record.channel_id)
        check_same_terms(records.terms_of(record), offer.terms())
        await vet_offer(client, offer, options)
        return record, budget
    if options.channel == "auto":
        await settle_openings(client, origin_of(spec.url))
        live = records.reusable(client.store, origin_of(spec.url), str(client.payer.pubkey), offer.terms())
        if live is not None:
            await vet_offer(client, offer, options)
            return live, budget
    return await open_channel(client, spec, offer, options, budget)


async def settle_openings(client: Client, origin: str) -> None:
    """Records a crash left `opening`: promote those the chain has, close those that cannot land."""
    pending = [r for r in client.store.list(include_closed=False).records
               if r.origin == origin and r.status is ChannelStatus.OPENING]
    for record in pending:
        await reconcile_opening(client, record)


async def reconcile_opening(client: Client, record: ChannelRecord) -> ChannelRecord:
    from mppcli.chain.constants import OPEN_SLOT_WINDOW

    seen = await chainio.read_channel(client.rpc, record.channel_id, record.program_id)
    if seen.account is not None:
        return records.advance(client.store, record.channel_id, seen.event())
    if await client.rpc.slot() > record.open_slot + OPEN_SLOT_WINDOW:
        return records.advance(client.store, record.channel_id, m.OpenExpired())
    return record


async def retire_if_gone(client: Client, record: ChannelRecord) -> bool:
    """After a refusal: is the channel still open on chain? If not (the server closed it, e.g. for
    idleness), record what the chain says and report it gone, so a new one can be opened."""
    seen = await chainio.read_channel(client.rpc, record.channel_id, record.program_id)
    event = seen.event()
    if isinstance(event, m.ChainOpen):
        return False
    view = records.view_of(client.store.get(record.channel_id))
    if (view.status, type(event)) in m.TRANSITIONS:
        records.advance(client.store, record.channel_id, event)
    client.emit("info", message=f"channel {record.channel_id} is no longer open on chain")
    return True


async def open_for(client: Client, spec: RequestSpec, options: PayOptions) -> tuple[ChannelRecord, bool]:
    """`mpp open URL`: the channel for the URL's challenge; True when it already existed."""
    from mppcli.client.challenge import offer_of
    from mppcli.client.context import budget_for

    answer = await client.http.send(spec)
    if answer.status != 402:
        raise InputError(f"{spec.url} answered {answer.status}: there is nothing to pay for",
                         hint="`mpp inspect URL` shows what a server asks for.")
    offer = offer_of(answer)
    budget = budget_for(options, offer.details.decimals or 0)
    record, _ = await channel_for(client, spec, offer, options, budget)
    return record, record.opening_challenge_id != offer.challenge.id
