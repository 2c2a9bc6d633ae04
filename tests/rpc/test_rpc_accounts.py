"""`Rpc` against the embedded ledger's real JSON-RPC: accounts come back as `AccountInfo` and are
decoded with solders' Mint/Clock (no byte offsets), the websocket URL follows Solana's convention,
and the signatures remembered for naming errors stay bounded in a long-running process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from mppcli import rpc as rpc_module
from mppcli.client.close import CLOCK_SYSVAR
from mppcli.ledger.runner import RunningLedger, start_ledger
from mppcli.rpc import AccountInfo, Rpc, websocket_url


@pytest.fixture(scope="module")
def ledger() -> Iterator[RunningLedger]:
    with start_ledger(None, port=0) as running:
        yield running


def test_websocket_url_is_the_next_port_with_a_ws_scheme(ledger: RunningLedger) -> None:
    assert websocket_url("http://127.0.0.1:8899") == "ws://127.0.0.1:8900"
    assert websocket_url("https://api.devnet.solana.com") == "wss://api.devnet.solana.com"
    assert websocket_url("https://rpc.example:443/key/abc?x=1") == "wss://rpc.example:444/key/abc?x=1"
    assert websocket_url(ledger.rpc_url) == ledger.ws_url  # the embedded ledger follows it


def test_mint_and_clock_decode_with_solders(ledger: RunningLedger) -> None:
    async def read() -> tuple[AccountInfo | None, AccountInfo | None, AccountInfo | None]:
        async with Rpc(ledger.rpc_url) as rpc:
            mint = await rpc.account(Pubkey.from_string(ledger.mint))
            clock = await rpc.account(Pubkey.from_string(CLOCK_SYSVAR))
            payer = Keypair().pubkey()
            await rpc.request_airdrop(payer, 1_000_000)
            return mint, clock, await rpc.account(payer)

    mint, clock, plain = asyncio.run(read())
    assert mint is not None and clock is not None and plain is not None
    decoded = mint.mint()
    assert decoded is not None and decoded.decimals == ledger.info.decimals and decoded.is_initialized
    cluster_clock = clock.clock()
    assert cluster_clock is not None and cluster_clock.unix_timestamp > 1_600_000_000
    assert plain.mint() is None  # a system account is no mint
    assert plain.owner == Pubkey.default() and plain.lamports == 1_000_000


def test_remembered_sent_signatures_are_bounded(
    ledger: RunningLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rpc_module, "SENT_REMEMBERED", 2)
    payer = Keypair()

    async def send_three() -> tuple[list[str], list[str]]:
        async with Rpc(ledger.rpc_url) as rpc:
            await rpc.confirm(await rpc.request_airdrop(payer.pubkey(), 1_000_000_000), 30)
            sent = []
            for lamports in (1_000_000, 2_000_000, 3_000_000):  # rent-exempt new accounts
                blockhash, _ = await rpc.latest_blockhash()
                ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(),
                                             lamports=lamports))
                message = Message.new_with_blockhash([ix], payer.pubkey(), blockhash)
                tx = VersionedTransaction(message, [payer])
                sent.append(await rpc.send_transaction(bytes(tx)))
            return sent, list(rpc._sent)

    sent, remembered = asyncio.run(send_three())
    assert remembered == sent[1:]  # the oldest is forgotten
