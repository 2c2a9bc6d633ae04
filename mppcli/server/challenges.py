"""Issuing `solana`/`session` challenges and checking the challenge a credential echoes.

A challenge is stateless: its id is the HMAC of its parameters under the server secret (core
scheme, HMAC-SHA256 binding), so verifying an echo is recomputing that HMAC. The `opaque`
parameter carries the route the challenge was issued for (`{"route": "/paid"}`), so a voucher that
agreed to one resource's price cannot buy another resource.

New-channel challenges carry `recentBlockhash`/`recentSlot` from one `getLatestBlockhash`; resume
challenges (for a live channel the server can identify) carry `channelId` + `idleTimeoutSeconds`
instead, and no blockhash, slot or idle-timeout options (spec: Method Details).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mppcli.errors import MalformedError
from mppcli.protocol.auth import Challenge, format_rfc3339, is_expired, new_challenge, verify_challenge_id
from mppcli.protocol.session import (
    MethodDetails,
    SessionRequest,
    SplitEntry,
    VoucherSigner,
    parse_session_request,
)
from mppcli.server import problems
from mppcli.server.config import ServerConfig
from mppcli.server.state import ChannelState

METHOD = "solana"
INTENT = "session"


@dataclass(frozen=True)
class Route:
    """One paid resource: its path, its price per unit and the unit's name."""

    path: str
    price: int
    unit_type: str
    description: str


@dataclass(frozen=True)
class Echo:
    """A verified echoed challenge: the challenge itself and its decoded request."""

    challenge: Challenge
    request: SessionRequest
    route: str | None

    @property
    def details(self) -> MethodDetails:
        return self.request.method_details


