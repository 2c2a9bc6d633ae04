"""Metered streams as the reference implementation runs them (outside the spec; PROTOCOL-NOTES §7).

SSE frames on the paid stream:
- application data: a default frame (no `event:` line) whose data is one JSON value;
- `event: mpp.metering`: a directive `{deliveryId, sessionId, amount, currency, sequence,
  expiresAt, commitUrl?, proof?, cumulativeCommit?}` asking the client to commit `amount` for that
  delivery (`cumulativeCommit: true`, ours, says one voucher naming it may also pay every earlier
  directive of the stream; the reference ignores unknown keys);
- `event: mpp.usage`: `{deliveryId, amount}`, the final amount of the current delivery;
- the end: `data: [DONE]` on a default frame, or `event: done` with `data: [DONE]`.
Clients also accept the short names `metering` and `usage`; other names pass through.

The side channel (JSON over POST): `/__402/session/deliveries` reserves capacity with
`{sessionId, amount, deliveryId, expiresAt, commitUrl?, proof}` and answers the directive (`mpp
serve` requires `proof`, the voucher signer's signature over `reservation_message`, and caps the
expiry; the reference accepts anyone);
`/__402/session/commit` takes `{deliveryId, voucher}` and answers a commit receipt
`{deliveryId, sessionId, amount, cumulative, status: committed|replayed}`. Its errors are
`{"error": "<message>"}` with status 400 (405 for a non-POST), not problem+json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mppcli.errors import MalformedError
from mppcli.protocol.base58 import verify_ed25519
from mppcli.protocol.encoding import I64_MAX, canonical_json, loads_json
from mppcli.protocol.fields import (
    as_object,
    get_bool,
    get_int,
    get_str,
    get_u64,
    need_int,
    need_pubkey,
    need_str,
    need_u64,
)
from mppcli.protocol.voucher import DEFAULT_EXPIRES_AT, SignedVoucher, parse_signed_voucher

if TYPE_CHECKING:
    from solders.keypair import Keypair

EVENT_METERING = "mpp.metering"
EVENT_USAGE = "mpp.usage"
EVENT_DONE = "done"
EVENT_PAYMENT_REQUIRED = "mpp.payment-required"  # our server's pause (not the reference's)
EVENT_RECEIPT = "mpp.receipt"  # our server's final receipt (not the reference's)
CHANNEL_HEADER = "x-payment-channel"  # a client asks to resume this channel (see mppcli.server.app)
DONE_SENTINEL = "[DONE]"
METERING_NAMES = (EVENT_METERING, "metering")
USAGE_NAMES = (EVENT_USAGE, "usage")
PROTOCOL_PREFIX = "mpp."  # every event of this protocol's own is named `mpp.*` (or a reference name below)
PROTOCOL_NAMES = frozenset((*METERING_NAMES, *USAGE_NAMES, EVENT_DONE))
DELIVERIES_PATH = "/__402/session/deliveries"
COMMIT_PATH = "/__402/session/commit"
COMMIT_STATUSES = ("committed", "replayed")


@dataclass(frozen=True)
class MeteringDirective:
    delivery_id: str
    session_id: str
    amount: int
    currency: str
    sequence: int
    expires_at: int = DEFAULT_EXPIRES_AT
    commit_url: str | None = None
    proof: str | None = None
    cumulative_commit: bool = False  # ours: a commit naming it may pay every earlier directive too

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"deliveryId": self.delivery_id, "sessionId": self.session_id,
                                "amount": str(self.amount), "currency": self.currency,
                                "sequence": self.sequence, "expiresAt": self.expires_at}
        if self.commit_url is not None:
            data["commitUrl"] = self.commit_url
        if self.proof is not None:
            data["proof"] = self.proof
        if self.cumulative_commit:
            data["cumulativeCommit"] = True
        return data


def parse_directive(value: object, path: str = "metering") -> MeteringDirective:
    data = as_object(value, path)
    return MeteringDirective(
        delivery_id=need_str(data, "deliveryId", path), session_id=need_pubkey(data, "sessionId", path),
        amount=need_u64(data, "amount", path, positive=True), currency=need_str(data, "currency", path),
        sequence=need_int(data, "sequence", path, minimum=0, maximum=I64_MAX),
        expires_at=need_int(data, "expiresAt", path, minimum=0, maximum=I64_MAX),
        commit_url=get_str(data, "commitUrl", path, required=False),
        proof=get_str(data, "proof", path, required=False),
        cumulative_commit=get_bool(data, "cumulativeCommit", path) is True,
    )


@dataclass(frozen=True)
class MeteringUsage:
    delivery_id: str
    amount: int

    def to_json(self) -> dict[str, Any]:
        return {"deliveryId": self.delivery_id, "amount": str(self.amount)}


def parse_usage(value: object, path: str = "usage") -> MeteringUsage:
    data = as_object(value, path)
    return MeteringUsage(need_str(data, "deliveryId", path), need_u64(data, "amount", path))


@dataclass(frozen=True)
class MeteredEvent:
    """One SSE frame classified: `kind` is metering, usage, message, done or other."""

    kind: str
    directive: MeteringDirective | None = None
    usage: MeteringUsage | None = None
    event: str | None = None
    data: str = ""


def is_protocol_event(event: str | None) -> bool:
    """Whether an SSE event name belongs to the protocol (never billed, never application data)."""
    name = event or "message"
    return name.startswith(PROTOCOL_PREFIX) or name in PROTOCOL_NAMES


def is_data_event(event: str | None, data: str) -> bool:
    """The one rule for a billable unit of a metered stream, shared by the server that bills it
    and the client that caps each directive at price x data events: any event, named or not,
    that is not the protocol's own and carries data (JSON or not) other than the `[DONE]` end."""
    return bool(data) and not is_protocol_event(event) and data.strip() != DONE_SENTINEL


