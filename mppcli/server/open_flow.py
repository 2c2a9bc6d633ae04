"""The `open` action: every step of the spec's Open settlement procedure.

Order (spec §Settlement Procedure / Open): the challenge is a fresh new-channel one; the idle
timeout choice is resolved before anything is signed; the mint is allow-listed; an operator
channel's bearer proof verifies; the decoded transaction is checked against challenge and payload
(`chain.verify`, steps 1-12, with the current slot); then we co-sign as fee payer, broadcast,
confirm, read the `Channel` account back and check every field of step 14 before creating state.

A challenge opens at most one channel. Re-sending the same open credential after it succeeded
returns the same receipt (nothing is broadcast again); re-sending after a crash between broadcast
and persistence finds the account on chain and records it.
"""

from __future__ import annotations

import asyncio

from solders.hash import Hash
from solders.pubkey import Pubkey

from mppcli.chain.channel import ChannelAccount, ChannelStatus
from mppcli.chain.splits import Split, splits_hash
from mppcli.chain.txcodec import partial_sign
from mppcli.chain.verify import (
    OpenClaim,
    OpenExpectations,
    OpenRejected,
    OpenTerms,
    VerifiedOpen,
    verify_open_transaction,
)
from mppcli.protocol.actions import OpenAction
from mppcli.protocol.bearer import verify_bearer
from mppcli.protocol.session import VoucherSigner
from mppcli.server import problems
from mppcli.server.chainport import ChainMismatch
from mppcli.server.challenges import Echo
from mppcli.server.config import MAX_IDLE_TIMEOUT
from mppcli.server.context import ServerContext
from mppcli.server.policy import STATE_KEY as POLICY_KEY
from mppcli.server.policy import check_authorization_policy
from mppcli.server.state import ChannelState


async def open_channel(ctx: ServerContext, echo: Echo, action: OpenAction) -> ChannelState:
    """Open (or idempotently re-confirm) the channel the credential describes."""
    if echo.details.is_resume:
        raise problems.failed(
            f"open needs a new-channel challenge; this one resumes channel {echo.details.channel_id}"
        )
    ctx.issuer.check_expiry(echo, ctx.clock())
    async with ctx.locks("challenge:" + echo.challenge.id), ctx.locks(action.channel_id):
        existing = ctx.store.channel(action.channel_id)
        if existing is not None:
            return _replay(existing, echo, action)
        opened = ctx.store.channel_opened_by(echo.challenge.id)
        if opened is not None:
            raise problems.invalid_challenge(
                f"this challenge already opened channel {opened}; request a fresh challenge to open another"
            )
        return await _open_new(ctx, echo, action)


def _replay(existing: ChannelState, echo: Echo, action: OpenAction) -> ChannelState:
    same = (
        existing.opening_challenge_id == echo.challenge.id
        and existing.payer == action.payer
        and existing.authorized_signer == action.authorized_signer
        and existing.salt == action.salt
        and existing.open_slot == action.open_slot
    )
    if not same:
        raise problems.failed(f"channel {action.channel_id} is already open with other parameters")
    return existing


async def _open_new(ctx: ServerContext, echo: Echo, action: OpenAction) -> ChannelState:
    requested = action.idle_timeout_seconds
    if requested is not None and not 1 <= requested <= MAX_IDLE_TIMEOUT:
        raise problems.failed(
            f"idleTimeoutSeconds must be 1 to {MAX_IDLE_TIMEOUT}, got {str(requested)[:20]}"
        )
    try:
        idle = ctx.config.idle_timeout_for(requested)
    except ValueError as exc:
        raise problems.failed(str(exc)) from None
    if action.mint not in ctx.config.mint_allowed:
        raise problems.failed(f"mint {action.mint} is not on this server's allow-list")
    _check_proof(echo, action)
    check_authorization_policy(
        action.authorization_policy, action.authorized_signer, echo.details.effective_voucher_signer
    )
    slot = await ctx.chain.slot()
    try:
        verified = verify_open_transaction(action.transaction, _expectations(echo, action, slot))
    except OpenRejected as exc:
        raise problems.failed(f"open transaction rejected: {exc.reason}") from None
    account = await _broadcast(ctx, verified)
    _check_account(account, verified, echo)
    now = ctx.clock()
    state = _new_state(verified, account, echo, action, idle, now)
    ctx.store.save(state)
    ctx.log(f"opened channel {state.channel_id} deposit={state.deposit} idle={idle}s")
    return state


def _check_proof(echo: Echo, action: OpenAction) -> None:
    """Spec step 12: operator channels bind the payer's bearer proof to this challenge and channel."""
    auth = action.authentication
    if echo.details.effective_voucher_signer != VoucherSigner.OPERATOR:
        if auth is not None:
            raise problems.malformed("authentication must be absent for a client-signed channel")
        return
    if auth is None:
        raise problems.malformed("an operator-signed channel needs the payer's authentication proof")
    if auth.challenge_id != echo.challenge.id:
        raise problems.failed("authentication.challengeId is not the challenge this open echoes")
    if auth.payer != action.payer or not verify_bearer(action.channel_id, auth):
        raise problems.failed("the authentication proof does not verify for this payer and channel")


