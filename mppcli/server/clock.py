"""The server's clock: the wall clock, or (tests only) the embedded ledger's when that runs ahead.

Why a choice at all: server rules about time passing (a metered reservation's `expiresAt`, idle
timeouts, challenge and voucher expiry) are tested against the real `mpp serve` in a subprocess,
where no clock can be passed in, and the tests must not sleep until the wall clock gets there. The
embedded ledger already has a test-only way to move time, the `mpp_warp` JSON-RPC extension. With
`_MPP_TEST_SERVER_CLOCK=ledger` in its environment, a server running its own embedded ledger reads
time as `max(wall clock, the ledger's unix time)`: it is the wall clock until a test warps the ledger,
then the server sees the same jump, on one time line with the chain's.

Why it cannot weaken production: the variable is private (leading underscore, not a user setting,
and the test suite clears a developer's `_MPP_*` variables so none leaks in); it is honoured only
when the ledger is the server's own embedded localnet, whose time only its local user can move, so
a server on any other RPC (devnet, mainnet, a separate localnet) always uses the wall clock; and the
ledger's clock only moves forward, so the server's never runs behind the wall clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

TEST_CLOCK_VARIABLE = "_MPP_TEST_SERVER_CLOCK"
FOLLOW_LEDGER = "ledger"


def server_clock(environ: Mapping[str, str], embedded_ledger: Any,
                 log: Callable[[str], None]) -> Callable[[], float]:
    """`time.time`, unless a test asked for the embedded ledger's clock (see the module docstring)."""
    wanted = environ.get(TEST_CLOCK_VARIABLE)
    if not wanted:
        return time.time
    if wanted != FOLLOW_LEDGER or embedded_ledger is None:
        log(f"{TEST_CLOCK_VARIABLE}={wanted} ignored: only '{FOLLOW_LEDGER}', with the embedded ledger")
        return time.time
    ledger = embedded_ledger.ledger
    log(f"{TEST_CLOCK_VARIABLE}: the server's clock follows the embedded ledger's (a test setting)")

    def following_ledger() -> float:
        return max(time.time(), float(ledger.now().unix_timestamp))

    return following_ledger
