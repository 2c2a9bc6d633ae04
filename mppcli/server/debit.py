"""Paying for one request: the `voucher` action (client mode) and `use` (operator mode).

Spec (Debit Processing): authenticate, compute the cost from the route's price, check `available`,
then persist the accepted voucher and `spent` - together with the cached response of an
`Idempotency-Key` - in one transaction *before* the response bytes are released.

Idempotency (spec: Concurrency and Idempotency): the credential is authenticated first (voucher
binding, signature and expiry, or the bound bearer proof); only then is `(challengeId,
Idempotency-Key)` looked up, and the cached response is returned only to the *same* credential (a
digest of it is stored with the response). A different credential under a used key is refused and
changes nothing. The watermark and cost rules come last, so the exact voucher that is now the
stored highest still replays.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mppcli.protocol.actions import UseAction, VoucherAction
from mppcli.protocol.jcs import canonical_json
from mppcli.protocol.receipt import format_receipt
from mppcli.protocol.session import VoucherSigner
from mppcli.protocol.voucher import Voucher, sign_voucher
from mppcli.server import problems
from mppcli.server.challenges import Echo, Route
from mppcli.server.context import ServerContext, receipt
from mppcli.server.state import CachedResponse, ChannelState, Status
from mppcli.server.store import CachedEntry
from mppcli.server.terms import check_session_terms
from mppcli.server.vouchers import check_advance, check_binding, check_cost, check_signature_and_expiry

Render = Callable[[ChannelState], tuple[str, bytes]]
# Called with the debited (not yet stored) channel, lock held, right before the debit is persisted;
# raising aborts the debit. The gateway forwards to its upstream here (see `mppcli.server.gateway`).
Prepare = Callable[[ChannelState], Awaitable[None]]


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
    prepare: Prepare | None = None,
) -> Charged:
    """Authenticate and debit `route.price` from the channel; see the module docstring."""
    if isinstance(action, VoucherAction):
        # A `use` echoes the challenge that opened the channel (it may name another route, and its
        # expiry limits opening only): the operator charges this route's price.
        ctx.issuer.check_expiry(echo, ctx.clock())
        ctx.issuer.check_route(echo, route)
    async with ctx.locks(action.channel_id):
        state = require_channel(ctx, action.channel_id)
        _authenticate(ctx, state, echo, action)
        digest = None  # only an answer kept under an Idempotency-Key needs it
        if idempotency_key:
            digest = credential_digest(action)
            cached = ctx.store.cached(echo.challenge.id, idempotency_key)
            if cached is not None:
                return _replay(state, cached, digest)
        require_open(state)
        check_session_terms(ctx.config, state, echo)
        state = await ctx.confirm_live(state)
        pending = ctx.pending(state.channel_id)
        if isinstance(action, VoucherAction):
            debited = _accept_voucher(ctx, state, action, route.price, pending)
        else:
            debited = _operator_debit(ctx, state, route.price, pending)
        if prepare is not None:
            await prepare(debited)
        return _persist(ctx, debited, echo, idempotency_key, digest, render)


def _authenticate(
    ctx: ServerContext, state: ChannelState, echo: Echo, action: VoucherAction | UseAction
) -> None:
    """Who may spend from this channel: its authorized signer's voucher, or its bound bearer proof."""
    if isinstance(action, UseAction):
        check_bearer(state, echo, action.authentication.to_json())
        return
    if state.voucher_signer != VoucherSigner.CLIENT:
        raise problems.failed("the voucher action is only valid for a client-signed channel")
    check_binding(state, action.voucher)
    check_signature_and_expiry(state, action.voucher, ctx.clock(), ctx.config.clock_skew)


def credential_digest(action: VoucherAction | UseAction) -> str:
    """SHA-256 of the credential's payload in canonical JSON (RFC 8785): what makes a retry "the same"."""
    return hashlib.sha256(canonical_json(action.to_json())).hexdigest()


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


def _replay(state: ChannelState, cached: CachedEntry, digest: str) -> Charged:
    if cached.channel_id != state.channel_id or cached.credential_digest != digest:
        raise problems.failed(
            "this Idempotency-Key was already used with this challenge for another credential; "
            "a retry must resend the same credential, a new request needs a new Idempotency-Key",
            state.channel_id,
        )
    return Charged(state, cached.response, replayed=True)


def _accept_voucher(
    ctx: ServerContext, state: ChannelState, action: VoucherAction, cost: int, pending: int
) -> ChannelState:
    """The watermark and cost rules for an authenticated voucher (see `_authenticate`)."""
    cumulative = action.voucher.voucher.cumulative_amount
    check_advance(state, cumulative, pending, ctx.config.min_voucher_delta)
    check_cost(state, cumulative, cost)
    return dataclasses.replace(
        state,
        accepted=cumulative,
        spent=state.spent + cost,
        highest_voucher=action.voucher.to_json(),
        last_activity_at=ctx.clock(),
    )


def _operator_debit(ctx: ServerContext, state: ChannelState, cost: int, pending: int) -> ChannelState:
    if state.available(pending) < cost:
        raise problems.over_capacity(
            f"the channel can authorize {state.available(pending)} more, this request "
            f"costs {cost}; top up the channel",
            state.channel_id, cost, state.available(pending),
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


def _persist(
    ctx: ServerContext, state: ChannelState, echo: Echo, key: str | None, digest: str | None, render: Render
) -> Charged:
    content_type, body = render(state)
    header = format_receipt(
        receipt(ctx.config, state, echo.challenge.id, ctx.clock(), external_id=echo.request.external_id)
    )
    response = CachedResponse(200, header, content_type, body)
    with ctx.store.batch() as batch:
        batch.put_channel(state)
        if key and digest:
            batch.put_cached(echo.challenge.id, key, state.channel_id, response, digest)
    return Charged(state, response)
