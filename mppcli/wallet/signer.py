"""A payer key and where it came from: from a keypair file, a named wallet, or the default wallet.

`mppcli.payer.resolve_payer` picks among these for every paying command (it reads the `wallet`
setting through `mppcli.config`; this module does not, so the wallet package never reaches up to
config). The answer says where the key came from (`source`), because a payment summary must show
it: silently spending from some file is how users lose funds.
"""

from __future__ import annotations

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


def payer_from_wallet(paths: Paths, wallet: str | None, wallet_source: str,
                      keystore: Keystore | None = None) -> Payer:
    """The wallet the `wallet` setting names (`wallet_source`: flag/env/config), else the default one."""
    store = keystore or Keystore(paths)
    if wallet:
        return _from_wallet(store, wallet, f"wallet {wallet!r} ({_SOURCES[wallet_source]})")
    default = store.default()
    if default is None:
        raise ConfigError("no wallet to pay with",
                          hint="Create one with `mpp wallet new`, pick one with -w NAME or MPP_WALLET, "
                               "or use a keypair file with -k/--keypair FILE.")
    return _from_wallet(store, default.name, f"default wallet {default.name!r}")


_SOURCES = {"flag": "--wallet", "env": "MPP_WALLET", "config": "config.toml", "default": "default"}


def _from_wallet(store: Keystore, name: str, source: str) -> Payer:
    return Payer(store.keypair(name), source, wallet=name)


def payer_from_file(path: Path) -> Payer:
    keypair = read_keypair_file(path)
    resolved = path.expanduser().resolve()
    warnings = () if is_private(resolved) else (
        f"keypair file {resolved} is readable by other users (chmod 600 it)",)
    return Payer(keypair, f"keypair file {resolved}", path=resolved, warnings=warnings)
