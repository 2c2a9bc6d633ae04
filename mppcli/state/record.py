"""The local record of one payment channel, as this payer knows it.

One frozen value per channel, stored as one JSON document (camelCase keys, amounts as decimal
strings, a schema `version`). The watermarks are what crash recovery and `close` rely on:

- `signed_cumulative`: the highest cumulative amount this client has signed (client mode);
- `accepted_cumulative`: the highest the server accepted (from its receipts);
- `spent`: what the server reports as spent;
- `settled`: what the chain has settled; `refunded`: what came back to the payer.

`last_signed_voucher` / `last_accepted_voucher` are the exact JSON texts of those vouchers, kept
byte-identical because the reference server accepts at close only a higher voucher or the very
same one it saw last.

`pending_top_up` is a signed topUp transaction written down before it leaves the process: until
a receipt (or the chain) says how it ended, the record must not forget that money may be moving.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from mppcli.errors import MalformedError
from mppcli.protocol.session import VoucherSigner as VoucherSigner  # re-exported: records store it

SCHEMA_VERSION = 2
U64_MAX = 2**64 - 1


class ChannelStatus(StrEnum):
    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"
    PENDING_FINALIZE = "pending-finalize"
    CLOSED = "closed"
    ORPHANED = "orphaned"


LIVE_STATUSES = frozenset(set(ChannelStatus) - {ChannelStatus.CLOSED})


class SignerKind(StrEnum):
    """Who holds the channel's authorizedSigner key."""

    SESSION = "session"  # a per-channel key in the keyring (wallet.Keystore session keys)
    PAYER = "payer"  # the payer's own key
    OPERATOR = "operator"  # the server's operator (voucherSigner = operator)


WATERMARKS = ("signed_cumulative", "accepted_cumulative", "spent", "settled", "refunded")


@dataclass(frozen=True)
class Split:
    recipient: str
    share_bps: int


@dataclass(frozen=True)
class PendingTopUp:
    """A topUp that was signed and may have reached the chain; cleared by a receipt or a reconcile."""

    amount: int
    deposit_before: int  # the recorded deposit when it was signed: landed = chain >= before + amount
    transaction: str  # the base64 transaction exactly as sent (fully or partially signed)
    created_at: float

    def __post_init__(self) -> None:
        for name in ("amount", "deposit_before"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U64_MAX:
                raise MalformedError(f"pendingTopUp.{camel(name)} must be an integer in the u64 range")
        if self.amount == 0:
            raise MalformedError("pendingTopUp.amount must be positive")
        if not isinstance(self.transaction, str) or not self.transaction:
            raise MalformedError("pendingTopUp.transaction must be a non-empty string")

    def to_json(self) -> dict[str, Any]:
        return {"amount": str(self.amount), "depositBefore": str(self.deposit_before),
                "transaction": self.transaction, "createdAt": self.created_at}


@dataclass(frozen=True)
class ChannelRecord:
    """Everything needed to resume, top up, close or recover one channel."""

    channel_id: str
    url: str
    origin: str
    realm: str
    network: str
    program_id: str
    payer: str
    payee: str
    mint: str
    token_program: str
    decimals: int
    authorized_signer: str
    signer_kind: SignerKind
    salt: int
    open_slot: int
    deposit: int
    grace_period_seconds: int
    voucher_signer: VoucherSigner = VoucherSigner.CLIENT
    idle_timeout_seconds: int | None = None
    operator: str | None = None
    fee_payer_key: str | None = None
    splits: tuple[Split, ...] = ()
    opening_challenge_id: str | None = None
    authentication: dict[str, Any] | None = field(default=None, hash=False)
    open_tx: str | None = None
    status: ChannelStatus = ChannelStatus.OPENING
    signed_cumulative: int = 0
    accepted_cumulative: int = 0
    spent: int = 0
    settled: int = 0
    refunded: int = 0
    last_signed_voucher: str | None = None
    last_accepted_voucher: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    pending_top_up: PendingTopUp | None = None

    def __post_init__(self) -> None:
        for name in ("salt", "open_slot", "deposit", *WATERMARKS):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U64_MAX:
                raise MalformedError(f"{camel(name)} must be an integer in the u64 range")
        for name, kind in (("status", ChannelStatus), ("signer_kind", SignerKind),
                           ("voucher_signer", VoucherSigner)):
            if not isinstance(getattr(self, name), kind):
                raise MalformedError(f"{camel(name)} must be a {kind.__name__}")
        if self.pending_top_up is not None and not isinstance(self.pending_top_up, PendingTopUp):
            raise MalformedError("pendingTopUp must be a PendingTopUp or null")
        for name in ("last_signed_voucher", "last_accepted_voucher"):
            text = getattr(self, name)
            if text is not None:
                _check_voucher_text(camel(name), text)

    @property
    def cumulative(self) -> int:
        """The channel's cumulative as this payer sees it (signed by us, or accepted in operator mode)."""
        if self.voucher_signer is VoucherSigner.CLIENT:
            return self.signed_cumulative
        return self.accepted_cumulative

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    def to_json(self) -> dict[str, Any]:
        """The stored document (also what `mpp channels show --json` prints)."""
        doc: dict[str, Any] = {"version": SCHEMA_VERSION}
        for f in fields(self):
            doc[camel(f.name)] = _dump_value(f.name, getattr(self, f.name))
        return doc


_AMOUNTS = frozenset({"salt", "deposit", *WATERMARKS})


def camel(name: str) -> str:
    """The JSON key of a record field."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _dump_value(name: str, value: Any) -> Any:
    if name in _AMOUNTS:
        return str(value)
    if name == "splits":
        return [{"recipient": s.recipient, "shareBps": s.share_bps} for s in value]
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, PendingTopUp):
        return value.to_json()
    return value


def _check_voucher_text(name: str, text: str) -> None:
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise MalformedError(f"{name} must be the JSON text of a signed voucher") from exc
    if not isinstance(parsed, dict):
        raise MalformedError(f"{name} must be the JSON text of a signed voucher object")