class Issuer:
    """Builds fresh challenges and verifies echoed ones, for one server configuration."""

    def __init__(self, config: ServerConfig):
        self.config = config

    def new_channel(
        self, route: Route, blockhash: str, slot: int, now: float, digest: str | None = None
    ) -> Challenge:
        details = self._details(
            recent_blockhash=blockhash,
            recent_slot=slot,
            idle_timeout_options_seconds=self.config.idle_timeout_options,
            grace_period_seconds=self.config.grace_period,
        )
        return self._challenge(route, details, now, digest)

    def resume(self, route: Route, channel: ChannelState, now: float, digest: str | None = None) -> Challenge:
        details = self._details(channel_id=channel.channel_id, idle_timeout_seconds=channel.idle_timeout)
        return self._challenge(route, details, now, digest)

    def _details(self, **changes: Any) -> MethodDetails:
        c = self.config
        splits = tuple(SplitEntry(r, bps) for r, bps in c.splits) or None
        return MethodDetails(
            network=c.network,
            channel_program=c.program_id,
            decimals=c.decimals,
            token_program=c.token_program,
            fee_payer=True if c.fee_payer else None,
            fee_payer_key=c.operator_key if c.fee_payer else None,
            voucher_signer=c.voucher_signer,
            operator=c.voucher_operator if c.voucher_signer == VoucherSigner.OPERATOR else None,
            min_voucher_delta=c.min_voucher_delta,
            distribution_splits=splits,
            **changes,
        )

    def _challenge(self, route: Route, details: MethodDetails, now: float, digest: str | None) -> Challenge:
        """`digest` binds the request body (core spec: Request Body Digest Binding)."""
        c = self.config
        request = SessionRequest(
            amount=route.price,
            currency=c.mint,
            recipient=c.recipient,
            method_details=details,
            unit_type=route.unit_type,
            suggested_deposit=c.suggested_deposit,
            minimum_deposit=c.min_deposit,
        )
        return new_challenge(
            c.secret,
            realm=c.realm,
            method=METHOD,
            intent=INTENT,
            request=request.to_json(),
            expires=format_rfc3339(now + c.challenge_ttl),
            description=route.description,
            digest=digest,
            opaque={"route": route.path},
        )

    def verify(self, challenge: Challenge) -> Echo:
        """HMAC binding, method/intent, and that the request is ours under today's configuration."""
        if challenge.method != METHOD or challenge.intent != INTENT:
            raise problems.invalid_challenge(
                f"this resource takes method=solana intent=session, the credential echoes "
                f"method={challenge.method[:20]} intent={challenge.intent[:20]}",
                problems.REF_ROUTE,
            )
        if not verify_challenge_id(self.config.secret, challenge):
            raise problems.invalid_challenge(
                "the challenge id does not match its parameters: the challenge "
                "was not issued by this server or was altered"
            )
        try:
            request = parse_session_request(challenge.decoded_request())
        except MalformedError as exc:
            raise problems.malformed(f"the echoed challenge request is invalid: {exc}") from None
        self._check_pinned(challenge, request)
        return Echo(challenge, request, _route_of(challenge))

    def _check_pinned(self, challenge: Challenge, request: SessionRequest) -> None:
        c, d = self.config, request.method_details
        pinned = (
            ("realm", challenge.realm, c.realm),
            ("currency", request.currency, c.mint),
            ("recipient", request.recipient, c.recipient),
            ("network", d.network, c.network),
            ("channelProgram", d.channel_program, c.program_id),
            ("voucherSigner", d.effective_voucher_signer, c.voucher_signer),
            (
                "feePayerKey",
                d.fee_payer_key if d.fee_payer else None,
                c.operator_key if c.fee_payer else None,
            ),
            (
                "operator",
                d.operator if c.voucher_signer == VoucherSigner.OPERATOR else None,
                c.voucher_operator if c.voucher_signer == VoucherSigner.OPERATOR else None,
            ),
        )
        for name, echoed, ours in pinned:
            if echoed != ours:
                code = problems.REF_REQUEST if name == "recipient" else problems.REF_ROUTE
                raise problems.invalid_challenge(
                    f"the challenge's {name} ({echoed}) is not this server's ({ours}); "
                    "request a fresh challenge",
                    code,
                )

    def check_expiry(self, echo: Echo, now: float) -> None:
        """Core scheme: an expired challenge is an invalid challenge (fail closed on a bad `expires`)."""
        if is_expired(echo.challenge.expires, now):
            raise problems.invalid_challenge(
                f"the challenge expired at {echo.challenge.expires}; request a fresh one",
                problems.REF_EXPIRED,
            )

    def check_digest(self, echo: Echo, digest: str | None) -> None:
        """Core spec: a challenge with a `digest` pays only for a request with that body."""
        if echo.challenge.digest is not None and echo.challenge.digest != digest:
            raise problems.failed(
                "the request body does not match the digest of the challenge it echoes; "
                "send the same body, or request a fresh challenge for this one"
            )

    def check_channel(self, echo: Echo, channel_id: str) -> None:
        """A resume challenge was issued for one channel: a credential for any other is refused."""
        resumes = echo.details.channel_id
        if resumes is not None and resumes != channel_id:
            raise problems.invalid_challenge(
                f"the challenge resumes channel {resumes}, not {channel_id}; "
                "request a challenge for this channel",
                problems.REF_ROUTE,
            )

    def check_route(self, echo: Echo, route: Route) -> None:
        """A voucher or use pays the price of the resource its challenge was issued for."""
        if echo.route != route.path or echo.request.amount != route.price:
            raise problems.invalid_challenge(
                f"the challenge was issued for {echo.route or 'another resource'} at price "
                f"{echo.request.amount}; {route.path} costs {route.price} per {route.unit_type}",
                problems.REF_ROUTE,
            )


def _route_of(challenge: Challenge) -> str | None:
    if challenge.opaque is None:
        return None
    try:
        from mppcli.protocol.encoding import b64url_decode, loads_json

        value = loads_json(b64url_decode(challenge.opaque, "opaque"), "opaque")
    except MalformedError:
        return None
    route = value.get("route") if isinstance(value, dict) else None
    return route if isinstance(route, str) else None
