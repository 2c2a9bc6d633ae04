"""A spend budget across commands (#14 item 14): `mpp config set budget 5/day`, or `--budget-file`.

What counts is what the paying commands sign away: the rise of the signed watermarks of this
machine's channels while `mpp request` or `mpp stream` runs (vouchers signed, whether or not the
server then delivered: the conservative reading). Deposits are not spending (they come back at
close), but a paying command's `--max-spend` is lowered to what is left of the budget, so it can
neither pay nor lock more than that. An exhausted budget refuses the command with exit 5.

Two kinds of budget, both in token units (the stablecoins all have 6 decimals):
- the `budget` setting, `AMOUNT/PERIOD` with PERIOD hour, day, week or month (calendar periods in
  local time); what was spent in the current period is kept in `budget.json` under the state dir;
- `--budget-file FILE` for one agent run: FILE holds `{"limit": "2"}` and mpp keeps `"spent"` in it.
The ledger is read and written under a lock. A command reserves what it may spend when it starts
(`reserve`: its `--max-spend`, or all that is left) and settles when it ends (`settle`: what it
signed, never more than it reserved), so commands running at once share what is left instead of
each spending all of it. A command that died before settling (its pid is gone on this host) is
settled by the next command from the rise of the machine's signed watermarks since it started,
at most its reservation: the budget errs towards counting too much, never too little.
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mppcli.errors import InputError, PolicyError
from mppcli.files.atomic import hostname, pid_alive

if TYPE_CHECKING:
    from mppcli.cli.env import Env

@dataclass(frozen=True)
class Budget:
    """One budget: its limit, its period (None for a budget file: the whole run) and its ledger."""

    limit: Decimal
    period: str | None
    ledger: Path
    source: str  # "config" / "env" (the setting) or "file"
    locks: Path  # where the ledger's lock lives (the state dir's locks/)


@dataclass(frozen=True)
class Standing:
    """Where a budget stands now: spent, and held by paying commands still running."""

    budget: Budget
    spent: Decimal
    resets_at: float | None
    reserved: Decimal = Decimal(0)

    @property
    def remaining(self) -> Decimal:
        return max(Decimal(0), self.budget.limit - self.spent - self.reserved)

    def to_json(self) -> dict[str, Any]:
        return {"limit": plain_decimal(self.budget.limit), "period": self.budget.period,
                "spent": plain_decimal(self.spent), "reserved": plain_decimal(self.reserved),
                "remaining": plain_decimal(self.remaining), "resetsAt": self.resets_at,
                "source": self.budget.source, "ledger": str(self.budget.ledger)}

    def text(self) -> str:
        from mppcli.cli.units import local_time

        window = f"this {self.budget.period}" if self.budget.period else f"in {self.budget.ledger}"
        held = f" ({plain_decimal(self.reserved)} held by running commands)" if self.reserved else ""
        resets = f"; resets {local_time(self.resets_at)}" if self.resets_at else ""
        return (f"{plain_decimal(self.spent)} of {plain_decimal(self.budget.limit)} spent {window}"
                f"{held}{resets}")


@dataclass(frozen=True)
class Reservation:
    """What one running command may spend (`reserve`), settled by `settle` when it ends."""

    key: str
    amount: Decimal


def active(env: Env, budget_file: Path | None) -> Budget | None:
    """The budget that applies: `--budget-file`, else the `budget` setting, else none."""
    if budget_file is not None:
        return Budget(_file_limit(budget_file), None, budget_file.expanduser(), "file",
                      env.paths.state_dir / "locks")
    from mppcli.config import resolve_setting

    setting = resolve_setting(env.paths, env.environ, "budget")
    if setting.value is None:
        return None
    amount, period = setting.value.split("/")
    return Budget(Decimal(amount), period, env.paths.state_dir / "budget.json", setting.source,
                  env.paths.state_dir / "locks")


def standing(budget: Budget, now: float) -> Standing:
    return _standing(budget, _read(budget.ledger) if budget.ledger.exists() else {}, now)


def _standing(budget: Budget, data: dict[str, Any], now: float) -> Standing:
    reserved = sum((Decimal(r["amount"]) for r in _reservations(data).values()), Decimal(0))
    if budget.period is None:
        return Standing(budget, Decimal(str(data.get("spent", "0"))), None, reserved)
    start, end = window(now, budget.period)
    same = data.get("period") == budget.period and data.get("windowStart") == start
    return Standing(budget, Decimal(str(data.get("spent", "0"))) if same else Decimal(0), end, reserved)


def reserve(budget: Budget, wanted: Decimal | None, now: float, signed: Decimal) -> Reservation:
    """Hold what this command may spend: `wanted` (its --max-spend), at most what is left after
    the commands still running; an exhausted budget is E_POLICY (exit 5). `signed` is the
    machine's signed total now (`signed_total`): the mark this command is settled from if it dies,
    and what settles the commands that already did."""
    with _locked(budget):
        data = _settle_abandoned(budget, _read_or_empty(budget), now, signed)
        current = _standing(budget, data, now)
        if current.remaining <= 0:
            _write(budget, data)
            raise PolicyError(f"the spend budget is exhausted: {current.text()}",
                              hint="`mpp wallet show` shows it; raise it with `mpp config set budget "
                                   "AMOUNT/PERIOD` (or the limit in the --budget-file).")
        amount = current.remaining if wanted is None else min(current.remaining, wanted)
        key = secrets.token_hex(8)
        _reservations(data)[key] = {"amount": plain_decimal(amount), "pid": os.getpid(), "host": hostname(),
                                    "signedBefore": plain_decimal(signed)}
        _write(budget, data)
    return Reservation(key, amount)


def settle(budget: Budget, held: Reservation, spent: Decimal, now: float) -> None:
    """Release `held` and charge what the command signed, never more than it reserved."""
    with _locked(budget):
        data = _read_or_empty(budget)
        _reservations(data).pop(held.key, None)
        _charge(budget, data, min(max(spent, Decimal(0)), held.amount), now)
        _write(budget, data)


def _settle_abandoned(budget: Budget, data: dict[str, Any], now: float, signed: Decimal) -> dict[str, Any]:
    """Charge the reservations of commands that died on this host before settling: what the
    machine signed since each started, at most what it held."""
    reservations = _reservations(data)
    for key in [k for k, r in reservations.items() if r["host"] == hostname() and not pid_alive(r["pid"])]:
        held = reservations.pop(key)
        risen = signed - Decimal(held["signedBefore"])
        _charge(budget, data, min(max(risen, Decimal(0)), Decimal(held["amount"])), now)
    return data


def _charge(budget: Budget, data: dict[str, Any], amount: Decimal, now: float) -> None:
    current = _standing(budget, data, now)
    data["spent"] = plain_decimal(current.spent + amount)
    if budget.period is not None:
        data.update(period=budget.period, windowStart=window(now, budget.period)[0])


def _reservations(data: dict[str, Any]) -> dict[str, Any]:
    """The ledger's reservations (created empty); malformed entries are refused by `_read`."""
    held = data.setdefault("reservations", {})
    assert isinstance(held, dict)
    return held


