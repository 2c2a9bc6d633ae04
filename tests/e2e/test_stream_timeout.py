"""No stream waits forever (#11): a server that sends its headers and chunk 1, then only
keep-alive comments or a byte-by-byte trickle, is given up after `--read-timeout` (exit 3,
E_NETWORK), with what was paid saved and the channel free for the next command.

A proxy in front of a real `mpp serve` forwards the paid response's first frame, then stalls. The
timeout is tiny, so the test never waits long; nothing here asserts on wall-clock time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.client.hostile import HostileProxy
from tests.e2e.support import PayerHome, file_payer, served_fixture
from tests.server.harness import ServerProcess

pytestmark = [pytest.mark.slow]

PRICE, CHUNK = 10_000, 1_000

served = served_fixture()


@dataclass
class Stalling(HostileProxy):
    """The first frame of each stream, then `filler` forever: comments, or one byte at a time."""

    filler: bytes = b": keep-alive\n\n"

    async def _frames(self, upstream: httpx.Response, client: httpx.AsyncClient, number: int
                      ) -> AsyncIterator[bytes]:
        try:
            buffer = b""
            async for chunk in upstream.aiter_bytes():
                buffer += chunk
                if b"\n\n" in buffer:
                    yield buffer.split(b"\n\n", 1)[0] + b"\n\n"
                    break
        finally:
            await upstream.aclose()
            await client.aclose()
        while True:
            yield self.filler
            await asyncio.sleep(0.01)


@pytest.fixture(params=[b": keep-alive\n\n", b":"], ids=["comments", "trickle"])
def proxy(served: ServerProcess, request: pytest.FixtureRequest) -> Iterator[Stalling]:
    running = Stalling(served.url, filler=request.param).start()
    yield running
    running.stop()


@pytest.fixture
def payer(served: ServerProcess, tmp_path: Path) -> PayerHome:
    return file_payer(tmp_path / "payer", served.chain)


def test_a_stalled_stream_ends_with_exit_3_and_state_saved(payer: PayerHome, proxy: Stalling) -> None:
    run = payer.mpp("--json", "stream", f"{proxy.url}/stream?chunks=5", "--signer", "payer", "--yes",
                    "--read-timeout", "0.5")
    assert run.exit_code == 3, run
    error = run.json["error"]
    assert error["code"] == "E_NETWORK" and "--read-timeout" in error["message"], error
    channel = error["channelId"]
    record = payer.record(channel)
    # chunk 1, paid by the request
    assert record["signedCumulative"] == record["acceptedCumulative"] == str(CHUNK)
    # the channel lock is free: the next command on the channel runs instead of exiting 6
    again = payer.mpp("--json", "request", f"{proxy.url}/paid", "--signer", "payer", "--channel", channel)
    assert again.exit_code == 0, again
