"""The server's test-only clock (`mppcli.server.clock`): the wall clock unless a test asks, never
outside the server's own embedded ledger, and then that ledger's time as `mpp_warp` moves it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from mppcli.ledger.runner import RunningLedger, start_ledger
from mppcli.server.clock import FOLLOW_LEDGER, TEST_CLOCK_VARIABLE, server_clock
from tests.server.harness import Chain

ASKED = {TEST_CLOCK_VARIABLE: FOLLOW_LEDGER}


@pytest.fixture(scope="module")
def ledger() -> Iterator[RunningLedger]:
    running = start_ledger(None, 0)
    yield running
    running.stop()


def test_the_wall_clock_unless_asked(ledger: RunningLedger) -> None:
    notes: list[str] = []
    assert server_clock({}, ledger, notes.append) is time.time
    assert notes == []


def test_ignored_without_the_embedded_ledger_or_with_another_value(ledger: RunningLedger) -> None:
    notes: list[str] = []
    assert server_clock(ASKED, None, notes.append) is time.time  # `--rpc-url`: someone else's chain
    assert server_clock({TEST_CLOCK_VARIABLE: "+3600"}, ledger, notes.append) is time.time
    assert len(notes) == 2 and all("ignored" in note for note in notes)


def test_follows_a_warp_of_the_ledger_and_never_runs_behind_the_wall_clock(ledger: RunningLedger) -> None:
    clock = server_clock(ASKED, ledger, lambda _: None)
    before = time.time()
    assert clock() >= before  # the ledger's whole seconds lag the wall clock: the wall clock wins
    warped = int(Chain(ledger.rpc_url).warp(seconds=3600)["unixTimestamp"])
    assert warped >= int(before) + 3599
    assert clock() >= warped
