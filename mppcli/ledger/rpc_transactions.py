"""The transaction methods (send, simulate, fees, statuses, history), the faucet and the
ledger's extensions.

Extensions (not in Solana's API; used by `mpp wallet airdrop`, `mpp serve` and the tests):

- `mpp_ledgerInfo` `[]` -> `{"network": "localnet", "genesisHash", "mint", "decimals",
  "tokenProgram", "symbol"}`: the chain and its test stablecoin (symbol `USDC` on localnet).
- `mpp_mintTestTokens` `[owner, amount]` (amount: base units, a decimal string or integer; an
  optional third element `{"mint": ...}` must name the test stablecoin) -> `{"signature",
  "tokenAccount"}`: mints the test stablecoin to the owner's associated token account, creating
  it when needed; the faucet pays the fee and the rent.
- `mpp_warp` `[{"slots"?: n, "seconds"?: n}]` -> `{"slot", "unixTimestamp"}`: moves chain time
  forward (tests use it to pass a grace period or the 1500-slot window). Given only one of the
  two, the other follows at 400 ms per slot.

Commitment arguments are accepted and ignored: every applied transaction is final at once.
"""

from __future__ import annotations

from typing import Any

from solders.hash import Hash
from solders.message import Message, MessageV0
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from mppcli.chain.txcodec import MAX_TRANSACTION_SIZE
from mppcli.ledger.admission import SignatureVerificationFailed
from mppcli.ledger.core import Executed, Ledger
from mppcli.ledger.errors import TransactionFailed, describe_tx_error
from mppcli.ledger.rpc_encoding import status_json, transaction_json
from mppcli.ledger.rpc_methods import (
    RpcMethodError,
    config_param,
    decode_wire,
    invalid_params,
    method,
    param,
    pubkey_param,
    u64_param,
    with_context,
)


# --- transactions --------------------------------------------------------------------------------
def _simulation_value(result: Executed, replacement: Hash | None = None) -> dict[str, Any]:
    return {"err": result.err, "logs": result.logs, "accounts": None, "unitsConsumed": result.units,
            "returnData": None, "innerInstructions": None, "loadedAccountsDataSize": None,
            "replacementBlockhash": None if replacement is None else
            {"blockhash": str(replacement), "lastValidBlockHeight": 0}}


def _preflight_error(failure: TransactionFailed) -> RpcMethodError:
    if isinstance(failure, SignatureVerificationFailed):
        return RpcMethodError(-32003, "Transaction signature verification failure")
    if failure.err == "SanitizeFailure":
        return invalid_params(f"invalid transaction: {describe_tx_error(failure.err)}")
    value = _simulation_value(Executed("", failure.err, failure.logs, failure.units))
    return RpcMethodError(-32002, f"Transaction simulation failed: {describe_tx_error(failure.err)}", value)


def _wire_transaction(params: list[Any], config: dict[str, Any]) -> bytes:
    """The submitted bytes, refused as a cluster's RPC refuses them when they exceed one packet:
    a transaction the ledger accepted but devnet would not is a bug the ledger must not hide."""
    raw = decode_wire(param(params, 0, "transaction"), config.get("encoding", "base58"))
    if len(raw) > MAX_TRANSACTION_SIZE:
        raise invalid_params(f"base64 encoded solana_transaction::versioned::VersionedTransaction too "
                             f"large: {len(raw)} bytes (max: encoded/raw 1644/{MAX_TRANSACTION_SIZE})")
    return raw


@method("sendTransaction")
def send_transaction(ledger: Ledger, params: list[Any]) -> str:
    config = config_param(params, 1)
    raw = _wire_transaction(params, config)
    try:
        return ledger.send(raw, skip_preflight=bool(config.get("skipPreflight", False))).signature
    except TransactionFailed as failure:
        raise _preflight_error(failure) from None


@method("simulateTransaction")
def simulate_transaction(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    config = config_param(params, 1)
    raw = _wire_transaction(params, config)
    try:
        result, replacement = ledger.simulate(raw, bool(config.get("sigVerify", False)),
                                              bool(config.get("replaceRecentBlockhash", False)))
    except TransactionFailed as failure:
        raise _preflight_error(failure) from None
    return with_context(ledger, _simulation_value(result, replacement))


@method("getFeeForMessage")
def get_fee_for_message(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    raw = decode_wire(param(params, 0, "message"), "base64")
    try:
        message: Message | MessageV0 = MessageV0.from_bytes(raw[1:]) if raw and raw[0] & 0x80 \
            else Message.from_bytes(raw)
        signatures = [Signature.default()] * message.header.num_required_signatures
        view = ledger.decode(bytes(VersionedTransaction.populate(message, signatures)))
    except (ValueError, TransactionFailed):
        raise invalid_params("invalid message") from None
    return with_context(ledger, ledger.fee_for_message(view))


@method("getSignatureStatuses")
def get_signature_statuses(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    signatures = param(params, 0, "signatures")
    if not isinstance(signatures, list) or len(signatures) > 256:
        raise invalid_params("Invalid params: signatures must be a list of at most 256 entries")
    records = [ledger.transaction(str(s)) for s in signatures]
    return with_context(ledger, [status_json(r) if r else None for r in records])


@method("getTransaction")
def get_transaction(ledger: Ledger, params: list[Any]) -> Any:
    config = config_param(params, 1) if len(params) > 1 and isinstance(params[1], dict) else {}
    encoding = config.get("encoding", params[1] if len(params) > 1 and isinstance(params[1], str) else "json")
    record = ledger.transaction(str(param(params, 0, "signature")))
    if record is None:
        return None
    view = ledger.decode(record.raw)
    if isinstance(view.tx.message, MessageV0) and config.get("maxSupportedTransactionVersion") is None:
        raise RpcMethodError(-32015, "Transaction version (0) is not supported by the requesting client. "
                             "Please try the request again with the following configuration parameter: "
                             "\"maxSupportedTransactionVersion\": 0")
    return transaction_json(record, view, encoding)


# --- faucet and test extensions ------------------------------------------------------------------
@method("requestAirdrop")
def request_airdrop(ledger: Ledger, params: list[Any]) -> str:
    to = pubkey_param(params, 0)
    lamports = u64_param(param(params, 1, "lamports"), "lamports")
    try:
        return ledger.airdrop(to, lamports)
    except TransactionFailed as failure:
        raise RpcMethodError(-32603, f"airdrop failed: {describe_tx_error(failure.err)}") from None


@method("mpp_mintTestTokens")
def mint_test_tokens(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    owner = pubkey_param(params, 0, "owner")
    amount = u64_param(param(params, 1, "amount"), "amount")
    wanted = config_param(params, 2).get("mint")
    if wanted is not None and wanted != ledger.info().mint:
        raise invalid_params(f"the faucet mints only the test stablecoin {ledger.info().mint}")
    if amount == 0:
        raise invalid_params("Invalid param: amount must be greater than zero")
    try:
        signature, ata = ledger.mint_test_tokens(owner, amount)
    except TransactionFailed as failure:
        raise RpcMethodError(-32603, f"mint failed: {describe_tx_error(failure.err)}") from None
    return {"signature": signature, "tokenAccount": str(ata)}


@method("mpp_ledgerInfo")
def ledger_info(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    return ledger.info().to_json()


@method("mpp_warp")
def warp(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    config = config_param(params, 0)
    slots = u64_param(config["slots"], "slots") if "slots" in config else None
    seconds = u64_param(config["seconds"], "seconds") if "seconds" in config else None
    now = ledger.warp(slots, seconds)
    return {"slot": now.slot, "unixTimestamp": now.unix_timestamp}

