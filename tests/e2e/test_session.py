"""The whole session through the real `mpp` commands against `mpp serve` and its embedded ledger.

open → paid requests → a metered stream → an explicit top-up → requests that run the deposit out
(topped up automatically within --max-spend) → cooperative close. Then the ledger must show the
payee richer by exactly what the server accepted, and the payer poorer by exactly that, and the
local record must agree with both.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.support import PayerHome, channel_account, served_fixture, wallet_payer
from tests.server.harness import ServerProcess
from tests.wallet.keyring_support import real_keyring

pytestmark = [pytest.mark.slow, pytest.mark.keyring, pytest.mark.usefixtures("real_keyring")]
__all__ = ["real_keyring"]

PRICE, CHUNK = 10_000, 1_000  # the server's --price 0.01 and --chunk-price 0.001 (6 decimals)
SUGGESTED = 50_000  # --suggested-deposit 0.05


served = served_fixture("--min-deposit", "0.01", "--suggested-deposit", "0.05")


@pytest.fixture
def payer(served: ServerProcess, tmp_path: Path) -> PayerHome:
    return wallet_payer(tmp_path / "payer", served.chain)


def test_open_requests_stream_topup_close_and_the_ledger_agrees(served: ServerProcess,
                                                                 payer: PayerHome) -> None:
    chain, mint, payee = served.chain, str(served.ready["mint"]), str(served.ready["recipient"])
    payer_before, payee_before = chain.token_balance(payer.pubkey, mint), chain.token_balance(payee, mint)
    paid = f"{served.url}/paid"

    opened = payer.mpp("--json", "open", paid, "--yes")
    assert opened.exit_code == 0, opened
    channel = opened.json["channelId"]
    assert opened.json["deposit"] == str(SUGGESTED) and opened.json["existing"] is False
    assert opened.json["payer"] == payer.pubkey and opened.json["payee"] == payee

    for n in (1, 2, 3):
        run = payer.mpp("--json", "request", paid)
        assert run.exit_code == 0, run
        assert run.json["channelId"] == channel and run.json["cumulative"] == str(n * PRICE)
        assert json.loads(run.json["body"])["acceptedCumulative"] == str(n * PRICE)

    streamed = payer.mpp("--json", "stream", f"{served.url}/stream?chunks=5")
    assert streamed.exit_code == 0, streamed
    after_stream = 3 * PRICE + 5 * CHUNK
    assert streamed.json["cumulative"] == str(after_stream) and streamed.json["dataEvents"] == 5

    topped = payer.mpp("--json", "topup", channel, "0.05", "--yes")
    assert topped.exit_code == 0, topped
    assert topped.json["deposit"] == str(2 * SUGGESTED)

    # 6 more requests reach 95_000; the 7th needs 105_000 > 100_000: an automatic top-up
    for _ in range(7):
        run = payer.mpp("--json", "request", paid, "--max-spend", "0.2")
        assert run.exit_code == 0, run
    final = after_stream + 7 * PRICE
    assert run.json["cumulative"] == str(final)
    deposit = int(payer.record(channel)["deposit"])
    assert deposit == 2 * SUGGESTED + SUGGESTED  # the automatic top-up added the suggested deposit

    closed = payer.mpp("--json", "close", channel)
    assert closed.exit_code == 0, closed
    assert closed.json == {"channelId": channel, "status": "closed", "settled": str(final),
                           "refunded": str(deposit - final), "txHash": closed.json["txHash"]}

    assert chain.token_balance(payee, mint) - payee_before == final
    assert payer_before - chain.token_balance(payer.pubkey, mint) == final
    account = channel_account(chain, channel)
    assert account is None or account.settled == final
    record = payer.record(channel)
    assert (record["status"], record["settled"], record["refunded"]) == ("closed", str(final),
                                                                        str(deposit - final))
    assert record["acceptedCumulative"] == record["signedCumulative"] == str(final)


def test_a_second_request_reuses_the_channel_and_close_all_closes_it(served: ServerProcess,
                                                                     payer: PayerHome) -> None:
    first = payer.mpp("--json", "request", f"{served.url}/paid", "--yes")
    second = payer.mpp("--json", "request", f"{served.url}/paid")
    assert first.exit_code == 0 and second.exit_code == 0, (first, second)
    assert first.json["channelId"] == second.json["channelId"]
    listed = payer.mpp("--json", "channels", "list")
    assert [c["channelId"] for c in listed.json["channels"]] == [first.json["channelId"]]
    closed = payer.mpp("--json", "close", "--all")
    assert closed.exit_code == 0, closed
    assert [c["settled"] for c in closed.json["channels"]] == [str(2 * PRICE)]
    assert payer.mpp("--json", "channels", "list").json["channels"] == []


def test_the_first_deposit_needs_a_confirmation_without_a_terminal(served: ServerProcess,
                                                                   payer: PayerHome) -> None:
    run = payer.mpp("--json", "request", f"{served.url}/paid")
    assert run.exit_code == 5, run
    assert run.json["error"]["code"] == "E_CONFIRMATION_REQUIRED"
    assert payer.mpp("--json", "channels", "list", "--all").json["channels"] == []


def test_sync_agrees_with_the_chain_after_close(served: ServerProcess, payer: PayerHome) -> None:
    run = payer.mpp("--json", "request", f"{served.url}/paid", "--yes")
    channel = run.json["channelId"]
    synced = payer.mpp("--json", "channels", "sync")
    assert synced.exit_code == 0, synced
    [entry] = synced.json["channels"]
    assert (entry["channelId"], entry["status"], entry["chain"]["status"]) == (channel, "open", "open")
    assert entry["chain"]["deposit"] == str(SUGGESTED) and entry["changed"] == []
    assert payer.mpp("close", channel).exit_code == 0
    again = payer.mpp("--json", "channels", "sync", channel)
    assert again.json["channels"][0]["chain"]["status"] in ("distributed", "absent")
    assert again.json["channels"][0]["status"] == "closed"
