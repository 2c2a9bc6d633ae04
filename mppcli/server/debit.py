"""Paying for one request: the `voucher` action (client mode) and `use` (operator mode).

Spec (Debit Processing): authenticate, compute the cost from the route's price, check `available`,
then persist the accepted voucher and `spent` - together with the cached response of an
`Idempotency-Key` - in one transaction *before* the response bytes are released. A retry with the
same `(challengeId, Idempotency-Key)` gets the cached response back and changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from mppcli.protocol.actions import UseAction, VoucherAction
from mppcli.protocol.receipt import format_receipt
from mppcli.protocol.session import VoucherSigner
from mppcli.protocol.voucher import Voucher, sign_voucher
from mppcli.server import problems
from mppcli.server.challenges import Echo, Route
from mppcli.server.context import ServerContext, receipt
from mppcli.server.state import CachedResponse, ChannelState, Status
from mppcli.server.vouchers import check_advance, check_binding, check_cost, check_signature_and_expiry

Render = Callable[[ChannelState], tuple[str, bytes]]


@dataclass(frozen=True)
class Charged:
    """A paid request: the channel after the debit and the response to release."""

    state: ChannelState
    response: CachedResponse
    replayed: bool = False


async def charge(
    ctx: ServerContext,
    echo: Echo,
    action: VoucherAction | UseAction,
    route: Route,
    idempotency_key: str | None,
    render: Render,
) -> Charged:
    """Authenticate and debit `route.price` from the channel; see the module docstring."""
    if isinstance(action, VoucherAction):
        # A `use` echoes the challenge that opened the channel (it may name another route, and its
        # expiry limits opening only): the operator charges this route's price.
        ctx.issuer.check_expiry(echo, ctx.clock())
        ctx.issuer.check_route(echo, route)
    async with ctx.locks(action.channel_id):
        state = require_channel(ctx, action.channel_id)
        if idempotency_key:
            cached = ctx.store.cached(echo.challenge.id, idempotency_key)
            if cached is not None:
                return _replay(state, cached)
        require_open(state)
        state = await ctx.confirm_live(state)
        pending = ctx.pending(state.channel_id)
        if isinstance(action, VoucherAction):
            debited = _accept_voucher(ctx, state, action, route.price, pending)
        else:
            debited = _operator_debit(ctx, state, echo, action, route.price, pending)
        return _persist(ctx, debited, echo, idempotency_key, render)


def require_channel(ctx: ServerContext, channel_id: str) -> ChannelState:
    state = ctx.store.channel(channel_id)
    if state is None:
        raise problems.failed(f"channel {channel_id} is not known to this server")
    return state


def require_open(state: ChannelState) -> None:
    """Terminal and closing channels take no new service (spec: Close and Terminal Handling)."""
    if state.status is Status.CLOSED:
        raise problems.failed(f"channel {state.channel_id} is closed")
    if state.status is Status.CLOSING or state.closure_started_at:
        raise problems.failed(f"channel {state.channel_id} is closing; it accepts no new service")


def _replay(state: ChannelState, cached: tuple[str, CachedResponse]) -> Charged:
    channel_id, response = cached
    if channel_id != state.channel_id:
        raise problems.failed("this Idempotency-Key was already used for another channel")
    return Charged(state, response, replayed=True)


def _accept_voucher(
    ctx: ServerContext, state: ChannelState, action: VoucherAction, cost: int, pending: int
) -> ChannelState:
    if state.voucher_signer != VoucherSigner.CLIENT:
        raise problems.failed("the voucher action is only valid for a client-signed channel")
    signed = action.voucher
    cumulative = signed.voucher.cumulative_amount
    now = ctx.clock()
    check_binding(state, signed)
    check_advance(state, cumulative, pending, ctx.config.min_voucher_delta)
    check_cost(state, cumulative, cost)
    check_signature_and_expiry(state, signed, now, ctx.config.clock_skew)
    return dataclasses.replace(
        state,
        accepted=cumulative,
        spent=state.spent + cost,
        highest_voucher=signed.to_json(),
        last_activity_at=now,
    )


def _operator_debit(
    ctx: ServerContext, state: ChannelState, echo: Echo, action: UseAction, cost: int, pending: int
) -> ChannelState:
    check_bearer(state, echo, action.authentication.to_json())
    if state.available(pending) < cost:
        raise problems.failed(
            f"the channel can authorize {state.available(pending)} more, this request "
            f"costs {cost}; top up the channel",
            state.channel_id,
        )
    return operator_sign(ctx, state, cost)


def check_bearer(state: ChannelState, echo: Echo | None, authentication: dict[str, str]) -> None:
    """Spec (Session Bearer Proof): the proof bound at open, echoing the opening challenge."""
    if state.voucher_signer != VoucherSigner.OPERATOR or state.authentication is None:
        raise problems.failed("this channel has no bearer proof binding (it is not operator-signed)")
    if echo is not None and echo.challenge.id != state.opening_challenge_id:
        raise problems.failed(
            "an operator-signed request must echo the challenge that opened the channel", state.channel_id
        )
    if authentication != state.authentication:
        raise problems.failed(
            "the authentication proof is not the one bound to this channel at open", state.channel_id
        )


def operator_sign(ctx: ServerContext, state: ChannelState, cost: int) -> ChannelState:
    """The operator authorizes `cost` more: a voucher for `accepted + cost`, signed now."""
    operator = ctx.config.voucher_key
    if operator is None or str(operator.pubkey()) != state.authorized_signer:
        raise problems.failed("this server's operator voucher key is not the channel's authorized signer")
    signed = sign_voucher(operator, Voucher(state.channel_id, state.accepted + cost))
    return dataclasses.replace(
        state,
        accepted=state.accepted + cost,
        spent=state.spent + cost,
        highest_voucher=signed.to_json(),
        last_activity_at=ctx.clock(),
    )


def _persist(ctx: ServerContext, state: ChannelState, echo: Echo, key: str | None, render: Render) -> Charged:
    content_type, body = render(state)
    header = format_receipt(
        receipt(ctx.config, state, echo.challenge.id, ctx.clock(), external_id=echo.request.external_id)
    )
    response = CachedResponse(200, header, content_type, body)
    with ctx.store.batch() as batch:
        batch.put_channel(state)
        if key:
            batch.put_cached(echo.challenge.id, key, state.channel_id, response)
    return Charged(state, response)
