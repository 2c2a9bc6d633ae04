"""The Solana JSON-RPC methods the ledger answers, one small handler each: the registry, parameter
helpers, cluster facts and account queries (transactions and extensions: `rpc_transactions`).

Commitment arguments are accepted and ignored: every applied transaction is final at once.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from solders.hash import Hash
from solders.pubkey import Pubkey

from mppcli.ledger import spl
from mppcli.ledger.clock import SLOT_MS
from mppcli.ledger.core import Ledger
from mppcli.ledger.rpc_encoding import (
    EncodingError,
    encode_account,
    mint_decimals,
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


    def response(self, request_id: Any = None) -> dict[str, Any]:
        """The JSON-RPC 2.0 error response carrying this error (HTTP and websocket alike)."""
        return {"jsonrpc": "2.0", "error": self.to_json(), "id": request_id}


# The envelope's own refusals, the same on the HTTP port and the websocket.
PARSE_ERROR = RpcMethodError(-32700, "Parse error")
INVALID_REQUEST = RpcMethodError(-32600, "Invalid request")
METHOD_NOT_FOUND = RpcMethodError(-32601, "Method not found")
PARAMS_NOT_ARRAY = RpcMethodError(-32602, "Invalid params: params must be an array")
INTERNAL_ERROR = RpcMethodError(-32603, "Internal error")


def invalid_params(message: str) -> RpcMethodError:
    return RpcMethodError(-32602, message)


def method(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        METHODS[name] = handler
        return handler
    return register


# --- parameter helpers ---------------------------------------------------------------------------
def param(params: list[Any], index: int, name: str) -> Any:
    if len(params) <= index:
        raise invalid_params(f"Invalid params: missing {name}")
    return params[index]


def config_param(params: list[Any], index: int) -> dict[str, Any]:
    value = params[index] if len(params) > index else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_params("Invalid params: the configuration must be an object")
    return value


def pubkey_param(params: list[Any], index: int, name: str = "pubkey") -> Pubkey:
    value = param(params, index, name)
    try:
        return Pubkey.from_string(value)
    except (TypeError, ValueError):
        raise invalid_params(f"Invalid param: {name} is not a valid public key") from None


def u64_param(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise invalid_params(f"Invalid param: {name} must be an unsigned integer")
    try:
        number = int(value)
    except ValueError:
        raise invalid_params(f"Invalid param: {name} must be an unsigned integer") from None
    if not 0 <= number < 1 << 64:
        raise invalid_params(f"Invalid param: {name} is out of range")
    return number


def context(ledger: Ledger) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "slot": ledger.now().slot}


def with_context(ledger: Ledger, value: Any) -> dict[str, Any]:
    return {"context": context(ledger), "value": value}


def _encode(ledger: Ledger, key: Pubkey, config: dict[str, Any]) -> Any:
    account = ledger.account(key)
    if account is None:
        return None
    try:
        return encode_account(account, config.get("encoding", "base64"), ledger.account,
                              config.get("dataSlice"))
    except EncodingError as exc:
        raise invalid_params(str(exc)) from None


def decode_wire(data: Any, encoding: str) -> bytes:
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
    slot = u64_param(param(params, 0, "slot"), "slot")
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
        blockhash = Hash.from_string(param(params, 0, "blockhash"))
    except (TypeError, ValueError):
        raise invalid_params("Invalid param: blockhash is not valid") from None
    return with_context(ledger, ledger.is_blockhash_valid(blockhash))


@method("getMinimumBalanceForRentExemption")
def get_minimum_balance(ledger: Ledger, params: list[Any]) -> int:
    return ledger.rent_exempt(u64_param(param(params, 0, "data length"), "data length"))


@method("getRecentPrioritizationFees")
def get_recent_prioritization_fees(ledger: Ledger, params: list[Any]) -> list[Any]:
    return []


# --- accounts ------------------------------------------------------------------------------------
@method("getBalance")
def get_balance(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    account = ledger.account(pubkey_param(params, 0))
    return with_context(ledger, account.lamports if account else 0)


@method("getAccountInfo")
def get_account_info(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    return with_context(ledger, _encode(ledger, pubkey_param(params, 0), config_param(params, 1)))


@method("getMultipleAccounts")
def get_multiple_accounts(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    keys = param(params, 0, "pubkeys")
    if not isinstance(keys, list) or len(keys) > 100:
        raise invalid_params("Invalid params: pubkeys must be a list of at most 100 keys")
    config = config_param(params, 1)
    return with_context(ledger, [_encode(ledger, pubkey_param(keys, i), config) for i in range(len(keys))])


@method("getTokenAccountBalance")
def get_token_account_balance(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    account = ledger.account(pubkey_param(params, 0))
    parsed = spl.parse_token_account(account.owner, bytes(account.data)) if account else None
    decimals = mint_decimals(parsed.mint, ledger.account) if parsed else None
    if parsed is None or decimals is None:
        raise invalid_params("Invalid param: not a Token account")
    return with_context(ledger, ui_token_amount(parsed.amount, decimals))


@method("getTokenSupply")
def get_token_supply(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    account = ledger.account(pubkey_param(params, 0))
    mint = spl.parse_mint(account.owner, bytes(account.data)) if account else None
    if mint is None:
        raise invalid_params("Invalid param: not a Token mint")
    return with_context(ledger, ui_token_amount(mint.supply, mint.decimals))


@method("getTokenAccountsByOwner")
def get_token_accounts_by_owner(ledger: Ledger, params: list[Any]) -> dict[str, Any]:
    owner = pubkey_param(params, 0, "owner")
    selector = config_param(params, 1)
    config = config_param(params, 2)
    try:
        found = token_accounts_by_owner(ledger, owner, selector, config)
    except (EncodingError, ValueError) as exc:
        raise invalid_params(f"Invalid params: {exc}") from None
    return with_context(ledger, found)


@method("getProgramAccounts")
def get_program_accounts(ledger: Ledger, params: list[Any]) -> Any:
    program = pubkey_param(params, 0, "program id")
    config = config_param(params, 1)
    try:
        found = program_accounts(ledger, program, config)
    except (EncodingError, ValueError) as exc:
        raise invalid_params(f"Invalid params: {exc}") from None
    return with_context(ledger, found) if config.get("withContext") else found
