"""Human forms of amounts and times: token units with the token's symbol, local ISO 8601 times.

JSON keeps base-unit strings and unix numbers (CLI.md); everything a person reads goes through
here, so no human line shows base units, a raw timestamp, or Python's `None`.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mppcli.state.record import ChannelRecord

NOTHING = "-"


def symbol_of(network: str, mint: str) -> str | None:
    """The symbol of a known mint on `network` (the localnet test stablecoin included), else None."""
    from mppcli.chain.networks import NETWORKS

    known = NETWORKS[network].mint(mint) if network in NETWORKS else None
    if known is not None:
        return known.symbol
    if network == "localnet":
        from mppcli.ledger.genesis import TEST_MINT, TEST_MINT_SYMBOL

        if mint == str(TEST_MINT):
            return str(TEST_MINT_SYMBOL)
    return None


def with_symbols(text: str) -> str:
    """`text` with each known mint address written as its symbol (`of USDC`, not `of EPjF…`)."""
    import re

    def symbol(match: re.Match[str]) -> str:
        address = match.group(0)
        for network in ("mainnet", "devnet", "localnet"):
            known = symbol_of(network, address)
            if known:
                return known
        return address

    return re.sub(r"\b[1-9A-HJ-NP-Za-km-z]{32,44}\b", symbol, text)


def token_text(amount: int, decimals: int, network: str, mint: str) -> str:
    """`0.25 USDC`; for a mint with no known symbol, `0.25 (mint EPjF…Dt1v)`."""
    from mppcli.protocol.amounts import format_amount

    symbol = symbol_of(network, mint)
    shown = format_amount(amount, decimals)
    return f"{shown} {symbol}" if symbol else f"{shown} (mint {mint[:4]}…{mint[-4:]})"


def record_amount(record: ChannelRecord, amount: int) -> str:
    """An amount of this channel's token, in token units with its symbol."""
    return token_text(amount, record.decimals, record.network, record.mint)


def local_time(unix: float | int | None) -> str:
    """Unix seconds as local ISO 8601 with its offset (`2026-12-06T21:05:03+01:00`); `-` for none."""
    if unix is None or unix == 0:
        return NOTHING
    return datetime.datetime.fromtimestamp(float(unix)).astimezone().isoformat(timespec="seconds")


def plain(value: object) -> str:
    """Any other value for a human line: `-` instead of None, JSON for structures."""
    if value is None:
        return NOTHING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str | int | float):
        return str(value)
    from mppcli.cli.jsontext import dumps

    return dumps(value)
