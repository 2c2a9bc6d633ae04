"""Crash safety with the credit window, the server side: `mpp serve` SIGKILLed while `mpp stream`
is streaming and committing. After a restart on the same database and chain, `mpp close` settles
exactly at the last voucher the server accepted: no commit the server accepted is lost, nothing is
paid twice, and the chain, the server and the payer's record agree. What the server delivered but
never got a voucher for is its own loss, logged at the close.
"""

from __future__ import annotations

import dataclasses
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.e2e.support import channel_account, file_payer
from tests.server.harness import ServerProcess

pytestmark = [pytest.mark.slow]

CHUNK = 1_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_killed_server_loses_no_accepted_commit(tmp_path: Path) -> None:
    port = str(_free_port())  # the same URL after the restart: the payer's record names it
    args = ("--port", port, "--stream-pause", "1", "--stream-credit", "64x")
    server = ServerProcess.start(tmp_path / "serve", *args)
    try:
        payer = file_payer(tmp_path / "payer", server.chain)
        opened = payer.mpp("--json", "open", f"{server.url}/paid", "--signer", "payer", "--yes")
        assert opened.exit_code == 0, opened
        channel = opened.json["channelId"]
        proc = payer.popen("--json", "stream", f"{server.url}/stream?chunks=100000", "--signer", "payer",
                           "--max-spend", "100", "--retries", "0")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and int(payer.record(channel)["acceptedCumulative"]) < 200 * CHUNK:
            time.sleep(0.02)
        server.stop(signal.SIGKILL)  # mid-stream, commits in flight
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 3, out  # the connection dropped; no retry asked for
        before = payer.record(channel)
        accepted_before = int(before["acceptedCumulative"])
        assert accepted_before >= 200 * CHUNK

        server = ServerProcess.start(tmp_path / "serve", *args)
        payer = dataclasses.replace(payer, rpc_url=str(server.ready["rpcUrl"]))
        closed = payer.mpp("--json", "close", channel)
        assert closed.exit_code == 0, closed
        settled = int(closed.json["settled"])
        record = payer.record(channel)
        # no accepted commit lost; nothing beyond what this payer signed
        assert accepted_before <= settled <= int(before["signedCumulative"]), (before, settled)
        assert record["status"] == "closed"
        assert record["settled"] == record["acceptedCumulative"] == str(settled)
        assert record["refunded"] == str(int(record["deposit"]) - settled)
        account = channel_account(server.chain, channel)
        assert account is None or account.settled == settled
        assert f"closed channel {channel} settled={settled} " in server.log()
    finally:
        server.stop()
