"""Accounts and transactions in the JSON shapes Solana's RPC uses (base64, base58, jsonParsed).

`uiAmount` is always null: the ledger never turns money into a float; `uiAmountString` carries
the exact decimal form.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from solders.account import Account
from solders.message import MessageV0
from solders.pubkey import Pubkey

from mppcli.chain.constants import TOKEN_2022_PROGRAM
from mppcli.ledger import spl
from mppcli.ledger.store import TxRecord
from mppcli.ledger.txview import TxView
from mppcli.protocol.amounts import format_amount
from mppcli.protocol.base58 import b58encode

U64_MAX = (1 << 64) - 1
AccountLookup = Callable[[Pubkey], Account | None]


class EncodingError(ValueError):
    """The request asked for an encoding or slice this ledger cannot produce."""


def ui_token_amount(amount: int, decimals: int) -> dict[str, Any]:
    return {"amount": str(amount), "decimals": decimals, "uiAmount": None,
            "uiAmountString": format_amount(amount, decimals)}


def encode_account(account: Account, encoding: str, lookup: AccountLookup,
                   data_slice: dict[str, int] | None = None) -> dict[str, Any]:
    data = bytes(account.data)
    return {"data": _encode_data(account.owner, data, encoding, lookup, data_slice),
            "executable": account.executable, "lamports": account.lamports,
            "owner": str(account.owner), "rentEpoch": min(account.rent_epoch, U64_MAX),
            "space": len(data)}


def _encode_data(owner: Pubkey, data: bytes, encoding: str, lookup: AccountLookup,
                 data_slice: dict[str, int] | None) -> Any:
    if encoding == "jsonParsed":
        parsed = parse_token_data(owner, data, lookup)
        if parsed is not None:
            return parsed
        encoding = "base64"
    if data_slice:
        offset, length = int(data_slice.get("offset", 0)), int(data_slice.get("length", 0))
        data = data[offset:offset + length]
    if encoding == "base64":
        return [base64.b64encode(data).decode(), "base64"]
    if encoding in ("base58", "binary"):
        if len(data) > 128:
            raise EncodingError("Encoded binary (base 58) data should be less than 128 bytes, "
                                "please use Base64 encoding.")
        return b58encode(data) if encoding == "binary" else [b58encode(data), "base58"]
    raise EncodingError(f"unsupported encoding {encoding!r} (use base64 or jsonParsed)")


def parse_token_data(owner: Pubkey, data: bytes, lookup: AccountLookup) -> dict[str, Any] | None:
    """jsonParsed form of a mint or token account, or None for anything else."""
    program = "spl-token-2022" if owner == TOKEN_2022_PROGRAM else "spl-token"
    if len(data) == spl.MINT_SIZE or (len(data) > spl.ACCOUNT_SIZE and data[spl.ACCOUNT_TYPE_OFFSET] == 1):
        mint = spl.parse_mint(owner, data)
        if mint is not None:
            parsed = {"type": "mint", "info": _mint_info(mint)}
            return {"program": program, "space": len(data), "parsed": parsed}
    account = spl.parse_token_account(owner, data)
    if account is None:
        return None
    info = _token_account_info(account, lookup)
    return None if info is None else {"program": program, "space": len(data),
                                      "parsed": {"type": "account", "info": info}}


def _mint_info(mint: spl.MintInfo) -> dict[str, Any]:
    return {"decimals": mint.decimals, "freezeAuthority": _key(mint.freeze_authority),
            "isInitialized": mint.is_initialized, "mintAuthority": _key(mint.mint_authority),
            "supply": str(mint.supply)}


def _token_account_info(account: spl.TokenAccountInfo, lookup: AccountLookup) -> dict[str, Any] | None:
    decimals = mint_decimals(account.mint, lookup)
    if decimals is None:
        return None
    info: dict[str, Any] = {"isNative": account.is_native is not None, "mint": str(account.mint),
                            "owner": str(account.owner), "state": spl.ACCOUNT_STATES.get(account.state),
                            "tokenAmount": ui_token_amount(account.amount, decimals)}
    if account.delegate is not None:
        info["delegate"] = str(account.delegate)
        info["delegatedAmount"] = ui_token_amount(account.delegated_amount, decimals)
    if account.close_authority is not None:
        info["closeAuthority"] = str(account.close_authority)
    return info


def mint_decimals(mint: Pubkey, lookup: AccountLookup) -> int | None:
    account = lookup(mint)
    parsed = spl.parse_mint(account.owner, bytes(account.data)) if account else None
    return parsed.decimals if parsed else None


def _key(key: Pubkey | None) -> str | None:
    return None if key is None else str(key)


def status_json(record: TxRecord) -> dict[str, Any]:
    """One entry of getSignatureStatuses."""
    return {"slot": record.slot, "confirmations": None, "err": record.err,
            "status": {"Ok": None} if record.err is None else {"Err": record.err},
            "confirmationStatus": "finalized"}


def transaction_json(record: TxRecord, view: TxView, encoding: str) -> dict[str, Any]:
    """getTransaction's result for a recorded transaction."""
    version: Any = 0 if isinstance(view.tx.message, MessageV0) else "legacy"
    if encoding == "base64":
        body: Any = [base64.b64encode(record.raw).decode(), "base64"]
    elif encoding == "base58":
        body = [b58encode(record.raw), "base58"]
    else:
        body = {"signatures": [str(s) for s in view.tx.signatures], "message": _message_json(view)}
    return {"slot": record.slot, "blockTime": record.block_time, "version": version,
            "transaction": body, "meta": _meta_json(record, view)}


def _message_json(view: TxView) -> dict[str, Any]:
    message = view.tx.message
    header = message.header
    out: dict[str, Any] = {
        "accountKeys": [str(k) for k in message.account_keys],
        "header": {"numRequiredSignatures": header.num_required_signatures,
                   "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
                   "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts},
        "recentBlockhash": str(message.recent_blockhash),
        "instructions": [{"programIdIndex": ci.program_id_index, "accounts": list(ci.accounts),
                          "data": b58encode(bytes(ci.data)), "stackHeight": None}
                         for ci in message.instructions],
    }
    if isinstance(message, MessageV0):
        out["addressTableLookups"] = [
            {"accountKey": str(lookup.account_key), "writableIndexes": list(lookup.writable_indexes),
             "readonlyIndexes": list(lookup.readonly_indexes)} for lookup in message.address_table_lookups]
    return out


def _meta_json(record: TxRecord, view: TxView) -> dict[str, Any]:
    static = len(view.tx.message.account_keys)
    loaded = view.keys[static:]
    writable_loaded = [str(k) for k, w in zip(loaded, view.writable_flags[static:], strict=True) if w]
    readonly_loaded = [str(k) for k, w in zip(loaded, view.writable_flags[static:], strict=True) if not w]
    return {"err": record.err, "status": {"Ok": None} if record.err is None else {"Err": record.err},
            "fee": record.fee, "preBalances": record.pre_balances, "postBalances": record.post_balances,
            "innerInstructions": [], "logMessages": record.logs, "preTokenBalances": [],
            "postTokenBalances": [], "rewards": [], "computeUnitsConsumed": record.units,
            "loadedAddresses": {"writable": writable_loaded, "readonly": readonly_loaded}}
