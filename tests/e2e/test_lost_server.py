"""A server that lost its state (#14 item 8) and `close --all` past a broken server (item 18),
through the real `mpp` against `mpp serve` on a standalone `mpp localnet`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.support import Localnet, serve_on, wallet_payer
from tests.wallet.keyring_support import real_keyring

pytestmark = [pytest.mark.slow, pytest.mark.keyring, pytest.mark.usefixtures("real_keyring")]
__all__ = ["real_keyring"]


@pytest.fixture
def localnet(tmp_path: Path) -> Iterator[Localnet]:
    running = Localnet.start(tmp_path / "ledger")
    yield running
    running.stop()


def test_after_a_server_lost_its_state_the_hint_says_force_or_new(localnet: Localnet, tmp_path: Path) -> None:
    from solders.keypair import Keypair

    from mppcli.wallet.keypair_file import write_keypair_file

    operator = tmp_path / "operator.json"
    write_keypair_file(operator, Keypair())
    home = tmp_path / "server"
    first = serve_on(home, localnet, "--operator-keypair", str(operator), "--db", str(tmp_path / "one.db"))
    port = first.url.rsplit(":", 1)[1]
    payer = wallet_payer(tmp_path / "payer", localnet.chain)
    lost_url = f"{first.url}/paid"
    try:
        assert payer.mpp("request", lost_url, "--yes").exit_code == 0
    finally:
        first.stop()
    # the same operator and port, a fresh database: the server has forgotten the channel
    second = serve_on(home, localnet, "--operator-keypair", str(operator), "--db", str(tmp_path / "two.db"),
                      "--port", port)
    try:
        refused = payer.mpp("--json", "request", lost_url)
        assert refused.exit_code == 4, refused
        error = refused.json["error"]
        lost = error["channelId"]
        assert "not known to this server" in error["message"]
        assert f"mpp close {lost} --force" in error["hint"] and "--channel new" in error["hint"], error

        fresh = payer.mpp("--json", "request", lost_url, "--channel", "new", "--yes")
        assert fresh.exit_code == 0 and fresh.json["channelId"] != lost, fresh

        # close --all: the forgotten channel is refused, the fresh one still closes, both reported
        closed = payer.mpp("--json", "close", "--all", "--yes")
        assert closed.exit_code == 4, closed
        by_id = {entry["channelId"]: entry for entry in closed.json["channels"]}
        assert by_id[fresh.json["channelId"]]["status"] == "closed", by_id
        assert by_id[lost]["status"] == "failed" and "--force" in by_id[lost]["error"]["hint"], by_id

        forced = payer.mpp("close", lost, "--force", "--yes")  # what the hint says, in human form
        assert forced.exit_code == 0, forced
        local_iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"
        assert re.search(f"finalize after {local_iso} ", forced.stdout), forced
    finally:
        second.stop()


def test_close_all_carries_on_past_an_unreachable_server(localnet: Localnet, tmp_path: Path) -> None:
    gone = serve_on(tmp_path / "gone", localnet)
    live = serve_on(tmp_path / "live", localnet)
    payer = wallet_payer(tmp_path / "payer", localnet.chain)
    try:
        first = payer.mpp("--json", "request", f"{gone.url}/paid", "--yes")
        second = payer.mpp("--json", "request", f"{live.url}/paid", "--yes")
        assert first.exit_code == 0 and second.exit_code == 0, (first, second)
        gone.stop()
        closed = payer.mpp("close", "--all", "--yes")
    finally:
        gone.stop()
        live.stop()
    assert closed.exit_code == 3, closed  # the unreachable server's E_NETWORK
    assert f"closed {second.json['channelId']}: settled 0.01 USDC" in closed.stdout, closed
    assert f"not closed {first.json['channelId']}: error[E_NETWORK]" in closed.stdout, closed
