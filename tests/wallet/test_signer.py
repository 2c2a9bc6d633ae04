"""resolve_payer: -k wins, then --wallet, MPP_WALLET, config.toml, the default; source is shown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from solders.keypair import Keypair

from mppcli.errors import ConfigError, InputError
from mppcli.paths import Paths, resolve_paths
from mppcli.payer import resolve_payer
from mppcli.wallet.keypair_file import write_keypair_file
from mppcli.wallet.keystore import Keystore


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return resolve_paths({"MPP_HOME": str(tmp_path / "home")})


@pytest.fixture
def wallets(paths: Paths, real_keyring: None) -> Iterator[Keystore]:
    store = Keystore(paths)
    store.create("main")
    store.create("other")
    store.create("third")
    yield store
    for wallet in store.list():
        store.remove(wallet.name)


def test_a_keypair_file_wins_and_needs_no_keyring(paths: Paths, tmp_path: Path) -> None:
    keypair = Keypair()
    path = write_keypair_file(tmp_path / "id.json", keypair)
    payer = resolve_payer(paths, wallet="ignored", keypair_path=path, environ={"MPP_WALLET": "x"})
    assert payer.pubkey == keypair.pubkey()
    assert payer.source == f"keypair file {path.resolve()}" and payer.warnings == ()
    assert "keypair=" not in repr(payer) and str(keypair) not in repr(payer)


def test_a_readable_keypair_file_gets_a_warning(paths: Paths, tmp_path: Path) -> None:
    path = write_keypair_file(tmp_path / "id.json", Keypair())
    path.chmod(0o644)
    (warning,) = resolve_payer(paths, keypair_path=path).warnings
    assert "readable by other users" in warning


def test_a_bad_keypair_file_is_an_input_error(paths: Paths, tmp_path: Path) -> None:
    with pytest.raises(InputError):
        resolve_payer(paths, keypair_path=tmp_path / "missing.json")


@pytest.mark.keyring
def test_wallet_precedence_flag_env_config_default(wallets: Keystore, paths: Paths) -> None:
    def pubkey(name: str) -> str:
        return wallets.get(name).pubkey

    payer = resolve_payer(paths, environ={})
    assert (str(payer.pubkey), payer.source) == (pubkey("main"), "default wallet 'main'")
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text('wallet = "third"\n')  # ignored: the default wallet lives in one place
    payer = resolve_payer(paths, environ={})
    assert (str(payer.pubkey), payer.source) == (pubkey("main"), "default wallet 'main'")
    wallets.set_default("third")  # what `mpp config set wallet third` does (#14 item 17)
    payer = resolve_payer(paths, environ={})
    assert (str(payer.pubkey), payer.source) == (pubkey("third"), "default wallet 'third'")
    payer = resolve_payer(paths, environ={"MPP_WALLET": "other"})
    assert (str(payer.pubkey), payer.source) == (pubkey("other"), "wallet 'other' (MPP_WALLET)")
    payer = resolve_payer(paths, wallet="main", environ={"MPP_WALLET": "other"})
    assert (str(payer.pubkey), payer.source) == (pubkey("main"), "wallet 'main' (--wallet)")
    assert payer.wallet == "main"


@pytest.mark.keyring
def test_an_unknown_wallet_is_an_input_error(wallets: Keystore, paths: Paths) -> None:
    with pytest.raises(InputError, match="no wallet named 'nope'"):
        resolve_payer(paths, wallet="nope", environ={})


def test_no_wallet_at_all_says_what_to_do(paths: Paths) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_payer(paths, environ={})
    assert "mpp wallet new" in info.value.hint and "-k/--keypair" in info.value.hint
