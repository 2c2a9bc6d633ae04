"""`--dry-run`: what a paid request, stream or open would cost and deposit, from the challenge alone.

One unpaid request fetches the 402 challenge; the channel choice and the deposit are computed the
way the real flow computes them (`records.reusable`, `machine.choose_deposit`), and nothing is
signed, recorded or sent on chain. A deposit the real flow would refuse (cap below the server's
minimum) raises the same PolicyError, so a dry run answers "would this be refused?" too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from mppcli.client import machine as m
from mppcli.client import records
from mppcli.client.challenge import offer_of
from mppcli.client.context import Client, PayOptions, budget_for, origin_of, token_amount
from mppcli.client.http import RequestSpec
from mppcli.client.policy import check_grace_period
from mppcli.state.record import ChannelStatus


@dataclass(frozen=True)
class Quote:
    """What the real command would do. Amounts in base units; `deposit` only when it would open."""

    url: str
    status: int
    price: int = 0
    unit: str | None = None
    network: str | None = None
    mint: str | None = None
    decimals: int | None = None
    recipient: str | None = None
    channel_id: str | None = None
    opens: bool = False
    deposit: int | None = None
    minimum_deposit: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"dryRun": True, "url": self.url, "status": self.status, "price": str(self.price),
                "unit": self.unit, "network": self.network, "mint": self.mint, "recipient": self.recipient,
                "channelId": self.channel_id, "opens": self.opens,
                "deposit": None if self.deposit is None else str(self.deposit),
                "minimumDeposit": None if self.minimum_deposit is None else str(self.minimum_deposit)}


async def quote(client: Client, spec: RequestSpec, options: PayOptions) -> Quote:
    """Fetch the challenge and decide, without paying, signing or recording anything."""
    answer = await client.http.send(spec)
    if answer.status != 402:
        return Quote(spec.url, answer.status)
    offer = offer_of(answer)
    request, details = offer.request, offer.details
    decimals = details.decimals if details.decimals is not None else 0
    base = Quote(spec.url, 402, request.amount, request.unit_type, details.network, request.currency,
                 decimals, request.recipient, minimum_deposit=request.minimum_deposit)
    channel = _existing(client, spec, offer, options)
    if channel is not None:
        return replace(base, channel_id=channel)
    check_grace_period(details.grace_period_seconds, options.max_grace_period)  # as the open would
    deposit = m.choose_deposit(price=request.amount, suggested=request.suggested_deposit,
                               minimum=request.minimum_deposit, show=offer.amount_text,
                               requested=token_amount(options.deposit, decimals, "--deposit"),
                               budget=budget_for(options, decimals))
    return replace(base, opens=True, deposit=deposit)


def _existing(client: Client, spec: RequestSpec, offer: Any, options: PayOptions) -> str | None:
    if options.channel == "new":
        return None
    if options.channel != "auto":
        record = client.store.find(options.channel)
        return record.channel_id if record.status is ChannelStatus.OPEN else None
    live = records.reusable(client.store, origin_of(spec.url), str(client.payer.pubkey), offer.terms())
    return live.channel_id if live is not None else None
