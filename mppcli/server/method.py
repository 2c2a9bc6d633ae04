"""The session method as one entry point: from an `Authorization` header to a result or a rejection.

`handle` parses the credential, verifies the echoed challenge (HMAC, method/intent, our config),
decodes the action under the challenge's voucher-signer mode, and runs the action's flow. Every
refusal is a `problems.Rejection`; the app turns it into 402 + problem+json + a fresh challenge
(`fresh_challenge`), which resumes the request's channel when the server knows a live one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mppcli.errors import MalformedError
from mppcli.protocol.actions import (
    CloseAction,
    OpenAction,
    TopUpAction,
    UseAction,
    VoucherAction,
    parse_action,
)
from mppcli.protocol.auth import Challenge, Credential, parse_authorization
from mppcli.protocol.receipt import format_receipt
from mppcli.server import problems
from mppcli.server.challenges import Echo, Route
from mppcli.server.context import ServerContext, receipt
from mppcli.server.debit import Prepare, Render, charge
from mppcli.server.open_flow import open_channel
from mppcli.server.settle import close_channel
from mppcli.server.state import CachedResponse, ChannelState, Status
from mppcli.server.terms import terms_mismatch
from mppcli.server.topup import top_up

MAX_IDEMPOTENCY_KEY = 256


@dataclass(frozen=True)
class Result:
    """A credential the server accepted. `served` means the resource itself is paid for."""

    action: str
    state: ChannelState
    response: CachedResponse
    challenge_id: str
    served: bool = False
    replayed: bool = False


class SessionMethod:
    def __init__(self, ctx: ServerContext):
        self.ctx = ctx

    async def fresh_challenge(
        self, route: Route, channel_id: str | None = None, digest: str | None = None
    ) -> Challenge:
        """A resume challenge for a live channel we know, else a new-channel challenge; `digest`
        binds the request body when it has one."""
        now = self.ctx.clock()
        if channel_id:
            state = self.ctx.store.channel(channel_id)
            if state is not None and state.is_open and terms_mismatch(self.ctx.config, state) is None:
                return self.ctx.issuer.resume(route, state, now, digest)
        blockhash, slot = await self.ctx.chain.blockhash()
        return self.ctx.issuer.new_channel(route, blockhash, slot, now, digest)

    async def handle(
        self,
        route: Route,
        authorization: str | None,
        idempotency_key: str | None,
        render: Render,
        digest: str | None = None,
        prepare: Prepare | None = None,
    ) -> Result:
        credential = _credential(authorization)
        if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
            raise problems.malformed(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
        echo = self.ctx.issuer.verify(credential.challenge)
        try:
            action = parse_action(credential.payload, echo.details.effective_voucher_signer)
        except MalformedError as exc:
            raise problems.malformed(f"invalid {_action_name(credential)} credential: {exc}") from None
        if not isinstance(action, UseAction):
            # `use` echoes the session challenge bound at open for every later request: its digest
            # bound the opening request's body, not later ones (as its expiry limits opening only).
            self.ctx.issuer.check_digest(echo, digest)
        if not isinstance(action, OpenAction):  # open refuses every resume challenge itself
            self.ctx.issuer.check_channel(echo, action.channel_id)
        if isinstance(action, VoucherAction | UseAction):
            charged = await charge(self.ctx, echo, action, route, idempotency_key, render, prepare)
            return Result(
                action.action, charged.state, charged.response, echo.challenge.id, True, charged.replayed
            )
        return await self._manage(echo, action)

    async def _manage(self, echo: Echo, action: OpenAction | TopUpAction | CloseAction) -> Result:
        if isinstance(action, OpenAction):
            state = await open_channel(self.ctx, echo, action)
        elif isinstance(action, TopUpAction):
            state = await top_up(self.ctx, echo, action)
        else:
            state = await close_channel(self.ctx, echo, action)
        closing = isinstance(action, CloseAction)
        now = self.ctx.clock()
        header = format_receipt(
            receipt(
                self.ctx.config,
                state,
                echo.challenge.id,
                now,
                external_id=echo.request.external_id,
                closing=closing,
            )
        )
        body = json.dumps(management_body(action.action, state), separators=(",", ":")).encode()
        return Result(
            action.action, state, CachedResponse(200, header, "application/json", body), echo.challenge.id
        )


def _credential(authorization: str | None) -> Credential:
    if authorization is None:
        raise problems.payment_required()
    try:
        return parse_authorization(authorization, lenient=True)
    except MalformedError as exc:
        raise problems.malformed(
            f"the Authorization header is not a valid Payment credential: {exc}"
        ) from None


def _action_name(credential: Credential) -> str:
    name = credential.payload.get("action")
    return name[:20] if isinstance(name, str) else "session"


def management_body(action: str, state: ChannelState) -> dict[str, object]:
    """What open, topUp and close answer (the receipt header carries the same facts, signed-off)."""
    body: dict[str, object] = {
        "action": action,
        "channelId": state.channel_id,
        "status": state.status.value,
        "deposit": str(state.deposit),
        "acceptedCumulative": str(state.accepted),
        "spent": str(state.spent),
        "idleTimeoutSeconds": state.idle_timeout,
        "voucherSigner": state.voucher_signer,
    }
    if state.status is Status.CLOSED:
        body.update(
            {"settled": str(state.settled), "refunded": str(state.refunded or 0), "txHash": state.close_tx}
        )
    return body
