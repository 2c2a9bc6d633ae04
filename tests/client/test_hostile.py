"""A lying server, through the real `mpp` command: each lie is refused (exit 4, E_PROTOCOL) or
handled, and the local record never shows a voucher signed for the lie nor a watermark it pushed.

The server is a tampering proxy (tests/client/hostile.py) in front of a real `mpp serve`, so the
channel, the vouchers and the ledger are real. The payer uses a keypair file and signs with it
(`--signer payer`), so these tests need no OS keyring.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.hostile import HostileProxy
from tests.e2e.support import PayerHome, file_payer, served_fixture
from tests.server.harness import ServerProcess

pytestmark = [pytest.mark.slow]

PRICE, CHUNK = 10_000, 1_000


served = served_fixture("--stream-pause", "2")


@pytest.fixture
def proxy(served: ServerProcess) -> Iterator[HostileProxy]:
    running = HostileProxy(served.url).start()
    yield running
    running.stop()


@pytest.fixture
def payer(served: ServerProcess, tmp_path: Path) -> PayerHome:
    return file_payer(tmp_path / "payer", served.chain)


def _pay(payer: PayerHome, proxy: HostileProxy, *args: str):  # type: ignore[no-untyped-def]
    return payer.mpp("--json", *args, "--signer", "payer", "--yes")


def _opened(payer: PayerHome, proxy: HostileProxy) -> str:
    run = _pay(payer, proxy, "request", f"{proxy.url}/paid")
    assert run.exit_code == 0, run
    return str(run.json["channelId"])


def _watermarks(payer: PayerHome, channel: str) -> tuple[int, int]:
    record = payer.record(channel)
    return int(record["signedCumulative"]), int(record["acceptedCumulative"])


def _refused(run, code: str = "E_PROTOCOL") -> str:  # type: ignore[no-untyped-def]
    assert run.exit_code == 4, run
    assert run.json["error"]["code"] == code, run
    return str(run.json["error"]["message"])


def test_metering_more_than_the_price_is_refused_before_signing(payer: PayerHome,
                                                                proxy: HostileProxy) -> None:
    channel = _opened(payer, proxy)
    proxy.mode = "meter-above-price"
    run = _pay(payer, proxy, "stream", f"{proxy.url}/stream?chunks=5")
    assert "more than the price" in _refused(run)
    # the request itself paid chunk 1; nothing was signed for the inflated directive
    assert _watermarks(payer, channel) == (PRICE + CHUNK, PRICE + CHUNK)


def test_a_replayed_receipt_is_refused(payer: PayerHome, proxy: HostileProxy) -> None:
    channel = _opened(payer, proxy)
    proxy.mode, proxy.first_receipt = "replay-receipt", None
    assert _pay(payer, proxy, "request", f"{proxy.url}/paid").exit_code == 0  # its receipt is kept
    run = _pay(payer, proxy, "request", f"{proxy.url}/paid")
    message = _refused(run)
    assert "replayed" in message
    assert "paid content" not in run.stdout
    signed, accepted = _watermarks(payer, channel)
    assert (signed, accepted) == (3 * PRICE, 2 * PRICE)  # the third voucher left; nothing confirmed it


def test_a_receipt_above_what_was_signed_is_refused(payer: PayerHome, proxy: HostileProxy) -> None:
    channel = _opened(payer, proxy)
    proxy.mode = "inflate-receipt"
    run = _pay(payer, proxy, "request", f"{proxy.url}/paid")
    assert "above the 20000 this client signed" in _refused(run)
    assert _watermarks(payer, channel) == (2 * PRICE, PRICE)


def test_a_commit_receipt_above_what_was_signed_is_refused(payer: PayerHome, proxy: HostileProxy) -> None:
    channel = _opened(payer, proxy)
    proxy.mode = "inflate-commit"
    run = _pay(payer, proxy, "stream", f"{proxy.url}/stream?chunks=3")
    assert "does not match the voucher" in _refused(run)
    signed, accepted = _watermarks(payer, channel)
    assert accepted <= signed == PRICE + 3 * CHUNK  # chunks 2-3: one batch, one voucher


@pytest.mark.parametrize(("mode", "what"), [("change-mint", "currency (mint)"),
                                            ("change-program", "channelProgram")])
def test_changing_mint_or_program_mid_session_is_refused(payer: PayerHome, proxy: HostileProxy,
                                                         mode: str, what: str) -> None:
    channel = _opened(payer, proxy)
    proxy.mode = mode
    run = _pay(payer, proxy, "request", f"{proxy.url}/paid")
    assert what in _refused(run)
    assert _watermarks(payer, channel) == (PRICE, PRICE)
    listed = payer.mpp("--json", "channels", "list")
    assert [c["channelId"] for c in listed.json["channels"]] == [channel]  # no second deposit


def test_a_dropped_stream_is_retried_on_the_same_channel(payer: PayerHome, proxy: HostileProxy) -> None:
    channel = _opened(payer, proxy)
    proxy.mode, proxy.drop_after = "drop-stream", 4
    run = _pay(payer, proxy, "stream", f"{proxy.url}/stream?chunks=5")
    assert run.exit_code == 0, run
    assert run.json["channelId"] == channel and run.json["retries"] == 1
    assert proxy.log == ["dropped stream 1 after 4 frames"]
    signed, accepted = _watermarks(payer, channel)
    assert signed == accepted == int(run.json["cumulative"])
    # the first attempt paid chunk 1; the cut came before the directive for chunks 2-5 (nothing
    # metered, nothing signed: the server's unvouched risk); the retry paid 5 chunks
    assert accepted == PRICE + CHUNK + 5 * CHUNK
    assert len(payer.mpp("--json", "channels", "list").json["channels"]) == 1
