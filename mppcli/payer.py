"""Which key pays: `resolve_payer` for every paying command.

Order (most explicit first): `-k/--keypair FILE` when given (config.toml is then not even read);
else the wallet named by `-w/--wallet`, then `MPP_WALLET`, then `wallet` in config.toml
(`mppcli.config` resolves that setting), then the wallet marked default (`mppcli.wallet.signer`).
Here, above both, so the wallet package never imports config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from mppcli.config import load_settings
from mppcli.paths import Paths
from mppcli.wallet.keystore import Keystore
from mppcli.wallet.signer import Payer, payer_from_file, payer_from_wallet


def resolve_payer(paths: Paths, wallet: str | None = None, keypair_path: Path | None = None, *,
                  environ: Mapping[str, str] | None = None,
                  keystore: Keystore | None = None) -> Payer:
    """The payer for a command: `-k`, else the `wallet` setting, else the default wallet."""
    if keypair_path is not None:
        return payer_from_file(keypair_path)
    setting = load_settings(paths, os.environ if environ is None else environ, {"wallet": wallet}).wallet
    return payer_from_wallet(paths, setting.value, setting.source, keystore)
