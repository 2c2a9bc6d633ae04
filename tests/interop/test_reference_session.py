"""solana-pay-kit 0.10.0's server and client run a whole session on our embedded ledger.

Reference client ↔ reference server, with nothing of ours on the path but the chain: open (the
reference server co-signs and broadcasts), paid requests with vouchers, a metered SSE stream
committed through the side channel, a top-up, and a cooperative close that settles on chain.
This is the proof that the ledger is good enough for an independent server and client; the
token balances afterwards are checked on the ledger itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.interop.chain_client import LedgerClient
from tests.interop.refkit_runner import RefKit, RefServer
from tests.interop.samples import new_secret, pubkey_of

pytestmark = [pytest.mark.reference, pytest.mark.slow]

PAYER_TOKENS = 5_000_000
PRICE, CHUNK_PRICE = 100, 10


@dataclass(frozen=True)
class Parties:
    chain: LedgerClient
    mint: str
    operator: str  # secret; the operator is also the recipient (the reference's close needs that)
    payer: str  # secret

    def balances(self) -> tuple[int, int]:
        return (self.chain.token_balance(pubkey_of(self.payer), self.mint),
                self.chain.token_balance(pubkey_of(self.operator), self.mint))


@pytest.fixture
def parties(ledger: Any) -> Parties:
    chain = LedgerClient(ledger.rpc_url)
    operator, payer = new_secret(), new_secret()
    chain.airdrop(pubkey_of(operator), 2_000_000_000)
    chain.airdrop(pubkey_of(payer), 1_000_000_000)
    chain.mint_tokens(pubkey_of(payer), PAYER_TOKENS)
    chain.mint_tokens(pubkey_of(operator), 1)  # creates the payee's token account
    return Parties(chain, ledger.mint, operator, payer)


def _config(ledger: Any, parties: Parties, **extra: Any) -> dict[str, Any]:
    return {"rpcUrl": ledger.rpc_url, "mint": ledger.mint, "operatorSecret": parties.operator,
            "price": str(PRICE), "chunkPrice": str(CHUNK_PRICE), **extra}


@pytest.fixture
def server(refkit: RefKit, ledger: Any, parties: Parties) -> Iterator[RefServer]:
    with refkit.server(_config(ledger, parties)) as running:
        yield running


def _step(summary: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in summary["steps"] if s["step"] == name)
    return found


def _server_state(server: RefServer, channel_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{server.url}/__refkit/channels/{channel_id}", timeout=10).json()
    return answer


def _assert_settled(parties: Parties, summary: dict[str, Any], server: RefServer, settled: int,
                    deposit: int) -> None:
    close = summary["close"]["receipt"]
    assert close["acceptedCumulative"] == str(settled)
    assert close["refunded"] == str(deposit - settled)
    state = _server_state(server, summary["channelId"])
    assert state["sealed"] is True
    assert state["settled_signature"] == close["txHash"]
    status = parties.chain.call("getSignatureStatuses", [[close["txHash"]]])["value"][0]
    assert status is not None and status["err"] is None
    assert parties.balances() == (PAYER_TOKENS - settled, 1 + settled)
    _assert_channel_account(parties, summary, settled, deposit)


def _assert_channel_account(parties: Parties, summary: dict[str, Any], settled: int, deposit: int) -> None:
    """On chain: distributed with exactly these totals (the account stays until the open-slot
    window has passed, far longer than a test runs)."""
    from mppcli.chain.channel import ChannelStatus, decode_channel

    data = parties.chain.account_data(summary["channelId"])
    assert data is not None, f"channel account {summary['channelId']} is gone"
    account = decode_channel(data)
    assert (account.status, account.settled, account.deposit) == (ChannelStatus.DISTRIBUTED, settled, deposit)
    assert str(account.payer) == pubkey_of(parties.payer)
    assert str(account.payee) == pubkey_of(parties.operator)
    assert str(account.authorized_signer) == summary["authorizedSigner"]


def test_reference_client_and_server_run_a_session_on_our_ledger(refkit: RefKit, server: RefServer,
                                                                 parties: Parties) -> None:
    summary = refkit.ok("client.py", {"url": server.url, "payerSecret": parties.payer, "requests": 3,
                                      "streamPath": "/stream?chunks=5", "deposit": "1000000"}, timeout=300)
    assert summary["statuses"] == [200] * 6, summary["steps"]
    channel = summary["channelId"]
    opened = _step(summary, "open")["receipt"]
    assert (opened["reference"], opened["acceptedCumulative"], opened["spent"]) == (channel, "0", "0")
    third = _step(summary, "request2")["receipt"]
    assert (third["acceptedCumulative"], third["spent"]) == ("300", "300")
    stream = summary["streams"][0]
    assert [m["chunk"] for m in stream["messages"]] == [0, 1, 2, 3, 4]
    assert stream["events"][0] == "mpp.metering" and "mpp.usage" in stream["events"]
    assert [(c["status"], c["amount"], c["cumulative"]) for c in stream["commits"]] == [
        ("committed", str(5 * CHUNK_PRICE), str(4 * PRICE + 5 * CHUNK_PRICE))]
    _assert_settled(parties, summary, server, settled=4 * PRICE + 5 * CHUNK_PRICE, deposit=1_000_000)


def test_top_up_and_per_chunk_metering_with_the_reference_pair(refkit: RefKit, server: RefServer,
                                                               parties: Parties, ledger: Any) -> None:
    summary = refkit.ok("client.py", {
        "url": server.url, "payerSecret": parties.payer, "requests": 1, "deposit": "300000",
        "topUp": {"amount": "250000"}, "rpcUrl": ledger.rpc_url,
        "streamPath": "/stream?chunks=4&meter=chunk", "streamCommit": "each"}, timeout=300)
    assert summary["statuses"] == [200] * 5, summary["steps"]
    stream = summary["streams"][0]
    assert len(stream["messages"]) == 4
    assert [c["amount"] for c in stream["commits"]] == [str(CHUNK_PRICE)] * 4
    assert _server_state(server, summary["channelId"])["deposit"] == 550_000
    _assert_settled(parties, summary, server, settled=2 * PRICE + 4 * CHUNK_PRICE, deposit=550_000)


def test_a_stream_the_deposit_cannot_cover_ends_with_an_error_event(refkit: RefKit, server: RefServer,
                                                                   parties: Parties) -> None:
    summary = refkit.ok("client.py", {"url": server.url, "payerSecret": parties.payer, "requests": 1,
                                      "deposit": "250", "streamPath": "/stream?chunks=6"}, timeout=300)
    stream = summary["streams"][0]
    assert "mpp.error" in stream["events"] and stream["messages"] == []
    assert "mpp.metering" in stream["error"]
    _assert_settled(parties, summary, server, settled=2 * PRICE, deposit=250)


def test_an_operator_signed_channel_pays_with_use_and_closes_with_the_proof(refkit: RefKit, ledger: Any,
                                                                          parties: Parties) -> None:
    with refkit.server(_config(ledger, parties, voucherSigner="operator")) as server:
        summary = refkit.ok("client.py", {"url": server.url, "payerSecret": parties.payer, "requests": 2,
                                          "streams": 0, "deposit": "100000"}, timeout=300)
        assert summary["statuses"] == [200] * 4, summary["steps"]
        assert summary["request"]["methodDetails"]["voucherSigner"] == "operator"
        assert summary["authorizedSigner"] == pubkey_of(parties.operator)
        state = _server_state(server, summary["channelId"])
        assert state["voucher_signer"] == "operator"
        assert state["authorized_signer"] == pubkey_of(parties.operator)
        assert len(state["processed_uses"]) == 2
        _assert_settled(parties, summary, server, settled=2 * PRICE, deposit=100_000)
