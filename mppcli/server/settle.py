"""Cooperative close and its settlement bundle, re-drivable after any failure.

Spec (Close, Cooperative): authenticate per voucherSigner, pick the settlement voucher (the stored
highest when it advances the on-chain `settled`), and send `[ed25519] settleAndSeal + distribute`
in one transaction, signed by the operator (fee payer) and the payee. The channel is marked
`closing` before anything is broadcast, and the transaction signature is recorded before it is
sent, so a crash or an RPC failure leaves a record the watchdog re-drives: the next attempt reads
the account first and sends only what is still missing (`distribute` after a seal, `seal +
distribute` once a forced close's grace period is over, nothing once it is `Distributed` or gone).
"""

from __future__ import annotations

import dataclasses

from solders.hash import Hash
from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from mppcli.chain import instructions as ix
from mppcli.chain.channel import ChannelAccount, ChannelStatus
from mppcli.chain.ed25519 import Ed25519Payload
from mppcli.chain.params import ChannelKeys
from mppcli.chain.transactions import settlement_instructions
from mppcli.chain.txcodec import partial_sign
from mppcli.errors import MalformedError, RpcError
from mppcli.protocol.actions import CloseAction
from mppcli.protocol.session import VoucherSigner
from mppcli.protocol.voucher import SignedVoucher, parse_signed_voucher, voucher_message
from mppcli.server import problems
from mppcli.server.chainport import ChainMismatch
from mppcli.server.challenges import Echo
from mppcli.server.context import ServerContext
from mppcli.server.debit import check_bearer, require_channel
from mppcli.server.keys import channel_keys
from mppcli.server.lookups import compile_settlement
from mppcli.server.state import ChannelState, Status
from mppcli.server.vouchers import check_binding, check_signature_and_expiry, is_same_voucher


async def close_channel(ctx: ServerContext, echo: Echo, action: CloseAction) -> ChannelState:
    """The `close` action: authenticate, mark closing, settle (or re-drive an earlier attempt)."""
    if action.voucher is not None:
        ctx.issuer.check_expiry(echo, ctx.clock())
    async with ctx.locks(action.channel_id):
        state = require_channel(ctx, action.channel_id)
        if state.status is Status.CLOSED:
            raise problems.failed(f"channel {state.channel_id} is already closed")
        state = _authenticate(ctx, state, action)
        if state.status is Status.OPEN:
            state = begin_close(ctx, state, "client")
        else:
            ctx.store.save(state)
        return await settle_locked(ctx, state)


def _authenticate(ctx: ServerContext, state: ChannelState, action: CloseAction) -> ChannelState:
    if state.voucher_signer == VoucherSigner.OPERATOR:
        if action.authentication is None:
            raise problems.malformed("closing an operator-signed channel needs its authentication proof")
        check_bearer(state, None, action.authentication.to_json())
        return state
    if action.voucher is None:
        raise problems.malformed("closing a client-signed channel needs a final voucher")
    return _close_voucher(ctx, state, action.voucher)


def _close_voucher(ctx: ServerContext, state: ChannelState, signed: SignedVoucher) -> ChannelState:
    """Spec close step 2: a higher voucher advances settlement; an equal one only authenticates.

    The stored highest voucher, byte-identical, is already verified; anything else is verified in
    full (binding, signature, expiry) before any bound is checked or any state is changed.
    """
    check_binding(state, signed)
    if not is_same_voucher(state, signed):
        check_signature_and_expiry(state, signed, ctx.clock(), ctx.config.clock_skew)
    cumulative = signed.voucher.cumulative_amount
    if cumulative < state.accepted:
        raise problems.failed(
            f"the close voucher's cumulativeAmount {cumulative} is below the accepted "
            f"cumulative {state.accepted}",
            state.channel_id,
        )
    if cumulative > state.deposit:
        raise problems.failed(
            f"the close voucher's cumulativeAmount {cumulative} exceeds the deposit {state.deposit}",
            state.channel_id,
        )
    if cumulative == state.accepted:
        return state
    if state.status is not Status.OPEN:
        raise problems.failed(
            "a close already under way settles at the accepted cumulative; resend that voucher",
            state.channel_id,
        )
    return dataclasses.replace(state, accepted=cumulative, highest_voucher=signed.to_json())


def begin_close(ctx: ServerContext, state: ChannelState, reason: str) -> ChannelState:
    """Stop all service for the channel and release its metered reservations, atomically."""
    closing = dataclasses.replace(
        state, status=Status.CLOSING, close_reason=reason, close_requested_at=ctx.clock()
    )
    with ctx.store.batch() as batch:
        batch.put_channel(closing)
        for delivery in ctx.store.pending_deliveries(state.channel_id):
            batch.put_delivery(dataclasses.replace(delivery, status="released"))
    ctx.locks(state.channel_id).notify_all()
    return closing


async def settle_locked(ctx: ServerContext, state: ChannelState) -> ChannelState:
    """Drive a closing channel to `closed`; raises a 402 rejection (state stays `closing`) on failure."""
    try:
        account = await ctx.chain.channel(state.channel_id)
    except ChainMismatch as exc:
        raise problems.failed(str(exc), state.channel_id) from None
    if account is None or account.status is ChannelStatus.DISTRIBUTED:
        return _finish(ctx, state, account, state.close_tx)
    tx, voucher = await _settlement_transaction(ctx, state, account)
    signature = str(tx.signatures[0])
    state = dataclasses.replace(state, close_tx=signature)
    ctx.store.save(state)
    submitted = await ctx.chain.submit(tx)
    after = await ctx.chain.channel(state.channel_id)
    if after is not None and after.status is not ChannelStatus.DISTRIBUTED:
        raise problems.failed(
            f"the settlement transaction did not land: {submitted.error or 'unconfirmed'}; "
            "the server will retry",
            state.channel_id,
        )
    settled = after.settled if after is not None else max(account.settled, voucher)
    return _finish(ctx, state, after, signature, settled, account.deposit)