def classify_event(event: str | None, data: str) -> MeteredEvent:
    """Interpret one decoded SSE frame (event name or None, joined data lines)."""
    name = event or "message"
    if name in METERING_NAMES:
        return MeteredEvent("metering", directive=parse_directive(loads_json(data, name), name))
    if name in USAGE_NAMES:
        return MeteredEvent("usage", usage=parse_usage(loads_json(data, name), name))
    if name == EVENT_DONE or (name == "message" and data.strip() == DONE_SENTINEL):
        return MeteredEvent("done")
    if is_data_event(event, data):
        return MeteredEvent("message", event=event, data=data)
    return MeteredEvent("other", event=event, data=data)


def data_value(data: str) -> Any:
    """An event's data as JSON when it is JSON, else the text itself (non-JSON data is data too).
    Decoded only where it is shown (`--ndjson`): a metered stream never needs it to bill."""
    try:
        return loads_json(data, "SSE data")
    except MalformedError:
        return data


def format_sse(data: str, event: str | None = None) -> str:
    """One SSE frame: an optional `event:` line, one `data:` line per line of `data`, a blank line."""
    if not data:
        raise MalformedError("an SSE frame needs data")
    if "\r" in data or (event is not None and ("\n" in event or "\r" in event or not event)):
        raise MalformedError("SSE event names must be one line and data must not contain CR")
    head = f"event: {event}\n" if event else ""
    return head + "".join(f"data: {line}\n" for line in data.split("\n")) + "\n"


def data_frame(value: object) -> str:
    """A content frame. Content is not signed, so compact JSON serves: canonical JSON (RFC 8785)
    cost a quarter of `mpp serve`'s time per metered chunk, and it stays for what is signed or
    compared (directives, receipts, challenges)."""
    return format_sse(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def metering_frame(directive: MeteringDirective) -> str:
    return format_sse(canonical_json(directive.to_json()).decode("utf-8"), EVENT_METERING)


def usage_frame(usage: MeteringUsage) -> str:
    return format_sse(canonical_json(usage.to_json()).decode("utf-8"), EVENT_USAGE)


def done_frame(*, as_event: bool = False) -> str:
    return format_sse(DONE_SENTINEL, EVENT_DONE if as_event else None)


def default_delivery_id(session_id: str, sequence: int) -> str:
    """The reference server's delivery id when the reserve names none."""
    return f"{session_id}:{sequence}"


@dataclass(frozen=True)
class DeliveryRequest:
    """The body POSTed to `/__402/session/deliveries`."""

    session_id: str
    amount: int
    delivery_id: str | None = None
    commit_url: str | None = None
    proof: str | None = None
    expires_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"sessionId": self.session_id, "amount": str(self.amount)}
        optional = {"deliveryId": self.delivery_id, "commitUrl": self.commit_url, "proof": self.proof,
                    "expiresAt": self.expires_at}
        data.update({key: value for key, value in optional.items() if value is not None})
        return data


RESERVE_DOMAIN = "mpp-reserve-v1"


def reservation_message(request: DeliveryRequest) -> bytes:
    """The bytes a reservation's `proof` signs (ours, not the reference's): the JCS object
    `{"amount", "deliveryId", "domain": "mpp-reserve-v1", "expiresAt", "sessionId"}`. Naming the
    delivery id and expiry makes a replayed proof reserve nothing new."""
    return canonical_json({"amount": str(request.amount), "deliveryId": request.delivery_id or "",
                           "domain": RESERVE_DOMAIN, "expiresAt": request.expires_at or 0,
                           "sessionId": request.session_id})


