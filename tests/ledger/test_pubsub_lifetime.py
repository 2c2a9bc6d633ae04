"""The websocket hub of a ledger must not outlive it (`mppcli.ledger.pubsub.hub_for`)."""

from __future__ import annotations

import gc
import weakref

from mppcli.ledger import pubsub
from mppcli.ledger.core import Ledger


def test_a_ledger_that_answered_rpc_is_freed_with_its_hub() -> None:
    ledger = Ledger.open(None)
    pubsub.hub_for(ledger).count("getSlot")  # what every JSON-RPC request does
    gone = weakref.ref(ledger)
    ledger.close()
    del ledger
    gc.collect()
    assert gone() is None
