"""getProgramAccounts and getTokenAccountsByOwner: account scans with Solana's filters.

Filters: `{"dataSize": n}` and `{"memcmp": {"offset": n, "bytes": text, "encoding"?:
"base58"|"base64"}}`; every filter must match. Results are sorted by address so they are stable.
"""

from __future__ import annotations

import base64
from typing import Any

from solders.account import Account
from solders.pubkey import Pubkey

from mppcli.chain.constants import TOKEN_PROGRAMS
from mppcli.ledger import spl
from mppcli.ledger.core import Ledger
from mppcli.ledger.rpc_encoding import encode_account
from mppcli.protocol.base58 import b58decode

_MAX_FILTERS = 4


def _matches(data: bytes, filters: list[dict[str, Any]]) -> bool:
    return all(_match_one(data, f) for f in filters)


def _match_one(data: bytes, rule: dict[str, Any]) -> bool:
    if "dataSize" in rule:
        return len(data) == int(rule["dataSize"])
    if "memcmp" in rule:
        memcmp = rule["memcmp"]
        offset = int(memcmp.get("offset", 0))
        wanted = _memcmp_bytes(memcmp)
        return data[offset:offset + len(wanted)] == wanted
    if "tokenAccountState" in rule:
        return True
    raise ValueError(f"unsupported filter {sorted(rule)}")


def _memcmp_bytes(memcmp: dict[str, Any]) -> bytes:
    text = memcmp.get("bytes")
    if not isinstance(text, str):
        raise ValueError("memcmp.bytes must be a string")
    if memcmp.get("encoding", "base58") == "base64":
        return base64.b64decode(text, validate=True)
    return b58decode(text, "memcmp.bytes")


def _entries(ledger: Ledger, found: list[tuple[Pubkey, Account]], config: dict[str, Any]) -> list[Any]:
    encoding = config.get("encoding", "base64")
    found.sort(key=lambda item: bytes(item[0]))
    return [{"pubkey": str(key), "account": encode_account(account, encoding, ledger.account,
                                                           config.get("dataSlice"))}
            for key, account in found]


def program_accounts(ledger: Ledger, program: Pubkey, config: dict[str, Any]) -> list[Any]:
    filters = config.get("filters") or []
    if not isinstance(filters, list) or len(filters) > _MAX_FILTERS:
        raise ValueError(f"filters must be a list of at most {_MAX_FILTERS}")
    found = [(k, a) for k, a in ledger.accounts_owned_by(program) if _matches(bytes(a.data), filters)]
    return _entries(ledger, found, config)


def token_accounts_by_owner(ledger: Ledger, owner: Pubkey, selector: dict[str, Any],
                            config: dict[str, Any]) -> list[Any]:
    mint = Pubkey.from_string(selector["mint"]) if "mint" in selector else None
    programs = _selected_programs(selector)
    found = []
    for program in programs:
        for key, account in ledger.accounts_owned_by(program):
            parsed = spl.parse_token_account(account.owner, bytes(account.data))
            if parsed and parsed.owner == owner and (mint is None or parsed.mint == mint):
                found.append((key, account))
    return _entries(ledger, found, config)


def _selected_programs(selector: dict[str, Any]) -> list[Pubkey]:
    if "programId" in selector:
        program = Pubkey.from_string(selector["programId"])
        if program not in TOKEN_PROGRAMS:
            raise ValueError("unrecognized token program id")
        return [program]
    if "mint" in selector:
        return sorted(TOKEN_PROGRAMS, key=bytes)
    raise ValueError("expected {\"mint\": ...} or {\"programId\": ...}")
