"""The Solana JSON-RPC methods the ledger answers, one small handler each.

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

import base64
from collections.abc import Callable
from typing import Any

from solders.hash import Hash
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from mppcli.ledger import spl
from mppcli.ledger.admission import SignatureVerificationFailed
from mppcli.ledger.clock import SLOT_MS
from mppcli.ledger.core import Executed, Ledger
from mppcli.ledger.errors import TransactionFailed, describe_tx_error
from mppcli.ledger.rpc_encoding import (
    EncodingError,
    encode_account,
    mint_decimals,
    status_json,
    transaction_json,
    ui_token_amount,
)
from mppcli.ledger.rpc_filters import program_accounts, token_accounts_by_owner
from mppcli.ledger.svm import SLOTS_PER_EPOCH
from mppcli.protocol.base58 import b58decode

API_VERSION = "2.2.0"
Handler = Callable[[Ledger, list[Any]], Any]
METHODS: dict[str, Handler] = {}


class RpcMethodError(Exception):
    """A JSON-RPC error object: code, message and optional data."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            body["data"] = self.data
        return body


def invalid_params(message: str) -> RpcMethodError:
    return RpcMethodError(-32602, message)


def method(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        METHODS[name] = handler
        return handler
    return register


# --- parameter helpers ---------------------------------------------------------------------------
def _param(params: list[Any], index: int, name: str) -> Any:
    if len(params) <= index:
        raise invalid_params(f"Invalid params: missing {name}")
    return params[index]


def _config(params: list[Any], index: int) -> dict[str, Any]:
    value = params[index] if len(params) > index else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_params("Invalid params: the configuration must be an object")
    return value


def _pubkey(params: list[Any], index: int, name: str = "pubkey") -> Pubkey:
    value = _param(params, index, name)
    try:
        return Pubkey.from_string(value)
    except (TypeError, ValueError):
        raise invalid_params(f"Invalid param: {name} is not a valid public key") from None


def _u64(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise invalid_params(f"Invalid param: {name} must be an unsigned integer")
    try:
        number = int(value)
    except ValueError:
        raise invalid_params(f"Invalid param: {name} must be an unsigned integer") from None
    if not 0 <= number < 1 << 64:
        raise invalid_params(f"Invalid param: {name} is out of range")
    return number


def _context(ledger: Ledger) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "slot": ledger.now().slot}


def _with_context(ledger: Ledger, value: Any) -> dict[str, Any]:
    return {"context": _context(ledger), "value": value}


def _encode(ledger: Ledger, key: Pubkey, config: dict[str, Any]) -> Any:
    account = ledger.account(key)
    if account is None:
        return None
    try:
        return encode_account(account, config.get("encoding", "base64"), ledger.account,
                              config.get("dataSlice"))
    except EncodingError as exc:
        raise invalid_params(str(exc)) from None


def _decode_wire(data: Any, encoding: str) -> bytes:
    if not isinstance(data, str):
        raise invalid_params("Invalid params: the transaction must be a string")
    try:
        return base64.b64decode(data, validate=True) if encoding == "base64" else b58decode(data)
    except ValueError:
        raise invalid_params(f"invalid transaction: not {encoding}") from None


# --- cluster facts -------------------------------------------------------------------------------
@method("getHealth")
def get_health(ledger: Ledger, params: list[Any]) -> str:
    return "ok"


@method("getVersion")
def get_version(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    return {"solana-core": API_VERSION, "feature-set": 0}


@method("getGenesisHash")
def get_genesis_hash(ledger: Ledger, params: list[Any]) -> str:
    return ledger.genesis_hash


@method("getSlot")
def get_slot(ledger: Ledger, params: list[Any]) -> int:
    return ledger.now().slot


@method("getBlockHeight")
def get_block_height(ledger: Ledger, params: list[Any]) -> int:
    return ledger.now().slot


@method("getEpochInfo")
def get_epoch_info(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    slot = ledger.now().slot
    return {"absoluteSlot": slot, "blockHeight": slot, "epoch": slot // SLOTS_PER_EPOCH,
            "slotIndex": slot % SLOTS_PER_EPOCH, "slotsInEpoch": SLOTS_PER_EPOCH,
            "transactionCount": None}


@method("getBlockTime")
def get_block_time(ledger: Ledger, params: list[Any]) -> int:
    slot = _u64(_param(params, 0, "slot"), "slot")
    now = ledger.now()
    if slot > now.slot:
        raise RpcMethodError(-32004, f"Block not available for slot {slot}")
    return now.unix_timestamp - (now.slot - slot) * SLOT_MS // 1000


@method("getLatestBlockhash")
def get_latest_blockhash(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    blockhash, slot, last_valid = ledger.latest_blockhash()
    return {"context": {"apiVersion": API_VERSION, "slot": slot},
            "value": {"blockhash": str(blockhash), "lastValidBlockHeight": last_valid}}


@method("isBlockhashValid")
def is_blockhash_valid(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    try:
        blockhash = Hash.from_string(_param(params, 0, "blockhash"))
    except (TypeError, ValueError):
        raise invalid_params("Invalid param: blockhash is not valid") from None
    return _with_context(ledger, ledger.is_blockhash_valid(blockhash))


@method("getMinimumBalanceForRentExemption")
def get_minimum_balance(ledger: Ledger, params: list[Any]) -> int:
    return ledger.rent_exempt(_u64(_param(params, 0, "data length"), "data length"))


@method("getRecentPrioritizationFees")
def get_recent_prioritization_fees(ledger: Ledger, params: list[Any]) -> list[Any]:
    return []


# --- accounts ------------------------------------------------------------------------------------
@method("getBalance")
def get_balance(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    account = ledger.account(_pubkey(params, 0))
    return _with_context(ledger, account.lamports if account else 0)


@method("getAccountInfo")
def get_account_info(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    return _with_context(ledger, _encode(ledger, _pubkey(params, 0), _config(params, 1)))


@method("getMultipleAccounts")
def get_multiple_accounts(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    keys = _param(params, 0, "pubkeys")
    if not isinstance(keys, list) or len(keys) > 100:
        raise invalid_params("Invalid params: pubkeys must be a list of at most 100 keys")
    config = _config(params, 1)
    return _with_context(ledger, [_encode(ledger, _pubkey(keys, i), config) for i in range(len(keys))])


@method("getTokenAccountBalance")
def get_token_account_balance(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    account = ledger.account(_pubkey(params, 0))
    parsed = spl.parse_token_account(account.owner, bytes(account.data)) if account else None
    decimals = mint_decimals(parsed.mint, ledger.account) if parsed else None
    if parsed is None or decimals is None:
        raise invalid_params("Invalid param: not a Token account")
    return _with_context(ledger, ui_token_amount(parsed.amount, decimals))


@method("getTokenSupply")
def get_token_supply(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    account = ledger.account(_pubkey(params, 0))
    mint = spl.parse_mint(account.owner, bytes(account.data)) if account else None
    if mint is None:
        raise invalid_params("Invalid param: not a Token mint")
    return _with_context(ledger, ui_token_amount(mint.supply, mint.decimals))


@method("getTokenAccountsByOwner")
def get_token_accounts_by_owner(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    owner = _pubkey(params, 0, "owner")
    selector = _config(params, 1)
    config = _config(params, 2)
    try:
        found = token_accounts_by_owner(ledger, owner, selector, config)
    except (EncodingError, ValueError) as exc:
        raise invalid_params(f"Invalid params: {exc}") from None
    return _with_context(ledger, found)


@method("getProgramAccounts")
def get_program_accounts(ledger: Ledger, params: list[Any]) -> Any:
    program = _pubkey(params, 0, "program id")
    config = _config(params, 1)
    try:
        found = program_accounts(ledger, program, config)
    except (EncodingError, ValueError) as exc:
        raise invalid_params(f"Invalid params: {exc}") from None
    return _with_context(ledger, found) if config.get("withContext") else found


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


@method("sendTransaction")
def send_transaction(ledger: Ledger, params: list[Any]) -> str:
    config = _config(params, 1)
    raw = _decode_wire(_param(params, 0, "transaction"), config.get("encoding", "base58"))
    try:
        return ledger.send(raw, skip_preflight=bool(config.get("skipPreflight", False))).signature
    except TransactionFailed as failure:
        raise _preflight_error(failure) from None


@method("simulateTransaction")
def simulate_transaction(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    config = _config(params, 1)
    raw = _decode_wire(_param(params, 0, "transaction"), config.get("encoding", "base58"))
    try:
        result, replacement = ledger.simulate(raw, bool(config.get("sigVerify", False)),
                                              bool(config.get("replaceRecentBlockhash", False)))
    except TransactionFailed as failure:
        raise _preflight_error(failure) from None
    return _with_context(ledger, _simulation_value(result, replacement))


@method("getFeeForMessage")
def get_fee_for_message(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    raw = _decode_wire(_param(params, 0, "message"), "base64")
    try:
        message: Message | MessageV0 = MessageV0.from_bytes(raw[1:]) if raw and raw[0] & 0x80 \
            else Message.from_bytes(raw)
        signatures = [Signature.default()] * message.header.num_required_signatures
        view = ledger.decode(bytes(VersionedTransaction.populate(message, signatures)))
    except (ValueError, TransactionFailed):
        raise invalid_params("invalid message") from None
    return _with_context(ledger, ledger.fee_for_message(view))


@method("getSignatureStatuses")
def get_signature_statuses(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    signatures = _param(params, 0, "signatures")
    if not isinstance(signatures, list) or len(signatures) > 256:
        raise invalid_params("Invalid params: signatures must be a list of at most 256 entries")
    records = [ledger.transaction(str(s)) for s in signatures]
    return _with_context(ledger, [status_json(r) if r else None for r in records])


@method("getTransaction")
def get_transaction(ledger: Ledger, params: list[Any]) -> Any:
    config = _config(params, 1) if len(params) > 1 and isinstance(params[1], dict) else {}
    encoding = config.get("encoding", params[1] if len(params) > 1 and isinstance(params[1], str) else "json")
    record = ledger.transaction(str(_param(params, 0, "signature")))
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
    to = _pubkey(params, 0)
    lamports = _u64(_param(params, 1, "lamports"), "lamports")
    try:
        return ledger.airdrop(to, lamports)
    except TransactionFailed as failure:
        raise RpcMethodError(-32603, f"airdrop failed: {describe_tx_error(failure.err)}") from None


@method("mpp_mintTestTokens")
def mint_test_tokens(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    owner = _pubkey(params, 0, "owner")
    amount = _u64(_param(params, 1, "amount"), "amount")
    wanted = _config(params, 2).get("mint")
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
    config = _config(params, 0)
    slots = _u64(config["slots"], "slots") if "slots" in config else None
    seconds = _u64(config["seconds"], "seconds") if "seconds" in config else None
    now = ledger.warp(slots, seconds)
    return {"slot": now.slot, "unixTimestamp": now.unix_timestamp}

