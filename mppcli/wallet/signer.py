"""Which key pays: `resolve_payer` for every paying command.

Order (most explicit first): `-k/--keypair FILE` when given; else the wallet named by
`-w/--wallet`, then `MPP_WALLET`, then `wallet` in config.toml (`mppcli.config`), then the wallet
marked default. The answer says where the key came from (`source`), because a payment summary
must show it: silently spending from some file is how users lose funds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mppcli.errors import ConfigError
from mppcli.paths import Paths
from mppcli.wallet.keypair_file import is_private, read_keypair_file
from mppcli.wallet.keystore import Keystore

if TYPE_CHECKING:
    from solders.keypair import Keypair
    from solders.pubkey import Pubkey


@dataclass(frozen=True)
class Payer:
    """A payer key and where it came from (`keypair` is excluded from repr on purpose)."""

    keypair: Keypair = field(repr=False)
    source: str
    wallet: str | None = None
    path: Path | None = None
    warnings: tuple[str, ...] = ()

    @property
    def pubkey(self) -> Pubkey:
        return self.keypair.pubkey()


def resolve_payer(paths: Paths, wallet: str | None = None, keypair_path: Path | None = None, *,
                  environ: Mapping[str, str] | None = None,
                  keystore: Keystore | None = None) -> Payer:
    """The payer for a command: `-k`, else the `wallet` setting, else the default wallet."""
    if keypair_path is not None:
        return _from_file(keypair_path)
    from mppcli.config import load_settings

    setting = load_settings(paths, os.environ if environ is None else environ, {"wallet": wallet}).wallet
    store = keystore or Keystore(paths)
    if setting.value:
        return _from_wallet(store, setting.value, f"wallet {setting.value!r} ({_SOURCES[setting.source]})")
    default = store.default()
    if default is None:
        raise ConfigError("no wallet to pay with",
                          hint="Create one with `mpp wallet new`, pick one with -w NAME or MPP_WALLET, "
                               "or use a keypair file with -k/--keypair FILE.")
    return _from_wallet(store, default.name, f"default wallet {default.name!r}")


_SOURCES = {"flag": "--wallet", "env": "MPP_WALLET", "config": "config.toml", "default": "default"}


def _from_wallet(store: Keystore, name: str, source: str) -> Payer:
    return Payer(store.keypair(name), source, wallet=name)


def _from_file(path: Path) -> Payer:
    keypair = read_keypair_file(path)
    resolved = path.expanduser().resolve()
    warnings = () if is_private(resolved) else (
        f"keypair file {resolved} is readable by other users (chmod 600 it)",)
    return Payer(keypair, f"keypair file {resolved}", path=resolved, warnings=warnings)
