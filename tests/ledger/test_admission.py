"""What a transaction must pass before it runs: signatures, a recent blockhash of this ledger, no
replay, a fee payer who can pay; and what a failure leaves behind (nothing, or with skipPreflight
the fee and a failed status, as on a real cluster)."""

from __future__ import annotations

import base64

import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from mppcli.ledger.blockhash import MAX_BLOCKHASH_AGE
from mppcli.rpc import TransactionRejected
from tests.ledger.harness import SOL, Chain


def _transfer(chain: Chain, sender: Keypair, lamports: int = 10**6, blockhash: Hash | None = None,
              to: Pubkey | None = None) -> VersionedTransaction:
    """A SOL transfer to a fresh account (10**6 lamports: above the rent-exempt minimum)."""
    recent = blockhash or chain.run(chain.rpc.latest_blockhash())[0]
    receiver = to or Keypair().pubkey()
    ix = transfer(TransferParams(from_pubkey=sender.pubkey(), to_pubkey=receiver, lamports=lamports))
    return VersionedTransaction(Message.new_with_blockhash([ix], sender.pubkey(), recent), [sender])


def _send(chain: Chain, tx: VersionedTransaction, skip_preflight: bool = False) -> str:
    return chain.run(chain.rpc.send_transaction(bytes(tx), skip_preflight=skip_preflight))


def _raw_send(chain: Chain, tx_bytes: bytes) -> dict[str, object]:
    import httpx

    body = {"jsonrpc": "2.0", "id": 1, "method": "sendTransaction",
            "params": [base64.b64encode(tx_bytes).decode(), {"encoding": "base64"}]}
    return dict(httpx.post(chain.url, json=body, timeout=30).json())


def test_a_fee_of_5000_lamports_per_signature_is_charged_to_the_fee_payer(chain: Chain) -> None:
    sender = chain.fund(SOL)
    co_signer = chain.fund(SOL)
    receiver = Keypair().pubkey()
    ixs = [transfer(TransferParams(from_pubkey=co_signer.pubkey(), to_pubkey=receiver, lamports=10**6))]
    chain.submit(ixs, sender, co_signer)
    assert chain.lamports(sender.pubkey()) == SOL - 2 * 5000
    assert chain.lamports(co_signer.pubkey()) == SOL - 10**6


def test_a_bad_signature_is_refused_with_solanas_signature_error(chain: Chain) -> None:
    sender = chain.fund(SOL)
    raw = bytearray(bytes(_transfer(chain, sender)))
    raw[5] ^= 0xFF  # inside the first signature
    answer = _raw_send(chain, bytes(raw))
    assert answer["error"] == {"code": -32003, "message": "Transaction signature verification failure"}
    assert chain.lamports(sender.pubkey()) == SOL


def test_an_unknown_or_expired_blockhash_is_refused(chain: Chain) -> None:
    sender = chain.fund(SOL)
    with pytest.raises(TransactionRejected) as unknown:
        _send(chain, _transfer(chain, sender, blockhash=Hash.new_unique()))
    assert unknown.value.err == "BlockhashNotFound"
    assert "Blockhash not found" in unknown.value.message
    old = chain.run(chain.rpc.latest_blockhash())[0]
    chain.warp(slots=MAX_BLOCKHASH_AGE)
    assert chain.call("isBlockhashValid", [str(old)])["value"] is True
    chain.run(chain.rpc.confirm(_send(chain, _transfer(chain, sender, blockhash=old)), 10))  # 150 old: valid
    chain.warp(slots=1)
    assert chain.call("isBlockhashValid", [str(old)])["value"] is False
    with pytest.raises(TransactionRejected) as expired:
        _send(chain, _transfer(chain, sender, blockhash=old))
    assert expired.value.err == "BlockhashNotFound"


def test_a_replayed_transaction_is_refused(chain: Chain) -> None:
    sender = chain.fund(SOL)
    tx = _transfer(chain, sender, lamports=10**6)
    signature = _send(chain, tx)
    chain.run(chain.rpc.confirm(signature, 10))
    with pytest.raises(TransactionRejected) as replay:
        _send(chain, tx)
    assert replay.value.err == "AlreadyProcessed"
    assert "already been processed" in replay.value.message
    assert chain.lamports(sender.pubkey()) == SOL - 10**6 - 5000


def test_a_fee_payer_that_cannot_pay_is_refused(chain: Chain) -> None:
    nobody = Keypair()
    with pytest.raises(TransactionRejected) as missing:
        _send(chain, _transfer(chain, nobody))
    assert missing.value.err == "AccountNotFound"
    rent_minimum = chain.run(chain.rpc.minimum_balance(0))
    poor = chain.fund(rent_minimum + 1000)  # paying 5000 would leave it below the rent minimum
    with pytest.raises(TransactionRejected) as poor_payer:
        _send(chain, _transfer(chain, poor, lamports=1))
    assert poor_payer.value.err == "InsufficientFundsForFee"
    assert chain.lamports(poor.pubkey()) == rent_minimum + 1000


def test_a_failing_transaction_leaves_no_trace_with_preflight(chain: Chain) -> None:
    sender = chain.fund(SOL)
    receiver = Keypair().pubkey()
    ok = transfer(TransferParams(from_pubkey=sender.pubkey(), to_pubkey=receiver, lamports=10**7))
    too_much = transfer(TransferParams(from_pubkey=sender.pubkey(), to_pubkey=receiver, lamports=10 * SOL))
    rejected = chain.refuse([ok, too_much], sender)
    assert rejected.err == {"InstructionError": [1, {"Custom": 1}]}
    assert rejected.instruction == 1
    assert any("insufficient lamports" in line for line in rejected.logs)
    assert chain.lamports(receiver) == 0 and chain.lamports(sender.pubkey()) == SOL


def test_with_skip_preflight_a_failing_transaction_lands_failed_and_pays_only_the_fee(chain: Chain) -> None:
    sender = chain.fund(SOL)
    receiver = Keypair().pubkey()
    ok = transfer(TransferParams(from_pubkey=sender.pubkey(), to_pubkey=receiver, lamports=10**7))
    too_much = transfer(TransferParams(from_pubkey=sender.pubkey(), to_pubkey=receiver, lamports=10 * SOL))
    tx = chain.build([ok, too_much], sender)
    signature = _send(chain, tx, skip_preflight=True)
    with pytest.raises(TransactionRejected) as failed:
        chain.run(chain.rpc.confirm(signature, 10))
    assert failed.value.err == {"InstructionError": [1, {"Custom": 1}]}
    assert chain.lamports(receiver) == 0 and chain.lamports(sender.pubkey()) == SOL - 5000
    config = {"encoding": "json", "maxSupportedTransactionVersion": 0}
    landed = chain.call("getTransaction", [signature, config])
    assert landed["meta"]["err"] == {"InstructionError": [1, {"Custom": 1}]} and landed["meta"]["fee"] == 5000


def test_a_channel_program_error_is_named_from_the_idl(chain: Chain) -> None:
    from mppcli.chain.instructions import seal_instruction

    opened = chain.open_channel()
    rejected = chain.refuse([seal_instruction(opened.channel)], opened.operator)
    assert rejected.custom_code == 2 and "invalidChannelStatus" in rejected.message
    assert rejected.program == "CHNLxYvVA28MJP9PrFuDXccuoGXAx7jBacfLEkahyGsX"
    assert any("custom program error: 0x2" in line for line in rejected.logs)
