"""Reading a 402: find the `solana`/`session` challenge among those offered, and decode its terms.

A server may offer several challenges (other methods, other intents) in one or several
`WWW-Authenticate` headers; we pay only a `solana` `session` one. When there is none the error
lists what was offered, so the user sees at once that the server wants, say, a `charge`.
A server's malformed header or request is its fault: `ProtocolViolation` (exit 4).
"""

from __future__ import annotations

from dataclasses import dataclass

from mppcli.client.answer import Answer
from mppcli.client.policy import OfferedTerms
from mppcli.errors import MalformedError, ProtocolViolation
from mppcli.protocol.auth import Challenge, parse_rfc3339, parse_www_authenticate
from mppcli.protocol.session import MethodDetails, SessionRequest, parse_session_request

METHOD = "solana"
INTENT = "session"


@dataclass(frozen=True)
class Offer:
    """One session challenge and its decoded request."""

    challenge: Challenge
    request: SessionRequest

    @property
    def price(self) -> int:
        return self.request.amount

    @property
    def details(self) -> MethodDetails:
        return self.request.method_details

    def amount_text(self, amount: int) -> str:
        """`amount` in token units and the mint (`0.25 <mint>`); the CLI writes the mint as its symbol."""
        from mppcli.protocol.amounts import format_amount

        return f"{format_amount(amount, self.details.decimals or 0)} {self.request.currency}"

    @property
    def expires_at(self) -> float | None:
        if self.challenge.expires is None:
            return None
        return parse_rfc3339(self.challenge.expires, "expires")

    def terms(self) -> OfferedTerms:
        details = self.request.method_details
        return OfferedTerms(network=details.network, channel_program=details.channel_program,
                            currency=self.request.currency, decimals=details.decimals,
                            token_program=details.token_program, recipient=self.request.recipient)


def challenges_of(answer: Answer) -> list[Challenge]:
    """Every Payment challenge of a 402; a 402 without a readable one is a protocol violation."""
    headers = answer.all("www-authenticate")
    if not headers:
        raise ProtocolViolation(f"the server answered {answer.status} without a WWW-Authenticate challenge")
    try:
        return parse_www_authenticate(list(headers))
    except MalformedError as exc:
        raise ProtocolViolation(f"the server's payment challenge is malformed: {exc}") from None


def pick_session_offer(challenges: list[Challenge]) -> Offer:
    """The first `solana`/`session` challenge; a clear error listing the offers when there is none."""
    for challenge in challenges:
        if challenge.method == METHOD and challenge.intent.lower() == INTENT:
            return Offer(challenge, _session_request(challenge))
    offered = ", ".join(f"{c.method}/{c.intent}" for c in challenges) or "nothing"
    raise ProtocolViolation(
        f"the server offers no solana/session challenge (offered: {offered})",
        hint="mpp pays only Solana session challenges; this server wants another kind of payment.")


def offer_of(answer: Answer) -> Offer:
    return pick_session_offer(challenges_of(answer))


def _session_request(challenge: Challenge) -> SessionRequest:
    try:
        return parse_session_request(challenge.decoded_request())
    except MalformedError as exc:
        raise ProtocolViolation(f"the server's session challenge is malformed: {exc}") from None
