"""The payer's escape route: `mpp close --force`, then `mpp close --finalize` after the grace period.

The chain runs in its own `mpp localnet`, so the server can die while the ledger lives on: that is
the case the forced close exists for. With the server gone, nothing settles during the grace
period and the payer gets the whole deposit back; with the server alive, it answers the
requestClose by settling the last voucher it accepted, and the payer gets the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.support import Localnet, PayerHome, channel_account, serve_on, wait_for, wallet_payer
from tests.wallet.keyring_support import real_keyring

pytestmark = [pytest.mark.slow, pytest.mark.keyring, pytest.mark.usefixtures("real_keyring")]
__all__ = ["real_keyring"]

GRACE = 5
PRICE, DEPOSIT = 10_000, 1_000_000


@pytest.fixture(scope="module")
def localnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Localnet]:
    running = Localnet.start(tmp_path_factory.mktemp("localnet"))
    yield running
    running.stop()


def _open_and_pay(localnet: Localnet, tmp_path: Path, requests: int) -> tuple[PayerHome, str, str]:
    server = serve_on(tmp_path / "serve", localnet, "--grace-period", str(GRACE))
    try:
        payer = wallet_payer(tmp_path / "payer", localnet.chain)
        for _ in range(requests):
            run = payer.mpp("--json", "request", f"{server.url}/paid", "--yes")
            assert run.exit_code == 0, run
        return payer, run.json["channelId"], str(server.ready["recipient"])
    finally:
        server.stop()


def test_server_gone_force_close_then_finalize_refunds_the_whole_deposit(localnet: Localnet,
                                                                          tmp_path: Path) -> None:
    chain, mint = localnet.chain, str(localnet.ready["mint"])
    payer, channel, _payee = _open_and_pay(localnet, tmp_path, requests=2)
    before = chain.token_balance(payer.pubkey, mint)

    forced = payer.mpp("--json", "close", channel, "--force", "--yes")
    assert forced.exit_code == 0, forced
    assert forced.json["status"] == "closing" and forced.json["graceEndsAt"] > 0
    assert payer.record(channel)["status"] == "closing"

    early = payer.mpp("--json", "close", channel, "--finalize")
    assert early.exit_code == 2, early
    assert "grace period" in early.json["error"]["message"]

    chain.call("mpp_warp", [{"seconds": GRACE + 2}])
    done = payer.mpp("--json", "close", channel, "--finalize")
    assert done.exit_code == 0, done
    assert (done.json["status"], done.json["settled"], done.json["refunded"]) == ("closed", "0", str(DEPOSIT))
    assert chain.token_balance(payer.pubkey, mint) - before == DEPOSIT
    account = channel_account(chain, channel)
    assert account is None or account.status.name == "DISTRIBUTED"
    record = payer.record(channel)
    assert (record["status"], record["refunded"], record["acceptedCumulative"]) == (
        "closed", str(DEPOSIT), str(2 * PRICE))


def test_force_close_needs_confirmation_without_a_terminal(localnet: Localnet, tmp_path: Path) -> None:
    payer, channel, _payee = _open_and_pay(localnet, tmp_path, requests=1)
    run = payer.mpp("--json", "close", channel, "--force")
    assert run.exit_code == 5 and run.json["error"]["code"] == "E_CONFIRMATION_REQUIRED", run
    assert payer.record(channel)["status"] == "open"


def test_a_live_server_settles_during_the_grace_period(localnet: Localnet, tmp_path: Path) -> None:
    chain, mint = localnet.chain, str(localnet.ready["mint"])
    server = serve_on(tmp_path / "serve", localnet, "--grace-period", "60")
    try:
        payer = wallet_payer(tmp_path / "payer", chain)
        for _ in range(3):
            run = payer.mpp("--json", "request", f"{server.url}/paid", "--yes")
            assert run.exit_code == 0, run
        channel, payee = run.json["channelId"], str(server.ready["recipient"])
        before_payer, before_payee = chain.token_balance(payer.pubkey, mint), chain.token_balance(payee, mint)
        assert payer.mpp("--json", "close", channel, "--force", "--yes").exit_code == 0
        settled = wait_for(lambda: (channel_account(chain, channel) is None
                                    or channel_account(chain, channel).status.name == "DISTRIBUTED"), 60)
        assert settled, "the server did not answer the forced close within the grace period"
    finally:
        server.stop()
    done = payer.mpp("--json", "close", channel, "--finalize")
    assert done.exit_code == 0, done
    assert (done.json["status"], done.json["settled"], done.json["refunded"]) == (
        "closed", str(3 * PRICE), str(DEPOSIT - 3 * PRICE))
    assert chain.token_balance(payee, mint) - before_payee == 3 * PRICE
    assert chain.token_balance(payer.pubkey, mint) - before_payer == DEPOSIT - 3 * PRICE
