"""What a seller watches: one line per payment event on stderr, as text or (`--log-json`) JSON.

Events: `opened` (deposit), `paid` (the route's price), `metered` (a committed stream delivery),
`topped-up` (the new deposit), `closed` (settled and refunded) and `refused` (why a credential was
turned away). Amounts are token units (`0.01`), never base units, so a line reads like a till
receipt; the JSON form carries the same fields plus the base-unit `amountBaseUnits`. Never a
credential, header, voucher signature or query string.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mppcli.protocol.amounts import format_amount
from mppcli.server.state import ChannelState, Status

OPENED, PAID, METERED = "opened", "paid", "metered"
TOPPED_UP, CLOSED, REFUSED = "topped-up", "closed", "refused"


def stderr_line(line: str) -> None:
    """`line` and its newline on stderr in one write: `print` writes them as two (one more syscall
    per request on the server's hot path)."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


@dataclass(frozen=True)
class PaymentEvent:
    kind: str
    channel: str | None = None
    route: str | None = None
    amount: int | None = None  # base units: deposit, price, delivery or settled amount
    spent: int | None = None
    deposit: int | None = None
    refunded: int | None = None
    detail: str | None = None


@dataclass(frozen=True)
class EventLog:
    """Formats events for one mint and writes them to `write` (the runner's stderr)."""

    decimals: int
    symbol: str | None = None
    as_json: bool = False
    write: Callable[[str], None] = stderr_line

    def emit(self, event: PaymentEvent) -> None:
        self.write(self.json_line(event) if self.as_json else self.text_line(event))

    def units(self, amount: int) -> str:
        return format_amount(amount, self.decimals, self.symbol)

    def text_line(self, e: PaymentEvent) -> str:
        channel = f" channel {e.channel}" if e.channel else ""
        route = f" route {e.route}" if e.route else ""
        return f"{e.kind}{channel}{route}: {self._what(e)}"

    def _what(self, e: PaymentEvent) -> str:
        """The event's own facts in words (`paid` first: one per paid request)."""
        if e.kind == PAID:
            spent, deposit = self.units(e.spent or 0), self.units(e.deposit or 0)
            return f"{self.units(e.amount or 0)} (spent {spent} of {deposit})"
        if e.kind == METERED:
            return f"{self.units(e.amount or 0)} for a stream delivery (spent {self.units(e.spent or 0)})"
        if e.kind == OPENED:
            return f"deposit {self.units(e.amount or 0)}"
        if e.kind == TOPPED_UP:
            return f"deposit now {self.units(e.amount or 0)}"
        if e.kind == CLOSED:
            return f"settled {self.units(e.amount or 0)}, refunded {self.units(e.refunded or 0)}"
        if e.kind == REFUSED:
            return (e.detail or "")[:300]
        raise ValueError(f"unknown payment event {e.kind!r}")

    def json_line(self, e: PaymentEvent) -> str:
        body: dict[str, Any] = {"event": e.kind, "channel": e.channel, "route": e.route}
        if e.amount is not None:
            body["amount"] = self.units(e.amount)
            body["amountBaseUnits"] = str(e.amount)
        for name, value in (("spent", e.spent), ("deposit", e.deposit), ("refunded", e.refunded)):
            if value is not None:
                body[name] = self.units(value)
        if e.detail:
            body["detail"] = e.detail[:300]
        return json.dumps(body, separators=(",", ":"))


def of_result(action: str, state: ChannelState, route: str, price: int) -> PaymentEvent:
    """The event of an accepted credential (`open`, `voucher`/`use`, `topUp`, `close`)."""
    channel = state.channel_id
    if action == "open":
        return PaymentEvent(OPENED, channel, route, state.deposit, deposit=state.deposit)
    if action == "topUp":
        return PaymentEvent(TOPPED_UP, channel, route, state.deposit, state.spent, state.deposit)
    if action == "close":
        settled = state.settled if state.status is Status.CLOSED else state.spent
        return PaymentEvent(CLOSED, channel, route, settled, state.spent, state.deposit, state.refunded)
    return PaymentEvent(PAID, channel, route, price, state.spent, state.deposit)


def emit(app_state: Any, event: PaymentEvent) -> None:
    """Send `event` to the app's log (`app.state.events`), if it has one (tests' apps may not)."""
    log = getattr(app_state, "events", None)
    if log is not None:
        log.emit(event)
