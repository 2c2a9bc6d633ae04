"""Operator-signed channels (the bearer proof, `use`), and `channels sync` finding a channel the
local record lacks. Keypair-file payers: no OS keyring needed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.support import PayerHome, channel_account, file_payer
from tests.server.harness import ServerProcess

pytestmark = [pytest.mark.slow]

PRICE, CHUNK, DEPOSIT = 10_000, 1_000, 1_000_000


@pytest.fixture(scope="module")
def operator_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = ServerProcess.start(tmp_path_factory.mktemp("serve") / "home", "--ephemeral",
                                  "--voucher-signer", "operator")
    yield running
    running.stop()


def test_operator_mode_pays_with_the_bearer_proof_and_closes(operator_server: ServerProcess,
                                                            tmp_path: Path) -> None:
    payer = file_payer(tmp_path / "payer", operator_server.chain)
    paid = f"{operator_server.url}/paid"
    first = payer.mpp("--json", "request", paid, "--yes")
    assert first.exit_code == 0, first
    channel = first.json["channelId"]
    record = payer.record(channel)
    assert (record["voucherSigner"], record["signerKind"]) == ("operator", "operator")
    assert record["authentication"]["payer"] == payer.pubkey
    second = payer.mpp("--json", "request", paid)
    assert second.exit_code == 0 and second.json["cumulative"] == str(2 * PRICE), second
    streamed = payer.mpp("--json", "stream", f"{operator_server.url}/stream?chunks=4")
    assert streamed.exit_code == 0, streamed
    expected = 2 * PRICE + 4 * CHUNK
    assert streamed.json["cumulative"] == str(expected)
    closed = payer.mpp("--json", "close", channel)
    assert closed.exit_code == 0, closed
    assert (closed.json["settled"], closed.json["refunded"]) == (str(expected), str(DEPOSIT - expected))
    assert payer.record(channel)["signedCumulative"] == "0"  # the client signed no voucher


def test_sync_finds_a_channel_of_this_payer_the_record_lacks(operator_server: ServerProcess,
                                                             tmp_path: Path) -> None:
    payer = file_payer(tmp_path / "payer", operator_server.chain)
    run = payer.mpp("--json", "request", f"{operator_server.url}/paid", "--yes")
    channel = run.json["channelId"]
    elsewhere = PayerHome(tmp_path / "elsewhere", payer.rpc_url, payer.pubkey, tmp_path / "payer.json")
    elsewhere.home.mkdir()
    shutil.copy(payer.keypair, elsewhere.keypair)  # type: ignore[arg-type]
    synced = elsewhere.mpp("--json", "channels", "sync")
    assert synced.exit_code == 0, synced
    [entry] = synced.json["channels"]
    assert (entry["channelId"], entry["discovered"], entry["status"]) == (channel, True, "orphaned")
    assert entry["chain"] == {**entry["chain"], "status": "open", "deposit": str(DEPOSIT)}
    record = elsewhere.record(channel)
    assert (record["payer"], record["deposit"]) == (payer.pubkey, str(DEPOSIT))
    assert record["url"] == f"solana:{channel}"
    forced = elsewhere.mpp("--json", "close", channel, "--force", "--yes")
    assert forced.exit_code == 0 and forced.json["status"] == "closing", forced
    account = channel_account(operator_server.chain, channel)
    assert account is None or account.status.name in ("CLOSING", "SEALED", "DISTRIBUTED")
    assert json.loads(json.dumps(elsewhere.record(channel)))["status"] == "closing"
