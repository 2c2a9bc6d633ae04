"""The payer's money rules through the real `mpp` command against a real `mpp serve` and ledger:
every command that moves money obeys max_spend, a damaged or refused channel never leads to a second
deposit, and a close the server settled is finished from the chain (issue 10, items 17-24)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.support import PayerHome, channel_account, file_payer, served_fixture
from tests.server.harness import ServerProcess

pytestmark = [pytest.mark.slow]

PRICE = 10_000

served = served_fixture()


@pytest.fixture
def payer(served: ServerProcess, tmp_path: Path) -> PayerHome:
    return file_payer(tmp_path / "payer", served.chain)


def _pay(payer: PayerHome, url: str, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return payer.mpp("--json", "request", url, *args, "--signer", "payer", "--yes", env=env)


def _opened(payer: PayerHome, url: str) -> str:
    run = _pay(payer, url)
    assert run.exit_code == 0, run
    return str(run.json["channelId"])


@pytest.mark.parametrize("how", ["env", "config", "flag"])
def test_topup_obeys_max_spend(payer: PayerHome, served: ServerProcess, how: str) -> None:
    channel = _opened(payer, f"{served.url}/paid")
    deposit = int(payer.record(channel)["deposit"])
    env, flag = {}, ()
    if how == "env":
        env = {"MPP_MAX_SPEND": "0.001"}
    elif how == "config":
        assert payer.mpp("config", "set", "max_spend", "0.001").exit_code == 0
    else:
        flag = ("--max-spend", "0.001")
    run = payer.mpp("--json", "topup", channel, "0.5", "--yes", *flag, env=env)
    assert run.exit_code == 5, run
    assert run.json["error"]["code"] == "E_POLICY" and "max_spend" in run.json["error"]["message"], run
    human = payer.mpp("topup", channel, "0.5", "--yes", *flag, env=env)
    assert human.exit_code == 5, human
    assert "the top-up of 0.5 USDC exceeds max_spend (0.001 USDC)" in human.stderr, human
    assert int(payer.record(channel)["deposit"]) == deposit
    assert channel_account(served.chain, channel).deposit == deposit  # nothing left the machine
    within = payer.mpp("--json", "topup", channel, "0.001", "--yes", *flag, env=env)
    assert within.exit_code == 0, within
    assert int(payer.record(channel)["deposit"]) == deposit + 1_000


@pytest.fixture(scope="module")
def ten_year_grace(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    running = ServerProcess.start(tmp_path_factory.mktemp("grace") / "home", "--ephemeral",
                                  "--grace-period", str(10 * 365 * 86_400))
    yield running
    running.stop()


def test_a_grace_period_above_the_maximum_is_refused_before_any_deposit(
        ten_year_grace: ServerProcess, tmp_path: Path) -> None:
    payer = file_payer(tmp_path / "payer", ten_year_grace.chain)
    url = f"{ten_year_grace.url}/paid"
    dry = _pay(payer, url, "--dry-run")  # a dry run answers what the real run would do
    assert dry.exit_code == 5 and "max_grace_period" in dry.json["error"]["message"], dry
    run = _pay(payer, url)
    assert run.exit_code == 5, run
    error = run.json["error"]
    assert error["code"] == "E_POLICY" and "max_grace_period" in error["message"], run
    assert "MPP_MAX_GRACE_PERIOD" in error["hint"], run
    assert payer.mpp("--json", "channels", "list", "--all").json["channels"] == []
    allowed = _pay(payer, url, env={"MPP_MAX_GRACE_PERIOD": str(10 * 365 * 86_400)})
    assert allowed.exit_code == 0, allowed


def test_a_damaged_record_blocks_a_second_deposit_and_sync_rebuilds_a_closable_record(
        payer: PayerHome, served: ServerProcess) -> None:
    url = f"{served.url}/paid"
    channel = _opened(payer, url)
    assert _pay(payer, url).exit_code == 0  # accepted: 2 prices
    path = payer.home / "state" / "channels" / f"{channel}.json"
    path.write_text(path.read_text()[:-80])  # torn at the end; the vouchers and URL are still there
    blocked = _pay(payer, url)
    assert blocked.exit_code == 5, blocked
    error = blocked.json["error"]
    assert error["code"] == "E_POLICY" and error["channelId"] == channel, blocked
    assert "channels sync" in error["hint"] and "--channel new" in error["hint"]
    assert payer.mpp("--json", "channels", "list", "--all").json["channels"] == []  # no second channel
    synced = payer.mpp("--json", "channels", "sync")
    assert synced.exit_code == 0, synced
    (entry,) = synced.json["channels"]
    assert (entry["channelId"], entry["discovered"], entry["status"]) == (channel, True, "open"), synced
    rebuilt = payer.record(channel)
    assert rebuilt["url"] == url and int(rebuilt["signedCumulative"]) == 2 * PRICE
    closed = payer.mpp("--json", "close", channel, "--yes")
    assert closed.exit_code == 0, closed
    assert closed.json["settled"] == str(2 * PRICE)
    assert channel_account(served.chain, channel) is None or \
        channel_account(served.chain, channel).settled == 2 * PRICE


def test_a_payer_short_of_the_deposit_is_told_in_token_units(served: ServerProcess, tmp_path: Path) -> None:
    poor = file_payer(tmp_path / "poor", served.chain, tokens=500_000)  # 0.5 USDC; the deposit is 1
    run = poor.mpp("request", f"{served.url}/paid", "--signer", "payer", "--yes")
    assert run.exit_code == 5, run
    assert "holds 0.5 USDC; the deposit needs 1 USDC" in run.stderr, run