def _finish(
    ctx: ServerContext,
    state: ChannelState,
    account: ChannelAccount | None,
    tx: str | None,
    settled: int | None = None,
    deposit: int | None = None,
) -> ChannelState:
    if account is not None:
        settled, deposit = account.settled, account.deposit
    settled = state.settled if settled is None else settled
    deposit = state.deposit if deposit is None else deposit
    done = dataclasses.replace(
        state,
        status=Status.CLOSED,
        settled=settled,
        refunded=deposit - settled,
        deposit=deposit,
        close_tx=tx,
        reclaimed=account is None,
    )
    ctx.store.save(done)
    ctx.log(f"closed channel {state.channel_id} settled={settled} refunded={deposit - settled} tx={tx}")
    if state.spent > settled:  # a metered stream delivered it; no voucher covers it (seller's risk)
        ctx.log(f"channel {state.channel_id}: {state.spent - settled} delivered but never vouched for")
    return done


async def _settlement_transaction(
    ctx: ServerContext, state: ChannelState, account: ChannelAccount
) -> tuple[VersionedTransaction, int]:
    """What is still missing on chain, signed; and the cumulative a voucher in it settles (or 0)."""
    keys = channel_keys(ctx, state)
    blockhash, _ = await ctx.chain.blockhash()
    recent = Hash.from_string(blockhash)
    if account.status is ChannelStatus.SEALED:
        return _signed(await _compile(ctx, keys, [ix.distribute_instruction(keys)], recent), ctx, False), 0
    grace_over = (
        account.status is ChannelStatus.CLOSING
        and ctx.clock() >= account.closure_started_at + account.grace_period
    )
    if grace_over:
        calls = [ix.seal_instruction(keys.channel, keys.program_id), ix.distribute_instruction(keys)]
        return _signed(await _compile(ctx, keys, calls, recent), ctx, False), 0
    voucher = settlement_voucher(ctx, state, account)
    payload = None if voucher is None else _ed25519(voucher)
    tx = await _compile(ctx, keys, settlement_instructions(keys, payload), recent)
    cumulative = 0 if voucher is None else voucher.voucher.cumulative_amount
    return _signed(tx, ctx, True), cumulative


def settlement_voucher(
    ctx: ServerContext, state: ChannelState, account: ChannelAccount
) -> SignedVoucher | None:
    """The stored highest voucher when it advances on-chain `settled` and can still be verified."""
    if state.highest_voucher is None:
        return None
    try:
        signed = parse_signed_voucher(state.highest_voucher)
    except MalformedError:
        return None
    expires = signed.voucher.expires_at or 0
    if signed.voucher.cumulative_amount <= account.settled or (expires and expires <= ctx.clock()):
        if expires and expires <= ctx.clock():
            ctx.log(f"channel {state.channel_id}: the highest voucher expired; sealing without it")
        return None
    return signed


def _ed25519(signed: SignedVoucher) -> Ed25519Payload:
    return Ed25519Payload(
        Pubkey.from_string(signed.signer),
        Signature.from_string(signed.signature),
        voucher_message(signed.voucher),
    )


async def _compile(ctx: ServerContext, keys: ChannelKeys, calls: list[Instruction],
                   recent: Hash) -> VersionedTransaction:
    """Legacy when it fits one packet (as the reference server sends it), else v0 with an address
    lookup table; a bundle too large even then, or a table that could not be made, is a 402 and
    the channel stays `closing` (the watchdog re-drives it)."""
    try:
        return await compile_settlement(ctx, keys, calls, recent)
    except MalformedError as exc:
        raise problems.failed(str(exc), str(keys.channel)) from None


def _signed(tx: VersionedTransaction, ctx: ServerContext, payee_signs: bool) -> VersionedTransaction:
    signers = [ctx.config.operator]
    payee = ctx.config.recipient_signer
    if payee_signs and payee.pubkey() != ctx.config.operator.pubkey():
        signers.append(payee)
    return partial_sign(tx, signers)


async def close_for_server(ctx: ServerContext, channel_id: str, reason: str) -> ChannelState | None:
    """Idle, forced-close or re-drive closing initiated by the server itself; never raises."""
    async with ctx.locks(channel_id):
        state = ctx.store.channel(channel_id)
        if state is None or state.status is Status.CLOSED:
            return state
        if reason == "idle" and not is_idle(state, ctx.clock()):
            return state
        if state.status is Status.OPEN:
            state = begin_close(ctx, state, reason)
        try:
            return await settle_locked(ctx, state)
        except (problems.Rejection, RpcError, MalformedError) as exc:
            ctx.log(f"closing channel {channel_id} ({reason}) failed, will retry: {exc}")
            return state


def is_idle(state: ChannelState, now: float) -> bool:
    """No channel activity for the effective idle timeout (spec: Server-Initiated Idle Close)."""
    return state.status is Status.OPEN and now >= state.last_activity_at + state.idle_timeout
