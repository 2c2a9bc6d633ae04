"""`mpp stream` against the reference server (solana-pay-kit 0.10.0, tests/interop/refkit/server.py):
its whole-stream reservation (`meter=stream`: a directive ahead of the data, then usage) and its
per-chunk directives (`meter=chunk`, each checked against its own reservation, so `mpp stream`
commits them one by one there: only `mpp serve` marks directives `cumulativeCommit`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import PayerHome, file_payer
from tests.interop.conftest import ledger, ref_python, refkit
from tests.interop.refkit_runner import RefKit, RefServer
from tests.server.harness import Chain

pytestmark = [pytest.mark.slow, pytest.mark.reference]
__all__ = ["ledger", "ref_python", "refkit"]

PRICE, CHUNK, DEPOSIT = 100, 10, 1_000_000


@pytest.fixture(scope="module")
def reference(refkit: RefKit, ledger: Any) -> Iterator[RefServer]:
    with refkit.demo_server(ledger, PRICE, CHUNK, DEPOSIT) as running:
        yield running


@pytest.fixture
def payer(ledger: Any, tmp_path: Path) -> PayerHome:
    return file_payer(tmp_path / "payer", Chain(ledger.rpc_url))


@pytest.mark.parametrize(("meter", "chunks"), [("stream", 6), ("chunk", 6)])
def test_mpp_stream_gets_and_pays_the_whole_reference_stream(payer: PayerHome, reference: RefServer,
                                                             meter: str, chunks: int) -> None:
    url = f"{reference.url}/stream?chunks={chunks}&meter={meter}"
    run = payer.mpp("--json", "stream", url, "--signer", "payer", "--yes")
    assert run.exit_code == 0, run
    assert run.json["dataEvents"] == chunks and run.json["ended"] == "complete", run.json
    # the request's price, then every chunk at the chunk price: no more, no less
    assert run.json["cumulative"] == str(PRICE + chunks * CHUNK), run.json
    record = payer.record(run.json["channelId"])
    assert record["signedCumulative"] == record["acceptedCumulative"] == str(PRICE + chunks * CHUNK)