def _expectations(echo: Echo, action: OpenAction, slot: int) -> OpenExpectations:
    d, request = echo.details, echo.request
    splits = tuple(Split(Pubkey.from_string(e.recipient), e.share_bps) for e in d.splits)
    terms = OpenTerms(
        program_id=Pubkey.from_string(d.channel_program),
        recipient=Pubkey.from_string(request.recipient),
        mint=Pubkey.from_string(request.currency),
        recent_blockhash=Hash.from_string(str(d.recent_blockhash)),
        recent_slot=int(d.recent_slot or 0),
        grace_period=int(d.grace_period_seconds or 0),
        splits=splits,
        token_program=Pubkey.from_string(d.token_program) if d.token_program else None,
        fee_payer=Pubkey.from_string(d.fee_payer_key) if d.fee_payer and d.fee_payer_key else None,
        minimum_deposit=request.minimum_deposit,
        operator=Pubkey.from_string(d.operator)
        if d.effective_voucher_signer == VoucherSigner.OPERATOR and d.operator
        else None,
        idle_timeout_options=d.idle_timeout_options_seconds,
    )
    given = action.distribution_splits
    claim = OpenClaim(
        channel_id=Pubkey.from_string(action.channel_id),
        payer=Pubkey.from_string(action.payer),
        payee=Pubkey.from_string(action.payee),
        mint=Pubkey.from_string(action.mint),
        authorized_signer=Pubkey.from_string(action.authorized_signer),
        salt=action.salt,
        deposit_amount=action.deposit_amount,
        grace_period=action.grace_period_seconds,
        open_slot=action.open_slot,
        # Omitted (it is OPTIONAL): the transaction must then commit exactly the challenge's splits.
        splits=splits
        if given is None
        else tuple(Split(Pubkey.from_string(e.recipient), e.share_bps) for e in given),
        idle_timeout=action.idle_timeout_seconds,
    )
    return OpenExpectations(terms, claim, current_slot=slot)


async def _broadcast(ctx: ServerContext, verified: VerifiedOpen) -> ChannelAccount:
    """Co-sign as fee payer when sponsored, send, confirm, and read the account back.

    A send error is forgiven when the account shows the open landed (an earlier attempt of the
    same transaction)."""
    tx = verified.transaction
    if verified.sponsored:
        if verified.fee_payer != ctx.config.operator.pubkey():
            raise problems.failed(f"the fee payer {verified.fee_payer} is not this server's operator")
        tx = partial_sign(tx, [ctx.config.operator])
    channel_id = str(verified.channel)
    # Subscribed while the open confirms, the read after it seeds the pushed view: the channel's
    # first voucher then needs no chain read (`ChainPort.live_channel`).
    watching = asyncio.ensure_future(ctx.chain.watch_first(channel_id))
    try:
        submitted = await ctx.chain.submit(tx)
    except BaseException:
        watching.cancel()
        ctx.chain.forget(channel_id)  # no open to watch (a later voucher subscribes again)
        raise
    await watching
    try:
        account = await ctx.chain.read_seeding(channel_id)
    except ChainMismatch as exc:
        ctx.chain.forget(channel_id)
        raise problems.failed(str(exc)) from None
    if account is None:
        ctx.chain.forget(channel_id)
        raise problems.failed(f"the open transaction did not land: {submitted.error or 'no channel account'}")
    return account


def _check_account(account: ChannelAccount, verified: VerifiedOpen, echo: Echo) -> None:
    """Spec step 14: the confirmed account is exactly the channel that was challenged."""
    p = verified.params
    expected = {
        "payer": (account.payer, p.payer),
        "payee": (account.payee, p.payee),
        "mint": (account.mint, p.mint),
        "deposit": (account.deposit, p.deposit),
        "gracePeriod": (account.grace_period, p.grace_period),
        "openSlot": (account.open_slot, p.open_slot),
        "salt": (account.salt, p.salt),
        "authorizedSigner": (account.authorized_signer, p.authorized_signer),
        "distributionHash": (account.distribution_hash, splits_hash(p.splits)),
        "rentPayer": (account.rent_payer, verified.fee_payer),
        "status": (account.status, ChannelStatus.OPEN),
        "closureStartedAt": (account.closure_started_at, 0),
    }
    for name, (got, want) in expected.items():
        if got != want:
            raise problems.failed(f"the opened channel's {name} on chain is {got}, expected {want}")
    if echo.details.grace_period_seconds != account.grace_period:
        raise problems.failed("the opened channel's grace period differs from the challenge's")


def _new_state(
    verified: VerifiedOpen, account: ChannelAccount, echo: Echo, action: OpenAction, idle: int, now: float
) -> ChannelState:
    p = verified.params
    return ChannelState(
        channel_id=str(verified.channel),
        payer=str(p.payer),
        payee=str(p.payee),
        mint=str(p.mint),
        token_program=str(p.token_program),
        authorized_signer=str(p.authorized_signer),
        salt=p.salt,
        open_slot=p.open_slot,
        grace_period=p.grace_period,
        splits=tuple((str(s.recipient), s.bps) for s in p.splits),
        rent_payer=str(verified.fee_payer),
        voucher_signer=echo.details.effective_voucher_signer,
        opening_challenge_id=echo.challenge.id,
        authentication=None if action.authentication is None else action.authentication.to_json(),
        deposit=account.deposit,
        settled=account.settled,
        idle_timeout=idle,
        last_activity_at=now,
        created_at=now,
        extra={} if action.authorization_policy is None else {POLICY_KEY: action.authorization_policy},
    )
