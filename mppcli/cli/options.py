"""Option declarations shared by several commands (names and flags are fixed by CLI.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
RpcUrlOpt = Annotated[
    str | None,
    typer.Option("--url", "-u", "--rpc-url",
                 help="Solana RPC URL or moniker (mainnet-beta/m, devnet/d, localhost/l)."),
]
WalletOpt = Annotated[
    str | None, typer.Option("--wallet", "-w", help="Name of the keyring wallet to use.")
]
KeypairOpt = Annotated[
    Path | None,
    typer.Option("--keypair", "-k", help="Use a solana-keygen JSON keypair file instead of a wallet."),
]
