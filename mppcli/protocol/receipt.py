"""`Payment-Receipt`: base64url(JCS(object)), sent by the server on success only.

Every receipt needs `status` ("success"), `method`, `reference` and an RFC 3339 `timestamp` (a real
calendar date). A session receipt (`intent: "session"`) also needs `acceptedCumulative` and `spent`
(u64 strings) and `idleTimeoutSeconds` (an integer up to 2592000; 0 is tolerated because the
reference client tolerates it); it may add `challengeId`, `externalId`, and on
close `txHash` and `refunded`. The reference server writes exactly these keys for every action,
with `reference` = the channel id (PROTOCOL-NOTES §1.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mppcli.errors import MalformedError
from mppcli.protocol.encoding import b64url_decode, b64url_encode, canonical_json, loads_json
from mppcli.protocol.fields import as_object, get_int, get_str, get_u64, need_str
from mppcli.protocol.rfc3339 import parse_rfc3339
from mppcli.protocol.session import MAX_IDLE_TIMEOUT_SECONDS

HEADER = "Payment-Receipt"
MAX_LENGTH = 16384


@dataclass(frozen=True)
class SessionReceipt:
    """A receipt; the session fields are None only on receipts of other intents."""

    method: str
    reference: str
    timestamp: str
    status: str = "success"
    intent: str | None = None
    challenge_id: str | None = None
    accepted_cumulative: int | None = None
    spent: int | None = None
    idle_timeout_seconds: int | None = None
    external_id: str | None = None
    tx_hash: str | None = None
    refunded: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"method": self.method, "reference": self.reference, "status": self.status,
                                "timestamp": self.timestamp}
        optional = {"intent": self.intent, "challengeId": self.challenge_id,
                    "acceptedCumulative": _text(self.accepted_cumulative), "spent": _text(self.spent),
                    "idleTimeoutSeconds": self.idle_timeout_seconds, "externalId": self.external_id,
                    "txHash": self.tx_hash, "refunded": _text(self.refunded)}
        data.update({key: value for key, value in optional.items() if value is not None})
        return data


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


def parse_receipt(header: str) -> SessionReceipt:
    """Decode and validate a `Payment-Receipt` header value."""
    if not isinstance(header, str):
        raise MalformedError("Payment-Receipt must be a string")
    token = header.strip()
    if len(token) > MAX_LENGTH:
        raise MalformedError(f"Payment-Receipt is longer than {MAX_LENGTH} characters")
    data = as_object(loads_json(b64url_decode(token, "Payment-Receipt"), "Payment-Receipt"), "receipt")
    return receipt_from_json(data)


def receipt_from_json(data: dict[str, Any]) -> SessionReceipt:
    status = need_str(data, "status", "receipt")
    if status != "success":
        raise MalformedError(f"receipt.status must be 'success', got {status[:40]!r}")
    timestamp = need_str(data, "timestamp", "receipt")
    parse_rfc3339(timestamp, "receipt.timestamp")
    intent = get_str(data, "intent", "receipt", required=False)
    session = intent == "session"
    return SessionReceipt(
        method=need_str(data, "method", "receipt"), reference=need_str(data, "reference", "receipt"),
        timestamp=timestamp, status=status, intent=intent,
        challenge_id=get_str(data, "challengeId", "receipt", required=False),
        accepted_cumulative=get_u64(data, "acceptedCumulative", "receipt", required=session),
        spent=get_u64(data, "spent", "receipt", required=session),
        idle_timeout_seconds=get_int(data, "idleTimeoutSeconds", "receipt", required=session, minimum=0,
                                     maximum=MAX_IDLE_TIMEOUT_SECONDS),
        external_id=get_str(data, "externalId", "receipt", required=False, nonempty=False),
        tx_hash=get_str(data, "txHash", "receipt", required=False),
        refunded=get_u64(data, "refunded", "receipt", required=False),
    )


def format_receipt(receipt: SessionReceipt) -> str:
    """The header value: base64url of the JCS bytes."""
    return b64url_encode(canonical_json(receipt.to_json()))
