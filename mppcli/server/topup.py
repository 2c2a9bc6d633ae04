"""The `topUp` action: verify, co-sign when sponsored, broadcast, confirm, credit exactly once.

Both transaction forms are accepted (PROTOCOL-NOTES §11): the spec's sponsored form (our fee-payer
slot still empty; we co-sign) and the payer-paid, fully signed form the reference server expects.
The dedupe key is the transaction's final signature (slot 0 after co-signing, deterministic), kept
in the same database transaction as the new deposit; the deposit itself is read back from the
chain, so nothing can be credited twice even after a crash between broadcast and persistence.
"""

from __future__ import annotations

import dataclasses

from solders.transaction import VersionedTransaction

from mppcli.chain.channel import ChannelStatus
from mppcli.chain.txcodec import partial_sign
from mppcli.chain.verify import TopUpExpectations, TopUpRejected, verify_top_up_transaction
from mppcli.protocol.actions import TopUpAction
from mppcli.server import problems
from mppcli.server.chainport import ChainMismatch
from mppcli.server.challenges import Echo
from mppcli.server.context import ServerContext
from mppcli.server.debit import require_channel, require_open
from mppcli.server.keys import channel_keys
from mppcli.server.state import ChannelState
from mppcli.server.terms import check_session_terms


async def top_up(ctx: ServerContext, echo: Echo, action: TopUpAction) -> ChannelState:
    ctx.issuer.check_expiry(echo, ctx.clock())
    async with ctx.locks(action.channel_id):
        state = require_channel(ctx, action.channel_id)
        require_open(state)
        check_session_terms(ctx.config, state, echo)
        tx = _verified_transaction(ctx, state, action)
        signature = str(tx.signatures[0])
        seen = ctx.store.topup_seen(signature)
        if seen is not None:
            if seen != state.channel_id:
                raise problems.failed("this top-up transaction was already used for another channel")
            return state
        state = await ctx.confirm_live(state, force=True)
        return await _land(ctx, state, tx, signature, action.additional_amount)


def _verified_transaction(
    ctx: ServerContext, state: ChannelState, action: TopUpAction
) -> VersionedTransaction:
    sponsor = ctx.config.operator.pubkey() if ctx.config.fee_payer else None
    expect = TopUpExpectations(channel_keys(ctx, state), action.additional_amount, sponsor=sponsor)
    try:
        verified = verify_top_up_transaction(action.transaction, expect)
    except TopUpRejected as exc:
        raise problems.failed(f"top-up transaction rejected: {exc.reason}", state.channel_id) from None
    if verified.sponsored:
        return partial_sign(verified.transaction, [ctx.config.operator])
    return verified.transaction


async def _land(
    ctx: ServerContext, state: ChannelState, tx: VersionedTransaction, signature: str, amount: int
) -> ChannelState:
    submitted = await ctx.chain.submit(tx)
    try:
        account = await ctx.chain.channel(state.channel_id)
    except ChainMismatch as exc:
        raise problems.failed(str(exc), state.channel_id) from None
    if account is None or account.status is not ChannelStatus.OPEN:
        raise problems.failed(f"channel {state.channel_id} is not open on chain", state.channel_id)
    if not submitted.ok:
        raise problems.failed(f"the top-up did not land: {submitted.error}", state.channel_id)
    topped = dataclasses.replace(state, deposit=account.deposit, last_activity_at=ctx.clock())
    with ctx.store.batch() as batch:
        batch.put_channel(topped)
        batch.put_topup(signature, state.channel_id, amount)
    ctx.log(f"topped up channel {state.channel_id} by {amount} -> deposit {account.deposit}")
    ctx.locks(state.channel_id).notify_all()  # wake a metered stream paused for funds (lock held)
    return topped
