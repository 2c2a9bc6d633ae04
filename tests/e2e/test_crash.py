"""Crash safety: `mpp stream` SIGKILLed at random moments, then `mpp close`.

Every voucher is recorded before it leaves the process, so whatever moment the kill hits (before
a commit is sent, while it is in flight, after the server took it but before the receipt was
recorded), the close must settle exactly at the last voucher the server accepted, and the local
record must end up saying the same as the server and the chain.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from tests.e2e.support import PayerHome, channel_account, served_fixture, wallet_payer
from tests.server.harness import ServerProcess
from tests.wallet.keyring_support import real_keyring

pytestmark = [pytest.mark.slow, pytest.mark.keyring, pytest.mark.usefixtures("real_keyring")]
__all__ = ["real_keyring"]

ROUNDS = int(os.environ.get("MPP_CRASH_ROUNDS", "6"))


served = served_fixture("--stream-pause", "2")


@pytest.fixture
def payer(served: ServerProcess, tmp_path: Path) -> PayerHome:
    return wallet_payer(tmp_path / "payer", served.chain)


@pytest.mark.parametrize("seed", [int(os.environ.get("MPP_CRASH_SEED", "0")) or random.randrange(1 << 30)])
def test_sigkilled_streams_then_close_settle_at_what_the_server_accepted(served: ServerProcess,
                                                                         payer: PayerHome, seed: int) -> None:
    rng = random.Random(seed)
    opened = payer.mpp("--json", "open", f"{served.url}/paid", "--yes")
    assert opened.exit_code == 0, opened
    channel = opened.json["channelId"]
    kills = []
    for _ in range(ROUNDS):
        proc = payer.popen("stream", f"{served.url}/stream?chunks=5000")
        delay = rng.uniform(0.3, 2.5)
        time.sleep(delay)
        proc.kill()
        proc.wait(30)
        record = payer.record(channel)
        kills.append((round(delay, 2), record["signedCumulative"], record["acceptedCumulative"]))

    print(f"seed {seed}: (delay, signed, accepted) after each kill: {kills}")
    closed = payer.mpp("--json", "close", channel)
    assert closed.exit_code == 0, f"seed {seed}, kills {kills}: {closed}"
    settled = int(closed.json["settled"])
    record = payer.record(channel)
    assert settled > 0, f"seed {seed}: no stream got far enough to pay ({kills})"
    account = channel_account(served.chain, channel)
    assert account is None or account.settled == settled, f"seed {seed}"
    assert f"closed channel {channel} settled={settled} " in served.log(), f"seed {seed}"
    assert record["status"] == "closed"
    assert record["settled"] == record["acceptedCumulative"] == str(settled), f"seed {seed}: {record}"
    assert int(record["signedCumulative"]) >= settled
    assert int(record["signedCumulative"]) - settled <= 1_000, f"seed {seed}: more than one chunk unconfirmed"
    assert record["refunded"] == str(int(record["deposit"]) - settled)
