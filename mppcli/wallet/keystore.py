"""`Keystore`: named payer wallets and per-channel session keys, secrets in the OS keyring only.

Keyring layout, under the service `Paths.keyring_service` (distinct per MPP_HOME):
- `wallet:<name>`: the base58 64-byte keypair of a payer wallet;
- `session:<pubkey>`: the keypair of a channel's delegated authorizedSigner, created before the
  channel opens (the channel id depends on it) and deleted when the channel is closed/forgotten.
Names, public keys and the default live in `WalletIndex` (a public file).

    ks = Keystore(paths)
    info = ks.create("main")            # first wallet becomes the default
    payer = ks.keypair("main")          # solders Keypair, checked against the listed pubkey
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from mppcli.errors import InputError, KeyringError, MalformedError
from mppcli.paths import Paths
from mppcli.protocol.base58 import b58decode
from mppcli.wallet.index import IndexState, WalletIndex, WalletInfo, check_name
from mppcli.wallet.keys import keypair_base58, keypair_from_secret
from mppcli.wallet.secret_store import SecretStore

if TYPE_CHECKING:
    from solders.keypair import Keypair

FIRST_NAME = "main"


class Keystore:
    """Wallets and session keys of one mpp installation (one MPP_HOME)."""

    def __init__(self, paths: Paths, *, secrets: SecretStore | None = None,
                 clock: Callable[[], float] = time.time):
        self.index = WalletIndex(paths, clock)
        self.secrets = secrets or SecretStore(paths.keyring_service)

    # -- the public list -----------------------------------------------------------------------

    def list(self) -> tuple[WalletInfo, ...]:
        return self.index.read().listed()

    def get(self, name: str) -> WalletInfo:
        found = next((w for w in self.list() if w.name == name), None)
        if found is None:
            raise InputError(f"no wallet named {name!r}",
                             hint="`mpp wallet list` shows your wallets; `mpp wallet new` makes one.")
        return found

    def default(self) -> WalletInfo | None:
        return next((w for w in self.list() if w.default), None)

    def set_default(self, name: str) -> WalletInfo:
        with self.index.change() as change:
            _require(change.state, name)
            change.set(replace(change.state, default=name))
        return self.get(name)

    # -- wallets -------------------------------------------------------------------------------

    def create(self, name: str | None = None, *, make_default: bool = False) -> WalletInfo:
        """A fresh keypair stored as wallet `name` (a free name is picked when None)."""
        from solders.keypair import Keypair

        return self._add(name, Keypair(), make_default)

    def import_secret(self, name: str, secret64: bytes, *, make_default: bool = False) -> WalletInfo:
        """Store an existing 64-byte keypair (checked) as wallet `name`."""
        try:
            keypair = keypair_from_secret(secret64)
        except MalformedError as exc:
            raise InputError(str(exc)) from None
        return self._add(check_name(name), keypair, make_default)

    def keypair(self, name: str) -> Keypair:
        info = self.get(name)
        keypair = self._load(f"wallet:{name}", f"wallet {name!r}")
        if str(keypair.pubkey()) != info.pubkey:
            raise KeyringError(f"the keyring entry of wallet {name!r} holds a different key "
                               f"({keypair.pubkey()}) than the wallet list ({info.pubkey})",
                               hint="Remove the wallet and import the right keypair again.")
        return keypair

    def remove(self, name: str) -> WalletInfo:
        """Delete the wallet's key from the keyring, then from the list."""
        with self.index.change() as change:
            info = _require(change.state, name)
            self.secrets.delete(f"wallet:{name}")
            wallets = tuple(w for w in change.state.wallets if w.name != name)
            default = None if change.state.default == name else change.state.default
            change.set(IndexState(wallets, default))
        return info

    def _add(self, name: str | None, keypair: Keypair, make_default: bool) -> WalletInfo:
        pubkey = str(keypair.pubkey())
        stored: str | None = None
        try:
            with self.index.change() as change:
                state = change.state
                name = check_name(name) if name else _free_name(state)
                _refuse_duplicate(state, name, pubkey)
                self._store_new(f"wallet:{name}", keypair, f"wallet {name!r}")
                stored = name
                info = WalletInfo(name, pubkey, created_at=self.index.now())
                default = name if make_default or state.default is None else state.default
                change.set(IndexState((*state.wallets, info), default))
        except BaseException:
            if stored is not None:  # the list was not written: do not leave an unlisted key
                self.secrets.delete(f"wallet:{stored}")
            raise
        return self.get(name)

    # -- session keys --------------------------------------------------------------------------

    def new_session_key(self) -> Keypair:
        """A fresh keypair for a channel's authorizedSigner, stored before it is ever used."""
        from solders.keypair import Keypair

        keypair = Keypair()
        self._store_new(f"session:{keypair.pubkey()}", keypair, "the session key")
        return keypair

    def session_key(self, pubkey: str) -> Keypair:
        keypair = self._load(f"session:{pubkey}", f"session key {pubkey}")
        if str(keypair.pubkey()) != pubkey:
            raise KeyringError(f"the keyring entry of session key {pubkey} holds another key")
        return keypair

    def delete_session_key(self, pubkey: str) -> bool:
        """Remove a session key; False when the keyring had none."""
        return self.secrets.delete(f"session:{pubkey}")

    # -- keyring entries -----------------------------------------------------------------------

    def _store_new(self, account: str, keypair: Keypair, what: str) -> None:
        if self.secrets.get(account) is not None:
            raise KeyringError(f"the OS keyring already holds a key for {what} that mpp does not "
                               f"list (service {self.secrets.service!r}, account {account!r})",
                               hint="Choose another name; mpp never overwrites a key.")
        secret = keypair_base58(keypair)
        self.secrets.set(account, secret)
        if self.secrets.get(account) != secret:
            raise KeyringError(f"the OS keyring did not keep {what} (read-back differs)")

    def _load(self, account: str, what: str) -> Keypair:
        secret = self.secrets.get(account)
        if secret is None:
            raise KeyringError(f"the key of {what} is missing from the OS keyring "
                               f"(service {self.secrets.service!r}, account {account!r})",
                               hint="Is this the same user and keyring (and MPP_HOME) that created it?")
        try:
            return keypair_from_secret(b58decode(secret))
        except MalformedError:
            raise KeyringError(f"the keyring entry of {what} is damaged") from None


def _require(state: IndexState, name: str) -> WalletInfo:
    found = state.find(name)
    if found is None:
        raise InputError(f"no wallet named {name!r}",
                         hint="`mpp wallet list` shows your wallets; `mpp wallet new` makes one.")
    return found


def _refuse_duplicate(state: IndexState, name: str, pubkey: str) -> None:
    if state.find(name) is not None:
        raise InputError(f"a wallet named {name!r} already exists", hint="Choose another name.")
    same = next((w for w in state.wallets if w.pubkey == pubkey), None)
    if same is not None:
        raise InputError(f"this keypair is already wallet {same.name!r} ({pubkey})")


def _free_name(state: IndexState) -> str:
    if state.find(FIRST_NAME) is None:
        return FIRST_NAME
    number = 2
    while state.find(f"wallet-{number}") is not None:
        number += 1
    return f"wallet-{number}"
