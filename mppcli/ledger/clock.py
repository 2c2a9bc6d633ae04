"""The ledger's clock: slots every 400 ms and unix time that follow the wall clock.

Nothing runs in the background: the current slot is computed from an anchor whenever someone asks,
so an idle ledger costs nothing. `speed` multiplies the passage of time (tests use it to cross a
grace period or the 1500-slot window quickly) and `warp` jumps ahead; both re-anchor, so time is
monotonic for the life of a ledger directory, restarts included.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

SLOT_MS = 400


@dataclass(frozen=True)
class ClockAnchor:
    """Where the chain was at one wall-clock moment; everything later is derived from it."""

    wall: float
    slot: int
    unix: int

    def to_json(self) -> dict[str, float | int]:
        return {"wall": self.wall, "slot": self.slot, "unix": self.unix}

    @classmethod
    def from_json(cls, data: dict[str, float | int]) -> ClockAnchor:
        return cls(float(data["wall"]), int(data["slot"]), int(data["unix"]))


@dataclass(frozen=True)
class ChainTime:
    slot: int
    unix_timestamp: int


class LedgerClock:
    """Slot and unix time derived from `wall()`; `speed` > 1 makes chain time run faster."""

    def __init__(self, anchor: ClockAnchor, speed: float = 1.0,
                 wall: Callable[[], float] = time.time) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self._anchor = anchor
        self._speed = speed
        self._wall = wall

    @classmethod
    def genesis(cls, slot: int = 0, speed: float = 1.0,
                wall: Callable[[], float] = time.time) -> LedgerClock:
        now = wall()
        return cls(ClockAnchor(now, slot, int(now)), speed, wall)

    @property
    def anchor(self) -> ClockAnchor:
        return self._anchor

    def now(self) -> ChainTime:
        # Whole milliseconds, so 0.4 s of float wall time is exactly one slot.
        elapsed_ms = round(max(0.0, self._wall() - self._anchor.wall) * self._speed * 1000)
        return ChainTime(self._anchor.slot + elapsed_ms // SLOT_MS, self._anchor.unix + elapsed_ms // 1000)

    def reanchor(self, speed: float | None = None) -> ClockAnchor:
        """Fix the current chain time as the new anchor (before a speed change or a save)."""
        current = self.now()
        self._anchor = ClockAnchor(self._wall(), current.slot, current.unix_timestamp)
        if speed is not None:
            if speed <= 0:
                raise ValueError("clock speed must be positive")
            self._speed = speed
        return self._anchor

    def warp(self, slots: int | None = None, seconds: int | None = None) -> ChainTime:
        """Jump forward as a real cluster would: slots and seconds move together unless both are given."""
        if (slots or 0) < 0 or (seconds or 0) < 0:
            raise ValueError("the ledger clock only moves forward")
        if slots is None:
            slots = (seconds or 0) * 1000 // SLOT_MS
        if seconds is None:
            seconds = slots * SLOT_MS // 1000
        current = self.reanchor()
        self._anchor = ClockAnchor(current.wall, current.slot + slots, current.unix + seconds)
        return self.now()
