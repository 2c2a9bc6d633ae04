"""Why a paid request was refused, in the spec's problem types and the reference's codes.

Spec (Error Responses): the `type` is one of the core scheme's problem types under
https://paymentauth.org/problems/ — `malformed-credential`, `invalid-challenge`,
`verification-failed` (and `payment-required` when no credential was sent) — with a `detail` that
says what was wrong. The reference implementation's clients read `code`/`error`/`message` instead
(PROTOCOL-NOTES §1.4), so every body carries those too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.responses import JSONResponse

from mppcli.protocol.problem import ACCEPTED_CUMULATIVE, AVAILABLE, REQUIRED, blank_problem, problem
from mppcli.protocol.problem import CONTENT_TYPE as PROBLEM_CONTENT_TYPE

PAYMENT_REQUIRED = "payment-required"
MALFORMED = "malformed-credential"
INVALID_CHALLENGE = "invalid-challenge"
VERIFICATION_FAILED = "verification-failed"

# The reference's snake_case codes (PROTOCOL-NOTES §1.4).
REF_INVALID = "payment_invalid"
REF_HMAC = "challenge_verification_failed"
REF_EXPIRED = "challenge_expired"
REF_ROUTE = "challenge_route_mismatch"
REF_REQUEST = "charge_request_mismatch"


@dataclass
class Rejection(Exception):
    """A refused credential: becomes HTTP 402 + problem+json + a fresh challenge.

    `channel_id` names a live channel the request belongs to, so the fresh challenge can resume it.
    """

    kind: str
    detail: str
    code: str = REF_INVALID
    channel_id: str | None = None
    members: dict[str, str] = field(default_factory=dict)  # extension members (RFC 9457 section 3.2)

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"

    def body(self) -> dict[str, object]:
        """The problem+json object: the spec's members, then the reference's `code`/`error`/`message`."""
        return {**problem(self.kind, self.detail, code=self.code).to_json(), **self.members}


def malformed(detail: str) -> Rejection:
    return Rejection(MALFORMED, detail)


def invalid_challenge(detail: str, code: str = REF_HMAC) -> Rejection:
    return Rejection(INVALID_CHALLENGE, detail, code)


def failed(detail: str, channel_id: str | None = None) -> Rejection:
    return Rejection(VERIFICATION_FAILED, detail, REF_INVALID, channel_id)


def not_above_watermark(detail: str, channel_id: str, accepted: int) -> Rejection:
    return Rejection(VERIFICATION_FAILED, detail, REF_INVALID, channel_id,
                     {ACCEPTED_CUMULATIVE: str(accepted)})


def over_capacity(detail: str, channel_id: str, required: int, available: int) -> Rejection:
    return Rejection(VERIFICATION_FAILED, detail, REF_INVALID, channel_id,
                     {REQUIRED: str(required), AVAILABLE: str(available)})


def payment_required(detail: str = "Payment required", channel_id: str | None = None) -> Rejection:
    return Rejection(PAYMENT_REQUIRED, detail, REF_INVALID, channel_id)


def blank_response(
    status: int, title: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A problem+json answer without a challenge (`blank_problem`), never cached."""
    return JSONResponse(
        blank_problem(status, title, detail),
        status_code=status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )
