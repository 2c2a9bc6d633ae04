"""The payer's channel state machine: one transition table and the pure signing decisions.

Everything that moves a channel's local status or its watermarks lives in this file (STYLE item 1,
after h11's `_state.py`). It does no I/O and reads no clock: drivers feed it values (a receipt's
amounts, a metering directive's amount, what the chain says) and persist what it returns, inside the
channel lock, before anything leaves the process.

The watermarks, and the rules that keep them honest:

    deposit   what the channel escrows (from our open/top-up receipts and the chain)
    signed    the highest cumulative this client ever signed        (moves first, before sending)
    accepted  the highest cumulative the server confirmed           (never above `signed`)
    spent     the server's debit counter from receipts              (never above `accepted`)
    settled   what the chain settled at close                       (the chain's word, kept apart)

A server can only move `accepted`/`spent`, and only up to what this client signed: a receipt that
claims more is a protocol violation, never a reason to move a watermark (NOTES: "never let a server
push the local watermark above what this client signed"). A voucher is never signed above the
deposit, above the user's cap, or for more than the server metered.

A server that breaks the protocol is answered by an exception (`ProtocolViolation`, exit 4) at the
point it is detected, before anything is signed or stored on its word; there is no error status.
`Status` is the record's own `ChannelStatus` (one enum for the stored and the reasoned-about state).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from mppcli.errors import InternalError, PolicyError, ProtocolViolation
from mppcli.state.record import ChannelStatus

U64_MAX = 2**64 - 1
Status = ChannelStatus  # the statuses the machine moves between are exactly the ones a record stores


# --- events: what a driver tells the machine ------------------------------------------------------

@dataclass(frozen=True)
class OpenAccepted:
    """The server's receipt for our open."""

    deposit: int


@dataclass(frozen=True)
class OpenRejected:
    """The server refused the open (the transaction may or may not have landed)."""


@dataclass(frozen=True)
class OpenExpired:
    """The open never landed and its blockhash can no longer land: nothing was deposited."""


@dataclass(frozen=True)
class VoucherSigned:
    """A voucher for `cumulative` is about to leave the process (persist first)."""

    cumulative: int


@dataclass(frozen=True)
class VoucherAccepted:
    """The server accepted a voucher for `cumulative` and reports `spent` (checked by the caller)."""

    cumulative: int
    spent: int


@dataclass(frozen=True)
class UseAccepted:
    """Operator mode: the server metered a `use` and now reports `cumulative` and `spent`."""

    cumulative: int
    spent: int


@dataclass(frozen=True)
class TopUpAccepted:
    """The channel's deposit is now `deposit` (server receipt or the chain)."""

    deposit: int


@dataclass(frozen=True)
class CloseSent:
    """A cooperative close credential is about to leave the process."""


@dataclass(frozen=True)
class CloseSettled:
    """The server settled: `settled` went to the payee side, `refunded` back to the payer."""

    settled: int
    refunded: int


@dataclass(frozen=True)
class ForceCloseLanded:
    """Our requestClose landed on chain; the grace period runs (the chain keeps when it ends)."""


@dataclass(frozen=True)
class Withdrawn:
    """withdrawPayer (or distribute) paid the refund after the channel was sealed."""

    settled: int
    refunded: int


@dataclass(frozen=True)
class ChainOpen:
    deposit: int
    settled: int


@dataclass(frozen=True)
class ChainClosing:
    deposit: int
    settled: int
    grace_ends_at: int  # reported to the user by `close --force`; the record does not keep it


@dataclass(frozen=True)
class ChainSealed:
    deposit: int
    settled: int


@dataclass(frozen=True)
class ChainDistributed:
    deposit: int
    settled: int


@dataclass(frozen=True)
class ChainAbsent:
    """The channel account does not exist (never landed, or deallocated after close)."""


Event = (
    OpenAccepted | OpenRejected | OpenExpired | VoucherSigned | VoucherAccepted | UseAccepted
    | TopUpAccepted
    | CloseSent | CloseSettled | ForceCloseLanded | Withdrawn | ChainOpen | ChainClosing
    | ChainSealed | ChainDistributed | ChainAbsent
)


# --- the transition table ---------------------------------------------------------------------------

S = Status

TRANSITIONS: dict[tuple[Status, type], Status] = {
    (S.OPENING, OpenAccepted): S.OPEN,
    (S.OPENING, OpenRejected): S.ORPHANED,
    (S.OPENING, OpenExpired): S.CLOSED,
    (S.OPENING, ChainOpen): S.OPEN,
    (S.OPENING, ChainClosing): S.CLOSING,
    (S.OPENING, ChainSealed): S.PENDING_FINALIZE,
    (S.OPENING, ChainDistributed): S.CLOSED,
    (S.OPEN, OpenAccepted): S.OPEN,  # a replayed open receipt changes nothing
    (S.OPEN, VoucherSigned): S.OPEN,
    (S.OPEN, VoucherAccepted): S.OPEN,
    (S.OPEN, UseAccepted): S.OPEN,
    (S.OPEN, TopUpAccepted): S.OPEN,
    (S.OPEN, CloseSent): S.CLOSING,
    (S.OPEN, CloseSettled): S.CLOSED,
    (S.OPEN, ForceCloseLanded): S.CLOSING,
    (S.OPEN, ChainOpen): S.OPEN,
    (S.OPEN, ChainClosing): S.CLOSING,
    (S.OPEN, ChainSealed): S.PENDING_FINALIZE,
    (S.OPEN, ChainDistributed): S.CLOSED,
    (S.OPEN, ChainAbsent): S.CLOSED,
    (S.CLOSING, VoucherSigned): S.CLOSING,  # the close's final voucher (re-drive)
    (S.CLOSING, VoucherAccepted): S.CLOSING,
    (S.CLOSING, CloseSent): S.CLOSING,  # re-driving a close that got no answer
    (S.CLOSING, CloseSettled): S.CLOSED,
    (S.CLOSING, ForceCloseLanded): S.CLOSING,
    (S.CLOSING, ChainOpen): S.OPEN,  # a close the server refused: the channel is still open
    (S.CLOSING, ChainClosing): S.CLOSING,
    (S.CLOSING, ChainSealed): S.PENDING_FINALIZE,
    (S.CLOSING, ChainDistributed): S.CLOSED,
    (S.CLOSING, ChainAbsent): S.CLOSED,
    (S.PENDING_FINALIZE, Withdrawn): S.CLOSED,
    (S.PENDING_FINALIZE, CloseSettled): S.CLOSED,
    (S.PENDING_FINALIZE, ChainSealed): S.PENDING_FINALIZE,
    (S.PENDING_FINALIZE, ChainDistributed): S.CLOSED,
    (S.PENDING_FINALIZE, ChainAbsent): S.CLOSED,
    (S.ORPHANED, ForceCloseLanded): S.CLOSING,
    (S.ORPHANED, ChainOpen): S.ORPHANED,
    (S.ORPHANED, ChainClosing): S.CLOSING,
    (S.ORPHANED, ChainSealed): S.PENDING_FINALIZE,
    (S.ORPHANED, ChainDistributed): S.CLOSED,
    (S.ORPHANED, ChainAbsent): S.CLOSED,
    (S.CLOSED, ChainAbsent): S.CLOSED,
    (S.CLOSED, ChainDistributed): S.CLOSED,
    (S.CLOSED, ChainSealed): S.PENDING_FINALIZE,
    (S.CLOSED, CloseSettled): S.CLOSED,
}

SIGNABLE = frozenset({S.OPEN})  # the only status in which vouchers are signed for service


@dataclass(frozen=True)
class ChannelView:
    """The part of a channel record the machine reasons about (all amounts in base units)."""

    status: Status
    deposit: int
    signed: int = 0
    accepted: int = 0
    spent: int = 0
    settled: int = 0
    refunded: int = 0

    @property
    def available(self) -> int:
        """What the deposit still covers beyond what was accepted."""
        return self.deposit - self.accepted


class IllegalTransition(InternalError):
    """An event the table does not allow in the current status (a bug in a driver)."""


def step(view: ChannelView, event: Event) -> ChannelView:
    """Apply `event`: the next status from the table, the watermarks from the event's effect."""
    key = (view.status, type(event))
    if key not in TRANSITIONS:
        raise IllegalTransition(
            f"event {type(event).__name__} is not allowed while the channel is {view.status.value}")
    moved = _EFFECTS.get(type(event), _no_effect)(view, event)
    return replace(moved, status=TRANSITIONS[key])


# --- effects on the watermarks ------------------------------------------------------------------------

def _no_effect(view: ChannelView, event: Event) -> ChannelView:
    return view


def _open_accepted(view: ChannelView, event: Event) -> ChannelView:
    assert isinstance(event, OpenAccepted)
    return replace(view, deposit=max(view.deposit, event.deposit))


def _voucher_signed(view: ChannelView, event: Event) -> ChannelView:
    assert isinstance(event, VoucherSigned)
    if not 0 <= event.cumulative <= view.deposit:
        raise InternalError(
            f"refusing to sign {event.cumulative}: outside the deposit {view.deposit}")
    return replace(view, signed=max(view.signed, event.cumulative))


def _voucher_accepted(view: ChannelView, event: Event) -> ChannelView:
    assert isinstance(event, VoucherAccepted)
    if event.cumulative > view.signed:
        raise ProtocolViolation(
            f"server reports acceptedCumulative {event.cumulative}, above the {view.signed} this "
            "client signed")
    if event.spent > event.cumulative:
        raise ProtocolViolation(
            f"server reports spent {event.spent} above acceptedCumulative {event.cumulative}")
    accepted = max(view.accepted, event.cumulative)
    return replace(view, accepted=accepted, spent=max(view.spent, event.spent))


def _use_accepted(view: ChannelView, event: Event) -> ChannelView:
    assert isinstance(event, UseAccepted)
    return replace(view, accepted=max(view.accepted, event.cumulative), spent=max(view.spent, event.spent))


def _deposit_grew(view: ChannelView, event: Event) -> ChannelView:
    assert isinstance(event, TopUpAccepted)
    return replace(view, deposit=max(view.deposit, event.deposit))


def _close_settled(view: ChannelView, event: Event) -> ChannelView:
    """A server's close receipt: believed only up to what this client signed."""
    assert isinstance(event, CloseSettled)
    ceiling = max(view.signed, view.accepted)  # operator mode: what the server showed it metered
    if event.settled > ceiling:
        raise ProtocolViolation(
            f"server settled {event.settled}, above the {ceiling} this client signed")
    return replace(view, settled=event.settled, refunded=event.refunded,
                   accepted=max(view.accepted, event.settled))


def _withdrawn(view: ChannelView, event: Event) -> ChannelView:
    """Read from the chain after our own withdrawPayer: the chain's word, taken as it is."""
    assert isinstance(event, Withdrawn)
    return replace(view, settled=event.settled, refunded=event.refunded)


def _chain(view: ChannelView, event: Event) -> ChannelView:
    """The chain is the truth about money: take its deposit and settled as they are."""
    assert isinstance(event, ChainOpen | ChainClosing | ChainSealed | ChainDistributed)
    refunded = view.refunded
    if isinstance(event, ChainDistributed):  # drained: the payer got deposit - settled back
        refunded = max(refunded, event.deposit - event.settled)
    return replace(view, deposit=event.deposit, settled=event.settled, refunded=refunded)


_EFFECTS: dict[type, Callable[[ChannelView, Event], ChannelView]] = {
    OpenAccepted: _open_accepted,
    VoucherSigned: _voucher_signed,
    VoucherAccepted: _voucher_accepted,
    UseAccepted: _use_accepted,
    TopUpAccepted: _deposit_grew,
    CloseSettled: _close_settled,
    Withdrawn: _withdrawn,
    ChainOpen: _chain,
    ChainClosing: _chain,
    ChainSealed: _chain,
    ChainDistributed: _chain,
}


# --- decisions: what to sign next, and what to believe -------------------------------------------------

