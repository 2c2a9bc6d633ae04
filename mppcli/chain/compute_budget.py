"""The Compute Budget instructions a server tolerates next to an open or topUp, with bounds.

A client may set a compute-unit limit and price. When the server pays the fee, both are bounded:
otherwise a client could make the server pay an arbitrary priority fee. Anything else (heap
frames, loaded-data limits, duplicates, accounts) is refused. Instruction tags (u8): 2 =
SetComputeUnitLimit (u32), 3 = SetComputeUnitPrice (u64 micro-lamports per unit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mppcli.errors import MalformedError

SET_UNIT_LIMIT = 2
SET_UNIT_PRICE = 3
MAX_UNIT_LIMIT = 1_400_000  # the runtime's per-transaction ceiling
DEFAULT_MAX_UNIT_PRICE = 1_000_000  # micro-lamports per unit: at most 0.0014 SOL at the ceiling


@dataclass(frozen=True)
class ComputeBudgetLimits:
    max_unit_limit: int = MAX_UNIT_LIMIT
    max_unit_price: int = DEFAULT_MAX_UNIT_PRICE


@dataclass(frozen=True)
class ComputeBudget:
    """What the transaction asked for (None = not set)."""

    unit_limit: int | None = None
    unit_price: int | None = None


def parse_compute_budget(datas: Sequence[bytes], limits: ComputeBudgetLimits) -> ComputeBudget:
    """Read the data of every Compute Budget instruction; refuse unknown, repeated or excessive ones."""
    limit = price = None
    for data in datas:
        if len(data) == 5 and data[0] == SET_UNIT_LIMIT and limit is None:
            limit = _bounded(int.from_bytes(data[1:], "little"), limits.max_unit_limit, "compute unit limit")
        elif len(data) == 9 and data[0] == SET_UNIT_PRICE and price is None:
            price = _bounded(int.from_bytes(data[1:], "little"), limits.max_unit_price, "compute unit price")
        else:
            raise MalformedError("only one SetComputeUnitLimit and one SetComputeUnitPrice instruction "
                                 "are allowed besides the channel instruction")
    return ComputeBudget(limit, price)


def _bounded(value: int, ceiling: int, what: str) -> int:
    if value > ceiling:
        raise MalformedError(f"{what} {value} exceeds the allowed {ceiling}")
    return value
