"""A close whose settlement transaction cannot land stays `closing` and is re-driven safely."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.system_program import TransferParams, transfer

from mppcli.chain.channel import ChannelStatus
from mppcli.chain.txcodec import compile_transaction, partial_sign
from tests.server.harness import ServerProcess
from tests.server.payer import Payer, problem_of, receipt_of

PRICE = 10_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = ServerProcess.start(tmp_path_factory.mktemp("serve") / "home", "--ephemeral")
    yield running
    running.stop()


def _drain_operator(server: ServerProcess) -> None:
    """Move every lamport out of the operator: its next fee cannot be paid."""
    secret = json.loads((server.home / "state" / "server" / "operator.json").read_text())
    operator = Keypair.from_bytes(bytes(secret))
    balance = server.chain.call("getBalance", [str(operator.pubkey())])["value"]
    blockhash, _ = server.chain.latest_blockhash()
    move = transfer(
        TransferParams(from_pubkey=operator.pubkey(), to_pubkey=Keypair().pubkey(), lamports=balance - 5_000)
    )
    tx = partial_sign(compile_transaction([move], operator.pubkey(), Hash.from_string(blockhash)), [operator])
    server.chain.send(bytes(tx))


def test_a_close_that_did_not_land_is_re_driven(opened: Payer) -> None:
    server = opened.server
    assert opened.pay(PRICE).status_code == 200
    _drain_operator(server)
    failed = problem_of(opened.close())
    assert "did not land" in failed.detail and "retry" in failed.detail
    assert opened.chain.channel(str(opened.channel_id)).status is ChannelStatus.OPEN
    assert "closed" not in problem_of(opened.pay(2 * PRICE)).detail  # closing: no more service
    server.chain.airdrop(server.ready["operator"], 10_000_000_000)
    receipt = receipt_of(opened.close())  # the same voucher again: the close is driven to its end
    assert receipt.tx_hash and receipt.refunded == 1_000_000 - PRICE
    account = opened.chain.channel(str(opened.channel_id))
    assert account is None or account.status is ChannelStatus.DISTRIBUTED
    assert problem_of(opened.close()).detail.endswith("is already closed")