class BalanceExhausted(PolicyError):
    """The deposit cannot cover the next payment; `needed` more base units would."""

    default_hint = "Top up the channel (`mpp topup CHANNEL AMOUNT`) or allow it with --max-spend."

    def __init__(self, message: str, *, needed: int, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.needed = needed


@dataclass(frozen=True)
class Budget:
    """`--max-spend` for one command: the most it may pay in vouchers, and the most it may lock.

    `paid` counts the new value this command signed away (each voucher's amount above the highest
    voucher signed before it); `locked` counts deposits and top-ups it made. Each is capped by
    `max_spend` on its own, so the deposit is `min(suggestion, --deposit, what is left to lock)`.
    """

    max_spend: int | None = None
    paid: int = 0
    locked: int = 0

    def room_to_pay(self) -> int | None:
        return None if self.max_spend is None else max(0, self.max_spend - self.paid)

    def room_to_lock(self) -> int | None:
        return None if self.max_spend is None else max(0, self.max_spend - self.locked)

    def after_signing(self, view: ChannelView, cumulative: int) -> Budget:
        return replace(self, paid=self.paid + max(0, cumulative - view.signed))

    def after_paying(self, amount: int) -> Budget:
        return replace(self, paid=self.paid + amount)

    def after_locking(self, amount: int) -> Budget:
        return replace(self, locked=self.locked + amount)


def _require_signable(view: ChannelView) -> None:
    if view.status not in SIGNABLE:
        raise IllegalTransition(f"cannot pay on a channel that is {view.status.value}")


def _check_signable(view: ChannelView, cumulative: int, budget: Budget) -> None:
    """Never above the u64 range, the deposit, or what is left of --max-spend."""
    if cumulative > U64_MAX:
        raise ProtocolViolation(f"the next voucher {cumulative} would overflow u64")
    room = budget.room_to_pay()
    if room is not None and cumulative - view.signed > room:
        raise PolicyError(
            f"paying {cumulative - view.signed} more would exceed --max-spend {budget.max_spend} "
            f"(this command already paid {budget.paid})",
            hint="Raise --max-spend (or MPP_MAX_SPEND) to continue.")
    if cumulative > view.deposit:
        raise BalanceExhausted(
            f"the deposit {view.deposit} cannot cover a voucher for {cumulative}",
            needed=cumulative - view.deposit)


def request_cumulative(view: ChannelView, price: int, budget: Budget) -> int:
    """The voucher for one paid request: exactly the price above what the server accepted."""
    _require_signable(view)
    if price <= 0:
        raise ProtocolViolation(f"the challenge prices a request at {price}; it must be positive")
    cumulative = view.accepted + price
    _check_signable(view, cumulative, budget)
    return cumulative


def commit_cumulative(view: ChannelView, metered: int, price: int, budget: Budget) -> int:
    """The voucher for what the server metered since the accepted watermark: never more than it
    metered, nor the price it challenged."""
    _require_signable(view)
    if metered <= 0:
        raise ProtocolViolation(f"server metered {metered}; a delivery must cost more than 0")
    if metered > price:
        raise ProtocolViolation(
            f"server metered {metered} for one delivery, more than the price {price} it challenged")
    cumulative = view.accepted + metered
    if cumulative > view.deposit:
        raise ProtocolViolation(
            f"server metered past the deposit ({cumulative} > {view.deposit}) instead of pausing")
    _check_signable(view, cumulative, budget)
    return cumulative


def check_voucher_receipt(view: ChannelView, sent: int, accepted: int, spent: int) -> VoucherAccepted:
    """What a success receipt for the voucher we just sent may say; anything else is a lie.

    The server must confirm exactly the voucher sent (an older acceptedCumulative is a replayed
    receipt, a higher one claims money this client never signed), and `spent` may only grow.
    """
    if accepted > view.signed:
        raise ProtocolViolation(
            f"receipt claims acceptedCumulative {accepted}, above the {view.signed} this client signed")
    if accepted != sent:
        raise ProtocolViolation(
            f"receipt acceptedCumulative {accepted} does not confirm the voucher for {sent} just sent "
            "(a replayed or stale receipt)")
    spent = vouched_spent(spent, accepted)
    if spent < view.spent:
        raise ProtocolViolation(f"receipt spent {spent} went backwards from {view.spent}")
    return VoucherAccepted(cumulative=accepted, spent=spent)


def vouched_spent(spent: int, accepted: int) -> int:
    """The part of a server's `spent` this client's vouchers cover.

    A server metering a stream charges `spent` before the vouchers for it arrive (spec, Crash
    Safety), so its `spent` may run ahead of `acceptedCumulative` by its credit window. This client
    owes only what it signed; the record keeps `spent` within `accepted`.
    """
    return min(spent, accepted)


def check_commit_receipt(view: ChannelView, sent: int, status: str, cumulative: int) -> VoucherAccepted:
    """A metering commit's answer: `committed` must confirm our voucher; `replayed` is clamped.

    A replayed commit means the server already had this delivery: believe its cumulative only up
    to the voucher just signed (PROTOCOL-NOTES §7.3), and never below what was accepted before.
    """
    if status == "committed":
        if cumulative != sent:
            raise ProtocolViolation(
                f"commit receipt cumulative {cumulative} does not match the voucher for {sent} sent")
        return VoucherAccepted(cumulative=sent, spent=view.spent)
    if status == "replayed":
        return VoucherAccepted(cumulative=max(view.accepted, min(cumulative, sent)), spent=view.spent)
    raise ProtocolViolation(f"commit receipt status {status!r} is neither committed nor replayed")


def choose_deposit(*, price: int, suggested: int | None, minimum: int | None, requested: int | None,
                   budget: Budget, default_units: int = 100, show: Callable[[int], str] = str) -> int:
    """deposit = min(the server's suggestion (or a price-based default), --deposit, --max-spend).

    The server can only ever lower what the user allowed (NOTES: a payer tool lost funds when a
    suggestion was trusted); below the server's minimum the open is refused, not inflated.
    `show` writes an amount for the refusal's message (the caller knows the token; this stays pure).
    """
    want = suggested if suggested is not None else (minimum or price * default_units)
    if minimum is not None:
        want = max(want, minimum)
    caps = [c for c in (requested, budget.room_to_lock()) if c is not None]
    deposit = min([want, *caps])
    if deposit <= 0:
        raise PolicyError("the deposit would be 0", hint="Pass --deposit with a positive amount.")
    if minimum is not None and deposit < minimum:
        raise PolicyError(
            f"the server's minimumDeposit {show(minimum)} is above what you allowed ({show(deposit)})",
            hint="Raise --deposit/--max-spend to at least the server's minimum, or do not pay.")
    return deposit


def top_up_amount(view: ChannelView, needed: int, preferred: int, budget: Budget) -> int:
    """How much to add when `needed` more is missing: `preferred` (at least `needed`), within the cap."""
    amount = max(needed, preferred)
    room = budget.room_to_lock()
    if room is None:
        raise BalanceExhausted(
            f"the channel needs {needed} more and no --max-spend allows an automatic top-up",
            needed=needed)
    if room < needed:
        raise BalanceExhausted(
            f"the channel needs {needed} more but --max-spend leaves room for {room}", needed=needed)
    return min(amount, room)


def check_use_allowed(view: ChannelView, price: int, budget: Budget) -> None:
    """Operator mode: the operator will sign `accepted + price`; it must fit the deposit and the cap."""
    _require_signable(view)
    if price <= 0:
        raise ProtocolViolation(f"the challenge prices a request at {price}; it must be positive")
    room = budget.room_to_pay()
    if room is not None and price > room:
        raise PolicyError(f"paying {price} more would exceed --max-spend {budget.max_spend} "
                          f"(this command already paid {budget.paid})",
                          hint="Raise --max-spend (or MPP_MAX_SPEND) to continue.")
    if view.accepted + price > view.deposit:
        raise BalanceExhausted(f"the deposit {view.deposit} cannot cover {view.accepted + price}",
                               needed=view.accepted + price - view.deposit)


def check_use_receipt(view: ChannelView, price: int, accepted: int, spent: int) -> UseAccepted:
    """Operator mode: one `use` moves the operator-signed cumulative by exactly the price."""
    if accepted != view.accepted + price:
        raise ProtocolViolation(
            f"the operator moved the cumulative from {view.accepted} to {accepted} for one request "
            f"priced {price}")
    if accepted > view.deposit:
        raise ProtocolViolation(f"the operator signed {accepted}, above the deposit {view.deposit}")
    if spent > accepted or spent < view.spent:
        raise ProtocolViolation(f"receipt spent {spent} is inconsistent (was {view.spent}, "
                                f"accepted {accepted})")
    return UseAccepted(accepted, spent)


def diagram() -> str:
    """The transition table as a Mermaid state diagram (docs/internals.md carries this output)."""
    lines = ["stateDiagram-v2"]
    ordered = sorted(TRANSITIONS.items(), key=lambda item: (item[0][0].value, item[0][1].__name__))
    for (source, event), target in ordered:
        if source is not target:
            lines.append(f"    {_node(source)} --> {_node(target)}: {event.__name__}")
    return "\n".join(lines)


def _node(status: Status) -> str:
    return status.value.replace("-", "_")


if __name__ == "__main__":
    print(diagram())
