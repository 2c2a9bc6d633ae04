"""Sending one `Authorization: Payment` credential and reading what came back.

A server answers a credential with a success and a `Payment-Receipt`, or with 402, a problem and a
fresh challenge. We decide on the status and the headers, never on the problem's `type` string
(the reference and the spec name problems differently, PROTOCOL-NOTES §11). A receipt that does
not parse, names another method/intent, or echoes another challenge is the server's fault.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mppcli.client.answer import Answer
from mppcli.client.context import Client
from mppcli.client.http import RequestSpec
from mppcli.errors import MalformedError, PolicyError, ProtocolViolation
from mppcli.protocol.auth import Challenge, Credential, format_authorization
from mppcli.protocol.receipt import SessionReceipt, parse_receipt

Sender = Callable[[RequestSpec], Awaitable[Answer]]


@dataclass(frozen=True)
class Reply:
    answer: Answer
    receipt: SessionReceipt | None

    @property
    def ok(self) -> bool:
        return self.receipt is not None and 200 <= self.answer.status < 400

    @property
    def reason(self) -> str:
        """Why the server refused (its problem detail), for messages."""
        return problem_text(self.answer)


IDEMPOTENCY_HEADER = "Idempotency-Key"


def idempotency_key(payload: dict[str, Any]) -> str:
    """The key of one credential (spec, Concurrency and Idempotency: clients SHOULD send one and MAY
    retry with it): derived from the payload, so every send of the same credential — a retry, or a
    later run re-sending an unconfirmed voucher — carries the same key, and no two credentials share
    one. `use`, whose payload is the same for every request, passes its own key per request."""
    import hashlib

    from mppcli.protocol.encoding import canonical_json

    return f"mpp-{hashlib.sha256(canonical_json(payload)).hexdigest()[:32]}"


def authorization(challenge: Challenge, payload: dict[str, Any]) -> str:
    return format_authorization(Credential(challenge, payload))


async def send_credential(client: Client, spec: RequestSpec, challenge: Challenge,
                          payload: dict[str, Any], extra: tuple[tuple[str, str], ...] = (),
                          sender: Sender | None = None, check_expiry: bool = True) -> Reply:
    """Send `spec` with the credential; a success must carry a valid receipt for this challenge.

    `sender` replaces the buffered send (the stream flow keeps the response open instead).
    """
    check_transport(spec.url, client.allow_http)
    if check_expiry:  # off only for `use`, which must echo the (older) opening challenge
        check_fresh(challenge, client.clock())
    request = spec.with_header("Authorization", authorization(challenge, payload))
    if not any(name.lower() == IDEMPOTENCY_HEADER.lower() for name, _ in extra):
        extra = ((IDEMPOTENCY_HEADER, idempotency_key(payload)), *extra)
    for name, value in extra:
        request = request.with_header(name, value)
    answer = await (sender or client.http.send)(request)
    return Reply(answer, receipt_of(answer, challenge))


def check_transport(url: str, allow_http: bool) -> None:
    """A credential is a bearer token (spec, Transport Security: TLS): plain http:// only to this
    machine, unless the user said otherwise."""
    from urllib.parse import urlsplit

    from mppcli.hosts import is_loopback

    parts = urlsplit(url)
    if parts.scheme != "http" or allow_http or is_loopback(parts.hostname or ""):
        return
    raise PolicyError(
        f"refusing to send a payment credential to {parts.hostname} over plain http://: anyone on the "
        "way can read it and spend with it (the spec requires TLS)",
        hint="Use the https:// URL; if you accept the risk, pass --allow-http (or MPP_ALLOW_HTTP=true, "
             "`mpp config set allow_http true`).")


def check_fresh(challenge: Challenge, now: float) -> None:
    """Every credential echoes a challenge that has not expired (spec: `expires`), not only an open."""
    if challenge.expires is None:
        return
    from mppcli.client.policy import check_expires
    from mppcli.protocol.auth import parse_rfc3339

    try:
        expires_at = parse_rfc3339(challenge.expires, "expires")
    except MalformedError as exc:
        raise ProtocolViolation(f"the server's challenge has a malformed expires: {exc}") from None
    check_expires(expires_at, now)


def receipt_of(answer: Answer, challenge: Challenge) -> SessionReceipt | None:
    """The receipt of a success (required); None for a 402 or another failure."""
    header = answer.header("payment-receipt")
    if answer.status == 402 or not 200 <= answer.status < 400:
        return None
    if header is None:
        raise ProtocolViolation(f"the server answered {answer.status} to a payment without a Payment-Receipt")
    return check_receipt(header, challenge)


def check_receipt(header: str, challenge: Challenge) -> SessionReceipt:
    try:
        receipt = parse_receipt(header)
    except MalformedError as exc:
        raise ProtocolViolation(f"the server's Payment-Receipt is malformed: {exc}") from None
    if receipt.method != "solana" or (receipt.intent or "session") != "session":
        raise ProtocolViolation(f"the receipt is for {receipt.method}/{receipt.intent}, not solana/session")
    if receipt.accepted_cumulative is None or receipt.spent is None:
        raise ProtocolViolation("the receipt lacks acceptedCumulative or spent")
    if receipt.challenge_id is not None and receipt.challenge_id != challenge.id:
        raise ProtocolViolation(f"the receipt answers challenge {receipt.challenge_id}, not the "
                                f"{challenge.id} this credential echoed (a replayed receipt)")
    return receipt


def problem_text(answer: Answer) -> str:
    """The server's own words for a refusal (problem detail or message), else the status line."""
    from mppcli.protocol.problem import parse_problem

    try:
        found = parse_problem(answer.body).detail
    except MalformedError:
        found = ""
    return found or f"HTTP {answer.status} {answer.reason}".strip()
