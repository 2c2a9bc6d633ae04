"""Fixtures for the ledger tests: a fresh throwaway ledger on a free port, and a driver for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mppcli.ledger.runner import RunningLedger, start_ledger
from tests.ledger.harness import Chain


@pytest.fixture
def ledger() -> Iterator[RunningLedger]:
    """An ephemeral ledger serving JSON-RPC on 127.0.0.1 for one test."""
    running = start_ledger(None, 0)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def chain(ledger: RunningLedger) -> Iterator[Chain]:
    driver = Chain(ledger.rpc_url, ledger.mint)
    try:
        yield driver
    finally:
        driver.close()
