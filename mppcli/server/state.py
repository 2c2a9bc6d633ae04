"""The server's per-channel record (spec: Server State Management), as one frozen value.

Every change to a channel is a new `ChannelState` built with `dataclasses.replace` and written in
one SQLite transaction by `server.store`. Amounts are Python ints (u64 range); the store keeps
them as decimal text because SQLite integers stop at 2^63 - 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from mppcli.protocol.session import VoucherSigner


class Status(StrEnum):
    """Server-side channel status.

    `open` meters service; `closing` means a close (client, idle or forced) has begun and no new
    service is accepted while the settlement bundle is (re)driven; `closed` is terminal.
    """

    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(frozen=True)
class ChannelState:
    """What the server knows about one channel incarnation (keyed by `channel_id`)."""

    channel_id: str
    payer: str
    payee: str
    mint: str
    token_program: str
    authorized_signer: str
    salt: int
    open_slot: int
    grace_period: int
    splits: tuple[tuple[str, int], ...]
    rent_payer: str
    voucher_signer: str
    opening_challenge_id: str
    authentication: dict[str, str] | None
    deposit: int
    idle_timeout: int
    last_activity_at: float
    created_at: float
    accepted: int = 0
    spent: int = 0
    settled: int = 0
    highest_voucher: dict[str, object] | None = None
    status: Status = Status.OPEN
    closure_started_at: int = 0
    close_reason: str | None = None
    close_requested_at: float | None = None
    close_tx: str | None = None
    refunded: int | None = None
    reclaimed: bool = False
    next_delivery_seq: int = 1
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.status is Status.OPEN and self.closure_started_at == 0

    def available(self, pending: int = 0) -> int:
        """Value that can still pay for service now (spec: `available`, per voucher-signer mode).

        Client mode: what accepted vouchers authorize beyond what was spent. Operator mode: what
        the deposit still allows the operator to authorize. `pending` reserved deliveries count
        against the deposit in both modes.
        """
        if self.voucher_signer == VoucherSigner.OPERATOR:
            return max(0, self.deposit - self.accepted - pending)
        return max(0, self.accepted - self.spent)

    def headroom(self, pending: int = 0) -> int:
        """Deposit not yet authorized, spent (a metered stream charges `spent` ahead of its
        vouchers) or reserved: what a new reservation or stream chunk may still take."""
        return max(0, self.deposit - max(self.accepted, self.spent) - pending)


@dataclass(frozen=True)
class Delivery:
    """One reserved unit of metered stream delivery (PROTOCOL-NOTES §7.2)."""

    delivery_id: str
    channel_id: str
    sequence: int
    amount: int
    expires_at: int
    status: str = "pending"  # pending | committed | released
    cumulative: int | None = None
    voucher_signature: str | None = None
    stream_id: str | None = None


@dataclass(frozen=True)
class CachedResponse:
    """A response kept for an `Idempotency-Key` replay: same status, receipt and body."""

    status: int
    receipt: str | None
    content_type: str
    body: bytes
