"""A whole-stream reservation is paid only for the data that arrived (client/meter.py).

The reference server's default stream reserves `chunks x chunkPrice` ahead of any data, then
reports usage. A proxy in front of it strips the data frames (and the usage report), so the
client sees a reservation, no data, and `[DONE]`: it must commit nothing for that stream, and
the channel's signed watermark stays at what the request itself cost.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.client.hostile import HostileProxy
from tests.e2e.support import PayerHome, file_payer
from tests.interop.conftest import ledger, ref_python, refkit
from tests.interop.refkit_runner import RefKit, RefServer
from tests.server.harness import Chain

pytestmark = [pytest.mark.slow, pytest.mark.reference]
__all__ = ["ledger", "ref_python", "refkit"]

PRICE, CHUNK, DEPOSIT = 100, 10, 1_000_000


@dataclass
class NoDataProxy(HostileProxy):
    """Forwards the stream's control frames only: no application data, no usage report."""

    stripped: int = 0

    def _frame(self, frame: str) -> str:
        lines = frame.strip("\n").splitlines()
        control = any(line.startswith("event:") for line in lines) or "[DONE]" in frame
        if not control or "mpp.usage" in frame:
            self.stripped += 1
            return ""
        return frame


@pytest.fixture
def reference(refkit: RefKit, ledger: Any) -> Iterator[RefServer]:
    with refkit.demo_server(ledger, PRICE, CHUNK, DEPOSIT) as running:
        yield running


@pytest.fixture
def proxy(reference: RefServer) -> Iterator[NoDataProxy]:
    running = NoDataProxy(reference.url).start()
    yield running
    running.stop()


@pytest.fixture
def payer(ledger: Any, tmp_path: Path) -> PayerHome:
    return file_payer(tmp_path / "payer", Chain(ledger.rpc_url))


def test_a_reservation_with_no_data_received_is_not_paid(payer: PayerHome, proxy: NoDataProxy) -> None:
    run = payer.mpp("--json", "stream", f"{proxy.url}/stream?chunks=4", "--signer", "payer", "--yes")
    assert run.exit_code == 0, run
    assert proxy.stripped >= 4, proxy.stripped  # the data (and the usage) really were taken out
    assert run.json["events"] >= 2 and run.json["cumulative"] == str(PRICE), run
    record = payer.record(run.json["channelId"])
    assert record["signedCumulative"] == str(PRICE), record
