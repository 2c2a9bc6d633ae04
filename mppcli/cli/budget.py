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
The ledger is read and written under a lock; two commands running at once can each spend up to
what was left when they started.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mppcli.errors import InputError, PolicyError

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
    """Where a budget stands now."""

    budget: Budget
    spent: Decimal
    resets_at: float | None

    @property
    def remaining(self) -> Decimal:
        return max(Decimal(0), self.budget.limit - self.spent)

    def to_json(self) -> dict[str, Any]:
        return {"limit": plain_decimal(self.budget.limit), "period": self.budget.period,
                "spent": plain_decimal(self.spent), "remaining": plain_decimal(self.remaining),
                "resetsAt": self.resets_at, "source": self.budget.source,
                "ledger": str(self.budget.ledger)}

    def text(self) -> str:
        from mppcli.cli.units import local_time

        window = f"this {self.budget.period}" if self.budget.period else f"in {self.budget.ledger}"
        resets = f"; resets {local_time(self.resets_at)}" if self.resets_at else ""
        return f"{plain_decimal(self.spent)} of {plain_decimal(self.budget.limit)} spent {window}{resets}"


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
    data = _read(budget.ledger) if budget.ledger.exists() else {}
    if budget.period is None:
        return Standing(budget, Decimal(str(data.get("spent", "0"))), None)
    start, end = window(now, budget.period)
    same = data.get("period") == budget.period and data.get("windowStart") == start
    return Standing(budget, Decimal(str(data.get("spent", "0"))) if same else Decimal(0), end)


def remaining_or_refuse(budget: Budget, now: float) -> Decimal:
    """What is left; an exhausted budget is E_POLICY (exit 5)."""
    now_standing = standing(budget, now)
    if now_standing.remaining <= 0:
        raise PolicyError(f"the spend budget is exhausted: {now_standing.text()}",
                          hint="`mpp wallet show` shows it; raise it with `mpp config set budget "
                               "AMOUNT/PERIOD` (or the limit in the --budget-file).")
    return now_standing.remaining


def charge(budget: Budget, amount: Decimal, now: float) -> None:
    """Add what a command spent to the ledger (under its lock, written atomically)."""
    if amount <= 0:
        return
    import hashlib

    from mppcli.files.atomic import atomic_write
    from mppcli.files.locks import file_lock
    from mppcli.paths import ensure_private_dir

    name = hashlib.sha256(str(budget.ledger.resolve()).encode()).hexdigest()[:16]
    locks = ensure_private_dir(budget.locks)
    with file_lock(locks / f"budget-{name}.lock", "recording spend", wait=30.0, what="the budget"):
        current = standing(budget, now)
        data = _read(budget.ledger) if budget.ledger.exists() else {}
        data["spent"] = plain_decimal(current.spent + amount)
        if budget.period is not None:
            data.update(period=budget.period, windowStart=window(now, budget.period)[0])
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
    return data
