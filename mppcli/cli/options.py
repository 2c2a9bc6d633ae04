"""Option declarations shared by several commands (names and flags are fixed by CLI.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# Shell completion (#14 item 12): each runs on Tab, so it reads only local files (no keyring, no
# network) and imports what it needs when called.

def complete_moniker(incomplete: str) -> list[str]:
    """`-u` monikers (an URL is typed in full)."""
    names = ("mainnet-beta", "devnet", "testnet", "localhost", "m", "d", "t", "l")
    return [name for name in names if name.startswith(incomplete)]


def complete_wallet(incomplete: str) -> list[str]:
    """Wallet names from the wallet index (wallets.json)."""
    from mppcli.paths import resolve_paths
    from mppcli.wallet.index import WalletIndex

    try:
        names = [w.name for w in WalletIndex(resolve_paths()).read().listed()]
    except Exception:  # a broken index must not break the shell
        return []
    return [name for name in names if name.startswith(incomplete)]


def complete_channel(incomplete: str) -> list[str]:
    """Channel ids of the local records (open and closing ones first)."""
    from mppcli.paths import resolve_paths
    from mppcli.state.store import ChannelStore

    try:
        records = ChannelStore(resolve_paths(), warn=lambda _m: None).list(include_closed=True).records
    except Exception:
        return []
    live = [r.channel_id for r in records if r.is_live]
    rest = [r.channel_id for r in records if not r.is_live]
    return [cid for cid in (*live, *rest) if cid.startswith(incomplete)]


def complete_signer(incomplete: str) -> list[str]:
    return [name for name in ("session", "payer") if name.startswith(incomplete)]


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
RpcUrlOpt = Annotated[
    str | None,
    typer.Option("--url", "-u", "--rpc-url", autocompletion=complete_moniker,
                 help="Solana RPC URL or moniker (mainnet-beta/m, devnet/d, localhost/l)."),
]
WalletOpt = Annotated[
    str | None, typer.Option("--wallet", "-w", autocompletion=complete_wallet,
                             help="Name of the keyring wallet to use.")
]
KeypairOpt = Annotated[
    Path | None,
    typer.Option("--keypair", "-k", help="Use a solana-keygen JSON keypair file instead of a wallet."),
]
