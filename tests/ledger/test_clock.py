"""The ledger clock: 400 ms slots and unix seconds from the wall clock, speed-ups and warps."""

from __future__ import annotations

import pytest
from solders.hash import Hash

from mppcli.ledger.blockhash import BlockhashWindow
from mppcli.ledger.clock import ClockAnchor, LedgerClock


class FakeWall:
    """A wall clock the test moves by hand (the clock takes its time source as a parameter)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_slots_every_400_ms_and_unix_time_follows_the_wall() -> None:
    wall = FakeWall(1_700_000_000.0)
    clock = LedgerClock.genesis(slot=0, wall=wall)
    assert (clock.now().slot, clock.now().unix_timestamp) == (0, 1_700_000_000)
    wall.now += 0.39
    assert clock.now().slot == 0
    wall.now += 0.01
    assert clock.now().slot == 1
    wall.now += 59.6
    assert (clock.now().slot, clock.now().unix_timestamp) == (150, 1_700_000_060)


def test_speed_multiplies_the_passage_of_time_and_a_change_keeps_time_monotonic() -> None:
    wall = FakeWall(1000.0)
    clock = LedgerClock(ClockAnchor(1000.0, 10, 5000), speed=10, wall=wall)
    wall.now += 4
    assert (clock.now().slot, clock.now().unix_timestamp) == (110, 5040)
    clock.reanchor(speed=1)
    assert clock.now().slot == 110
    wall.now += 0.4
    assert clock.now().slot == 111


def test_warp_moves_slots_and_seconds_together_unless_both_are_given() -> None:
    wall = FakeWall(0.0)
    clock = LedgerClock(ClockAnchor(0.0, 0, 100), wall=wall)
    assert (clock.warp(seconds=60).slot, clock.now().unix_timestamp) == (150, 160)
    assert (clock.warp(slots=1500).slot, clock.now().unix_timestamp) == (1650, 760)
    both = clock.warp(slots=1, seconds=1000)
    assert (both.slot, both.unix_timestamp) == (1651, 1760)
    with pytest.raises(ValueError):
        clock.warp(slots=-1)
    wall.now -= 100  # the wall clock jumps back: chain time stays where it was
    assert clock.now().slot == 1651


def test_blockhashes_are_valid_for_150_slots_and_belong_to_one_chain() -> None:
    window = BlockhashWindow(Hash.new_unique())
    issued = window.latest(10)
    assert window.slot_of(issued, 10) == 10 and window.slot_of(issued, 160) == 10
    assert window.slot_of(issued, 161) is None and window.slot_of(issued, 9) is None
    assert window.latest(11) != issued
    assert BlockhashWindow(Hash.new_unique()).slot_of(issued, 10) is None