@contextmanager
def _locked(budget: Budget) -> Iterator[None]:
    import hashlib

    from mppcli.files.locks import file_lock
    from mppcli.paths import ensure_private_dir

    name = hashlib.sha256(str(budget.ledger.resolve()).encode()).hexdigest()[:16]
    locks = ensure_private_dir(budget.locks)
    with file_lock(locks / f"budget-{name}.lock", "recording spend", wait=30.0, what="the budget"):
        yield


def _read_or_empty(budget: Budget) -> dict[str, Any]:
    return _read(budget.ledger) if budget.ledger.exists() else {}


def _write(budget: Budget, data: dict[str, Any]) -> None:
    from mppcli.files.atomic import atomic_write

    if not data.get("reservations"):
        data.pop("reservations", None)
    atomic_write(budget.ledger, (json.dumps(data, indent=2) + "\n").encode())


def plain_decimal(value: Decimal) -> str:
    """`0.02`, not `0.020000` or `2E-2`."""
    return format(value.normalize(), "f") if value else "0"


def window(now: float, period: str) -> tuple[float, float]:
    """The calendar period (local time) that holds `now`: its start and its end, unix seconds."""
    moment = datetime.datetime.fromtimestamp(now).astimezone()
    if period == "hour":
        start = moment.replace(minute=0, second=0, microsecond=0)
        end = start + datetime.timedelta(hours=1)
    elif period == "day":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + datetime.timedelta(days=1)
    elif period == "week":
        start = (moment - datetime.timedelta(days=moment.weekday())).replace(hour=0, minute=0, second=0,
                                                                             microsecond=0)
        end = start + datetime.timedelta(days=7)
    else:
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + datetime.timedelta(days=32)).replace(day=1)
    return start.timestamp(), end.timestamp()


def signed_total(env: Env) -> Decimal:
    """What this machine's channels have signed away in all, in token units."""
    from mppcli.state.store import ChannelStore

    records = ChannelStore(env.paths, warn=lambda _m: None).list(include_closed=True).records
    return sum((Decimal(r.signed_cumulative).scaleb(-r.decimals) for r in records), Decimal(0))


def _file_limit(path: Path) -> Decimal:
    from mppcli.config import is_token_amount

    data = _read(path.expanduser())
    limit = data.get("limit")
    if not isinstance(limit, str) or not is_token_amount(limit):
        raise InputError(f"{path}: `limit` must be an amount in token units as a string, such as \"2\"",
                         hint='Write the file as {"limit": "2"}; mpp keeps "spent" in it.')
    return Decimal(limit)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no budget file {path}", hint='Create it: {"limit": "2"}.') from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the budget in {path}: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} must hold a JSON object")
    _check_ledger(path, data)
    return data


def _check_ledger(path: Path, data: dict[str, Any]) -> None:
    """What mpp keeps in the ledger must read back as it wrote it (amounts as `plain_decimal`
    writes them); anything else is the user's to fix."""
    from mppcli.config import is_token_amount

    def amount(value: object) -> bool:
        return isinstance(value, str) and is_token_amount(value)

    held = data.get("reservations", {})
    entries = held.values() if isinstance(held, dict) else [None]
    good = ("spent" not in data or amount(data["spent"])) and all(
        isinstance(r, dict) and amount(r.get("amount")) and amount(r.get("signedBefore"))
        and isinstance(r.get("pid"), int) and not isinstance(r.get("pid"), bool)
        and isinstance(r.get("host"), str)
        for r in entries
    )
    if not good:
        raise InputError(f"the budget ledger {path} is damaged (its spent or reservations)",
                         hint='Fix or remove "spent"/"reservations" in it; mpp rewrites them.')
