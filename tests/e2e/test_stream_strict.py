"""`mpp stream` parses what a server says about money strictly (#10 item 26): a
`mpp.payment-required` amount that is not a canonical base-unit decimal ("²" passes `str.isdigit`)
is a protocol violation (exit 4, E_PROTOCOL), never an internal error, and nothing is signed for it.

A proxy in front of a real `mpp serve` rewrites the pause's `amount`; the pause itself is real
(the deposit runs out and --max-spend leaves no room to top up).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.client.hostile import HostileProxy
from tests.e2e.support import PayerHome, file_payer, served_fixture
from tests.server.harness import ServerProcess

pytestmark = [pytest.mark.slow]

CHUNK, DEPOSIT = 1_000, 5_000

served = served_fixture("--min-deposit", "0.001", "--suggested-deposit", "0.005", "--price", "0.001",
                        "--stream-pause", "5")


@dataclass
class SuperscriptAmounts(HostileProxy):
    """Rewrites the `amount` of every `mpp.payment-required` event to a superscript two."""

    def _frame(self, frame: str) -> str:
        if "event: mpp.payment-required" not in frame:
            return frame
        head, _, data = frame.partition("data: ")
        pause = json.loads(data)
        pause["amount"] = "\u00b2"
        return head + "data: " + json.dumps(pause, separators=(",", ":"))


@pytest.fixture
def proxy(served: ServerProcess) -> Iterator[SuperscriptAmounts]:
    running = SuperscriptAmounts(served.url).start()
    yield running
    running.stop()


@pytest.fixture
def payer(served: ServerProcess, tmp_path: Path) -> PayerHome:
    return file_payer(tmp_path / "payer", served.chain)


def test_a_non_canonical_pause_amount_is_a_protocol_violation(payer: PayerHome,
                                                              proxy: SuperscriptAmounts) -> None:
    run = payer.mpp("--json", "stream", f"{proxy.url}/stream?chunks=8", "--signer", "payer", "--yes")
    assert run.exit_code == 4, run
    error = run.json["error"]
    assert error["code"] == "E_PROTOCOL" and "mpp.payment-required" in error["message"], error
    record = payer.record(run.json["error"]["channelId"])
    # no top-up, and no voucher for the malformed pause: whatever was signed was accepted
    assert record["signedCumulative"] == record["acceptedCumulative"], record
    assert int(record["signedCumulative"]) <= DEPOSIT and record["deposit"] == str(DEPOSIT)
