"""Problem details (RFC 9457) for payment errors, in a shape both kinds of peer understand.

The spec names the problem in `type` (kebab-case under https://paymentauth.org/problems/) and
explains it in `detail`. The reference server instead reads and writes `code`, `error` and
`message` (and its own snake_case names). One `type` URI can carry only one name, so we write the
spec's, and add `code`/`error`/`message` beside `detail` so reference-based clients find what they
look for (PROTOCOL-NOTES §1.4, §11). Parsing accepts either shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mppcli.errors import MalformedError
from mppcli.protocol.encoding import loads_json
from mppcli.protocol.fields import as_object, get_int, get_str

PROBLEM_BASE = "https://paymentauth.org/problems/"

# Extension members (RFC 9457 §3.2) `mpp serve` adds to a `verification-failed` refusal so a payer
# decides on amounts, never on the `detail` text (decimal strings, like every amount):
# `acceptedCumulative` when a voucher is at or below the watermark (the server already holds it);
# `required` and `available` when the deposit cannot cover what the credential asks for.
ACCEPTED_CUMULATIVE, REQUIRED, AVAILABLE = "acceptedCumulative", "required", "available"
CONTENT_TYPE = "application/problem+json"

# name -> (title, HTTP status), draft-httpauth-payment-00 "Error Codes"
KNOWN: dict[str, tuple[str, int]] = {
    "payment-required": ("Payment Required", 402),
    "payment-insufficient": ("Payment Insufficient", 402),
    "payment-expired": ("Payment Expired", 402),
    "verification-failed": ("Verification Failed", 402),
    "method-unsupported": ("Method Unsupported", 400),
    "malformed-credential": ("Malformed Credential", 402),
    "invalid-challenge": ("Invalid Challenge", 402),
}


@dataclass(frozen=True)
class Problem:
    """One problem: `name` is the last segment of the `type` URI (`malformed-credential`)."""

    type: str
    title: str
    status: int
    detail: str
    code: str | None = None
    challenge_id: str | None = None

    @property
    def name(self) -> str:
        return self.type.removeprefix(PROBLEM_BASE)

    def to_json(self) -> dict[str, Any]:
        code = self.code or self.name
        data: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status,
                                "detail": self.detail, "code": code, "error": code, "message": self.detail}
        if self.challenge_id is not None:
            data["challengeId"] = self.challenge_id
        return data


def blank_problem(status: int, title: str, detail: str) -> dict[str, object]:
    """An RFC 9457 body with no problem type of its own (`about:blank`: the title is the status's
    reason phrase): refusals that are not about the payment (bad HTTP, a bug, an upstream failure)."""
    return {"type": "about:blank", "title": title, "status": status, "detail": detail}


def problem(name: str, detail: str, *, code: str | None = None, challenge_id: str | None = None) -> Problem:
    """A problem of one of the spec's types, e.g. `problem("malformed-credential", "bump is not allowed")`."""
    if name not in KNOWN:
        raise MalformedError(f"unknown problem type {name!r}; known: {', '.join(sorted(KNOWN))}")
    title, status = KNOWN[name]
    return Problem(PROBLEM_BASE + name, title, status, detail, code, challenge_id)


def parse_problem(body: bytes | str | dict[str, Any]) -> Problem:
    """Read a problem body from a spec server (`detail`) or a reference server (`message`)."""
    data = as_object(body if isinstance(body, dict) else loads_json(body, "problem"), "problem")
    def text(key: str) -> str | None:
        return get_str(data, key, required=False, nonempty=False) or None

    status = get_int(data, "status", required=False, minimum=100, maximum=599) or 0
    detail = text("detail") or text("message") or ""
    return Problem(text("type") or "about:blank", text("title") or "", status, detail,
                   text("code") or text("error"), text("challengeId"))