def sign_reservation(keypair: Keypair, request: DeliveryRequest) -> str:
    """The voucher signer's proof for a reservation (base58 Ed25519 signature)."""
    return str(keypair.sign_message(reservation_message(request)))


def verify_reservation(signer: str, request: DeliveryRequest) -> bool:
    """True if `request.proof` is `signer`'s signature over `reservation_message(request)`."""
    return verify_ed25519(signer, request.proof or "", reservation_message(request))


def parse_delivery_request(value: object) -> DeliveryRequest:
    data = as_object(value, "request body")
    expires_at = get_int(data, "expiresAt", required=False, minimum=0, maximum=I64_MAX)
    return DeliveryRequest(need_pubkey(data, "sessionId"), need_u64(data, "amount", positive=True),
                           _optional_text(data, "deliveryId"), _optional_text(data, "commitUrl"),
                           _optional_text(data, "proof"), expires_at or None)


def _optional_text(data: dict[str, Any], key: str) -> str | None:
    """The reference treats an empty string like an absent field for these optional names."""
    return get_str(data, key, required=False, nonempty=False) or None


@dataclass(frozen=True)
class CommitRequest:
    """The body POSTed to `/__402/session/commit`."""

    delivery_id: str
    voucher: SignedVoucher

    def to_json(self) -> dict[str, Any]:
        return {"deliveryId": self.delivery_id, "voucher": self.voucher.to_json()}


def parse_commit_request(value: object) -> CommitRequest:
    data = as_object(value, "request body")
    delivery_id = need_str(data, "deliveryId")
    if "voucher" not in data:
        raise MalformedError("voucher is required")
    return CommitRequest(delivery_id, parse_signed_voucher(data["voucher"]))


@dataclass(frozen=True)
class CommitReceipt:
    delivery_id: str
    session_id: str
    amount: int
    cumulative: int
    status: str

    def to_json(self) -> dict[str, Any]:
        return {"deliveryId": self.delivery_id, "sessionId": self.session_id, "amount": str(self.amount),
                "cumulative": str(self.cumulative), "status": self.status}


def parse_commit_receipt(value: object) -> CommitReceipt:
    data = as_object(value, "commit receipt")
    status = need_str(data, "status", "commit receipt")
    if status not in COMMIT_STATUSES:
        raise MalformedError(f"commit receipt.status must be committed or replayed, got {status[:40]!r}")
    return CommitReceipt(need_str(data, "deliveryId", "commit receipt"),
                         need_pubkey(data, "sessionId", "commit receipt"),
                         need_u64(data, "amount", "commit receipt"),
                         need_u64(data, "cumulative", "commit receipt"), status)


def side_channel_error(message: str) -> dict[str, str]:
    """The side channel's failure body."""
    return {"error": message}


def parse_side_channel_error(value: object) -> str:
    return need_str(as_object(value, "error body"), "error", "error body", nonempty=False)


PAUSE_REASONS = ("awaiting-commit", "insufficient-deposit", "channel-closing")


@dataclass(frozen=True)
class PaymentRequired:
    """`mpp serve`'s pause (`event: mpp.payment-required`, see `mppcli.server.app`): why the next
    chunk cannot go out and the amounts the payer needs to act on it. Amounts are base-unit
    decimal strings on the wire; `reserved` and `creditWindow` may be absent."""

    session_id: str
    reason: str
    amount: int
    deposit: int
    accepted: int
    spent: int
    reserved: int = 0
    credit_window: int | None = None

    def headroom(self) -> int:
        """What the deposit still allows beyond what is authorized or reserved."""
        return max(0, self.deposit - max(self.accepted, self.spent) - self.reserved)

    def to_json(self) -> dict[str, Any]:
        data = {"sessionId": self.session_id, "reason": self.reason, "amount": str(self.amount),
                "deposit": str(self.deposit), "acceptedCumulative": str(self.accepted),
                "spent": str(self.spent), "reserved": str(self.reserved)}
        if self.credit_window is not None:
            data["creditWindow"] = str(self.credit_window)
        return data


def parse_payment_required(value: object, path: str = EVENT_PAYMENT_REQUIRED) -> PaymentRequired:
    data = as_object(value, path)
    reason = need_str(data, "reason", path)
    if reason not in PAUSE_REASONS:
        raise MalformedError(f"{path}.reason must be one of {', '.join(PAUSE_REASONS)}, got {reason[:40]!r}")
    return PaymentRequired(
        session_id=need_pubkey(data, "sessionId", path), reason=reason,
        amount=need_u64(data, "amount", path, positive=True), deposit=need_u64(data, "deposit", path),
        accepted=need_u64(data, "acceptedCumulative", path), spent=need_u64(data, "spent", path),
        reserved=get_u64(data, "reserved", path, required=False) or 0,
        credit_window=get_u64(data, "creditWindow", path, required=False),
    )
