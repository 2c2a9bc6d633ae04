"""Balances for `mpp wallet show`: best effort, never an error.

A wallet listing must work offline, so every failure (an RPC that does not answer within a few
seconds, a bad URL, no RPC client in this build) becomes a note next to `balances: null`
instead of an exit code. Shown: SOL, and the token accounts (ATAs) that exist for the known mints
of the cluster the RPC serves (recognised by its genesis hash) plus the mints of this wallet's
local channels (how the localnet test stablecoin, created at run time, gets listed).
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mppcli.errors import MppError
from mppcli.paths import Paths
from mppcli.protocol.amounts import format_amount

if TYPE_CHECKING:
    from solders.pubkey import Pubkey

RPC_TIMEOUT = 8.0
SOL_DECIMALS = 9
TOKEN_AMOUNT_OFFSET = 64  # SPL Token and Token-2022 accounts: mint(32) ‖ owner(32) ‖ amount u64 LE

Balance = dict[str, Any]


@dataclass(frozen=True)
class _Mint:
    address: str
    symbol: str | None
    decimals: int
    token_program: str
    network: str | None


def fetch_balances(paths: Paths, rpc_url: Callable[[], str | None], pubkey: str,
                   warn: Callable[[str], None] | None = None) -> tuple[list[Balance] | None, str | None]:
    """(balances, None) when the RPC answered, else (None, why not).

    `rpc_url` is the caller's resolution of the setting (the wallet package does not read config),
    called here so that an unusable setting becomes the "why not" rather than an error.
    """
    if importlib.util.find_spec("mppcli.rpc") is None:
        return None, "unavailable: this mpp build has no RPC client"
    try:
        url = rpc_url()
        if not url:
            return None, "unavailable: no RPC URL configured"
        channel_mints = _channel_mints(paths, pubkey, warn)
        return asyncio.run(asyncio.wait_for(_query(url, pubkey, channel_mints), RPC_TIMEOUT)), None
    except TimeoutError:
        return None, f"unavailable: the RPC did not answer within {RPC_TIMEOUT:g} s"
    except MppError as exc:
        return None, f"unavailable: {exc.message}"


def _channel_mints(paths: Paths, payer: str, warn: Callable[[str], None] | None) -> list[_Mint]:
    from mppcli.state.store import ChannelStore

    records = ChannelStore(paths, warn=warn).list().records
    return [_Mint(r.mint, None, r.decimals, r.token_program, r.network) for r in records if r.payer == payer]


async def _query(url: str, owner: str, channel_mints: Sequence[_Mint]) -> list[Balance]:
    from solders.pubkey import Pubkey

    from mppcli.rpc import Rpc

    owner_key = Pubkey.from_string(owner)
    async with Rpc(url, timeout=RPC_TIMEOUT) as rpc:
        lamports = await rpc.balance(owner_key)
        info = await rpc.ledger_info()  # the embedded ledger names its test stablecoin
        if info is not None:
            test_mint = _Mint(str(info["mint"]), str(info["symbol"]), int(info["decimals"]),
                              str(info["tokenProgram"]), "localnet")
            channel_mints = [test_mint, *channel_mints]
        mints = _mints_to_check(await rpc.genesis_hash(), channel_mints)
        accounts = await rpc.accounts([_ata(owner_key, m) for m in mints]) if mints else []
    balances = [_entry("SOL", None, lamports, SOL_DECIMALS)]
    for mint, account in zip(mints, accounts, strict=True):
        if account is not None and len(account[2]) >= TOKEN_AMOUNT_OFFSET + 8:
            amount = int.from_bytes(account[2][TOKEN_AMOUNT_OFFSET:TOKEN_AMOUNT_OFFSET + 8], "little")
            balances.append(_entry(mint.symbol, mint.address, amount, mint.decimals))
    return balances


def _mints_to_check(genesis_hash: str, channel_mints: Sequence[_Mint]) -> list[_Mint]:
    from mppcli.chain.networks import network_for_genesis

    network = network_for_genesis(genesis_hash)
    name = network.name if network else None
    known = [_Mint(str(m.address), m.symbol, m.decimals, str(m.token_program), name)
             for m in (network.mints if network else ())]
    seen = {m.address for m in known}
    for mint in channel_mints:
        if mint.address not in seen and (name is None or mint.network == name):
            known.append(mint)
            seen.add(mint.address)
    return known


def _ata(owner: Pubkey, mint: _Mint) -> Pubkey:
    from solders.pubkey import Pubkey

    from mppcli.chain.pda import associated_token_address

    return associated_token_address(owner, Pubkey.from_string(mint.address),
                                    Pubkey.from_string(mint.token_program))


def _entry(symbol: str | None, mint: str | None, amount: int, decimals: int) -> Balance:
    label = symbol
    if label is None and mint is not None:
        label = f"{mint[:4]}…{mint[-4:]}"
    return {"symbol": symbol, "mint": mint, "amount": str(amount), "decimals": decimals,
            "display": format_amount(amount, decimals, label)}
