"""The JSON-RPC surface: Solana's shapes as solana-py parses them, batches, errors, extensions."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.models import TokenAccountOpts
from solders.keypair import Keypair
from solders.message import Message, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from mppcli.chain.constants import CHANNEL_ACCOUNT_SIZE, PROGRAM_ID, TOKEN_PROGRAM
from mppcli.chain.pda import associated_token_address
from mppcli.ledger.runner import RunningLedger
from tests.ledger.harness import SOL, Chain, voucher


def _post(url: str, body: Any) -> Any:
    return httpx.post(url, json=body, timeout=30).json()


def _rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    return _post(url, {"jsonrpc": "2.0", "id": 7, "method": method, "params": params or []})


def test_envelope_errors_follow_json_rpc(ledger: RunningLedger) -> None:
    url = ledger.rpc_url
    not_found = {"code": -32601, "message": "Method not found"}
    assert _rpc(url, "getNothing") == {"jsonrpc": "2.0", "error": not_found, "id": 7}
    assert httpx.post(url, content=b"{not json", timeout=30).json()["error"]["code"] == -32700
    assert _post(url, [])["error"]["code"] == -32600
    assert _post(url, {"id": 1, "method": "getSlot"})["error"]["code"] == -32600
    assert _rpc(url, "getBalance", ["not-a-key"])["error"]["code"] == -32602
    assert httpx.get(f"{url}/health", timeout=30).text == "ok"


def test_batches_answer_each_request_in_order(ledger: RunningLedger) -> None:
    answers = _post(ledger.rpc_url, [
        {"jsonrpc": "2.0", "id": 1, "method": "getHealth"},
        {"jsonrpc": "2.0", "id": 2, "method": "nope"},
        {"jsonrpc": "2.0", "id": 3, "method": "getGenesisHash"}])
    assert [a["id"] for a in answers] == [1, 2, 3]
    assert answers[0]["result"] == "ok" and answers[1]["error"]["code"] == -32601
    assert answers[2]["result"] == ledger.genesis_hash


def test_cluster_facts(ledger: RunningLedger) -> None:
    url = ledger.rpc_url
    latest = _rpc(url, "getLatestBlockhash", [{"commitment": "finalized"}])["result"]
    slot = latest["context"]["slot"]
    assert latest["value"]["lastValidBlockHeight"] == slot + 150
    assert _rpc(url, "isBlockhashValid", [latest["value"]["blockhash"]])["result"]["value"] is True
    assert _rpc(url, "getSlot", [{"commitment": "processed"}])["result"] >= slot
    assert _rpc(url, "getBlockHeight")["result"] >= slot
    epoch = _rpc(url, "getEpochInfo")["result"]
    assert epoch["absoluteSlot"] >= slot and epoch["slotsInEpoch"] == 432_000
    assert _rpc(url, "getVersion")["result"]["solana-core"]
    assert _rpc(url, "getMinimumBalanceForRentExemption", [CHANNEL_ACCOUNT_SIZE])["result"] == 2_672_640
    assert _rpc(url, "mpp_ledgerInfo")["result"] == {
        "network": "localnet", "genesisHash": ledger.genesis_hash, "mint": ledger.mint, "decimals": 6,
        "tokenProgram": str(TOKEN_PROGRAM), "symbol": "USDC"}


def test_accounts_in_base64_base58_and_json_parsed(chain: Chain) -> None:
    owner = chain.fund(SOL, 2_500_000)
    ata = associated_token_address(owner.pubkey(), chain.mint)
    url = chain.url
    raw = _rpc(url, "getAccountInfo", [str(ata), {"encoding": "base64"}])["result"]["value"]
    assert raw["owner"] == str(TOKEN_PROGRAM) and raw["space"] == 165
    assert base64.b64decode(raw["data"][0])[32:64] == bytes(owner.pubkey())
    parsed = _rpc(url, "getAccountInfo", [str(ata), {"encoding": "jsonParsed"}])["result"]["value"]["data"]
    assert parsed["program"] == "spl-token" and parsed["parsed"]["type"] == "account"
    info = parsed["parsed"]["info"]
    assert (info["mint"], info["owner"], info["state"]) == \
        (str(chain.mint), str(owner.pubkey()), "initialized")
    assert info["tokenAmount"] == \
        {"amount": "2500000", "decimals": 6, "uiAmount": None, "uiAmountString": "2.5"}
    mint = _rpc(url, "getAccountInfo", [str(chain.mint), {"encoding": "jsonParsed"}])["result"]["value"]
    mint = mint["data"]
    assert mint["parsed"]["type"] == "mint" and mint["parsed"]["info"]["decimals"] == 6
    plain = _rpc(url, "getAccountInfo", [str(owner.pubkey()), {"encoding": "base58"}])["result"]["value"]
    assert plain["data"] == ["", "base58"] and plain["lamports"] == SOL
    many = _rpc(url, "getMultipleAccounts", [[str(ata), str(Keypair().pubkey())]])["result"]["value"]
    assert many[0]["space"] == 165 and many[1] is None
    balance = _rpc(url, "getTokenAccountBalance", [str(ata)])["result"]["value"]
    assert balance["amount"] == "2500000" and balance["uiAmountString"] == "2.5"
    assert _rpc(url, "getTokenAccountBalance", [str(owner.pubkey())])["error"]["code"] == -32602
    confirmed = _rpc(url, "getBalance", [str(owner.pubkey()), {"commitment": "confirmed"}])
    assert confirmed["result"]["value"] == SOL


def test_solana_py_parses_token_and_program_account_queries(chain: Chain) -> None:
    opened = chain.open_channel()

    async def query() -> tuple[Any, Any, Any]:
        async with AsyncClient(chain.url) as client:
            by_mint = await client.get_token_accounts_by_owner_json_parsed(
                opened.operator.pubkey(), TokenAccountOpts(mint=chain.mint))
            by_program = await client.get_token_accounts_by_owner(
                opened.operator.pubkey(), TokenAccountOpts(program_id=TOKEN_PROGRAM))
            channels = await client.get_program_accounts(PROGRAM_ID, encoding="base64")
            return by_mint, by_program, channels

    by_mint, by_program, channels = chain.run(query())
    operator_ata = associated_token_address(opened.operator.pubkey(), chain.mint)
    assert [a.pubkey for a in by_mint.value] == [operator_ata]
    assert len(by_program.value) == 1
    assert [a.pubkey for a in channels.value] == [opened.channel]


def test_get_program_accounts_filters(chain: Chain) -> None:
    opened = chain.open_channel()
    other = chain.open_channel()
    payer = str(opened.payer.pubkey())

    def find(filters: list[Any], **config: Any) -> Any:
        answer = _rpc(chain.url, "getProgramAccounts", [str(PROGRAM_ID), {"filters": filters, **config}])
        return answer["result"]

    matched = find([{"dataSize": 256}, {"memcmp": {"offset": 88, "bytes": payer}}])
    assert [m["pubkey"] for m in matched] == [str(opened.channel)]
    payee64 = base64.b64encode(bytes(other.payee.pubkey())).decode()
    by_payee = find([{"memcmp": {"offset": 120, "bytes": payee64, "encoding": "base64"}}])
    assert [m["pubkey"] for m in by_payee] == [str(other.channel)]
    assert find([{"dataSize": 255}]) == []
    assert len(find([{"dataSize": 256}])) == 2
    with_context = find([{"dataSize": 256}], withContext=True)
    assert "context" in with_context and len(with_context["value"]) == 2


def test_fees_simulation_statuses_and_transactions(chain: Chain) -> None:
    sender = chain.fund(SOL)
    blockhash, _ = chain.run(chain.rpc.latest_blockhash())
    ix = transfer(TransferParams(from_pubkey=sender.pubkey(), to_pubkey=Keypair().pubkey(), lamports=10**6))
    message = Message.new_with_blockhash([ix], sender.pubkey(), blockhash)
    fee = _rpc(chain.url, "getFeeForMessage", [base64.b64encode(bytes(message)).decode()])["result"]["value"]
    assert fee == 5000
    tx = VersionedTransaction(message, [sender])
    encoded = base64.b64encode(bytes(tx)).decode()
    simulated = _rpc(chain.url, "simulateTransaction", [encoded, {"encoding": "base64"}])["result"]["value"]
    assert simulated["err"] is None and simulated["unitsConsumed"] > 0 and simulated["logs"]
    assert chain.lamports(sender.pubkey()) == SOL  # a simulation changes nothing
    signature = chain.run(chain.rpc.send_transaction(bytes(tx)))
    status = _rpc(chain.url, "getSignatureStatuses", [[signature, str(Signature.new_unique())]])
    assert status["result"]["value"][0]["confirmationStatus"] == "finalized"
    assert status["result"]["value"][0]["err"] is None and status["result"]["value"][1] is None
    as_base64 = _rpc(chain.url, "getTransaction", [signature, {"encoding": "base64"}])["result"]
    assert base64.b64decode(as_base64["transaction"][0]) == bytes(tx)
    as_json = _rpc(chain.url, "getTransaction", [signature, "json"])["result"]
    assert as_json["meta"]["fee"] == 5000 and as_json["transaction"]["signatures"] == [signature]
    assert as_json["meta"]["preBalances"][0] - as_json["meta"]["postBalances"][0] == 10**6 + 5000


def test_versioned_transactions_need_max_supported_version(chain: Chain) -> None:
    opened = chain.open_channel()  # the harness sends v0 transactions
    answer = _rpc(chain.url, "getTransaction", [opened.signature])
    assert answer["error"]["code"] == -32015
    landed = _rpc(chain.url, "getTransaction", [opened.signature, {"maxSupportedTransactionVersion": 0}])
    assert landed["result"]["version"] == 0 and landed["result"]["meta"]["err"] is None


def test_fee_for_a_voucher_bundle_counts_the_precompile_signature(chain: Chain) -> None:
    from mppcli.chain.instructions import settle_instruction

    opened = chain.open_channel()
    tx = chain.build([voucher(opened.session, opened.channel, 5), settle_instruction(opened.channel)],
                     opened.operator)
    encoded = base64.b64encode(to_bytes_versioned(tx.message)).decode()
    assert _rpc(chain.url, "getFeeForMessage", [encoded])["result"]["value"] == 10_000


def test_simulate_can_replace_the_blockhash(chain: Chain) -> None:
    from solders.hash import Hash

    sender = chain.fund(SOL)
    ix = transfer(TransferParams(from_pubkey=sender.pubkey(), to_pubkey=Keypair().pubkey(), lamports=10**6))
    tx = VersionedTransaction(Message.new_with_blockhash([ix], sender.pubkey(), Hash.new_unique()), [sender])
    encoded = base64.b64encode(bytes(tx)).decode()
    stale = _rpc(chain.url, "simulateTransaction", [encoded, {"encoding": "base64"}])["result"]["value"]
    assert stale["err"] == "BlockhashNotFound"
    replaced = _rpc(chain.url, "simulateTransaction",
                    [encoded, {"encoding": "base64", "replaceRecentBlockhash": True}])["result"]["value"]
    assert replaced["err"] is None and replaced["replacementBlockhash"]["blockhash"]


@pytest.mark.parametrize("amount", ["0", "-1", "x"])
def test_the_faucet_refuses_bad_amounts(ledger: RunningLedger, amount: str) -> None:
    answer = _rpc(ledger.rpc_url, "mpp_mintTestTokens", [str(Pubkey.new_unique()), amount])
    assert answer["error"]["code"] == -32602


def test_the_faucet_mints_only_the_test_stablecoin(ledger: RunningLedger) -> None:
    owner = str(Keypair().pubkey())
    refused = _rpc(ledger.rpc_url, "mpp_mintTestTokens", [owner, "5", {"mint": str(Pubkey.new_unique())}])
    assert refused["error"]["code"] == -32602
    minted = _rpc(ledger.rpc_url, "mpp_mintTestTokens", [owner, "5", {"mint": ledger.mint}])["result"]
    assert minted["tokenAccount"] == str(associated_token_address(Pubkey.from_string(owner),
                                                                 Pubkey.from_string(ledger.mint)))
    supply = _rpc(ledger.rpc_url, "getTokenSupply", [ledger.mint])["result"]["value"]["amount"]
    assert int(supply) >= 5
