"""Keystore against the real OS keyring (a private Secret Service in CI)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from solders.keypair import Keypair

from mppcli.errors import InputError, KeyringError
from mppcli.paths import Paths, resolve_paths
from mppcli.wallet.keys import keypair_base58
from mppcli.wallet.keystore import Keystore
from mppcli.wallet.secret_store import SecretStore

pytestmark = [pytest.mark.keyring, pytest.mark.usefixtures("real_keyring")]


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return resolve_paths({"MPP_HOME": str(tmp_path / "home")})


@pytest.fixture
def keystore(paths: Paths) -> Iterator[Keystore]:
    store = Keystore(paths)
    yield store
    for wallet in store.list():  # leave nothing behind in the keyring
        store.remove(wallet.name)


def test_first_wallet_is_the_default_and_its_key_is_in_the_keyring(keystore: Keystore, paths: Paths) -> None:
    main = keystore.create()
    second = keystore.create()
    assert (main.name, main.default) == ("main", True)
    assert (second.name, second.default) == ("wallet-2", False)
    assert [w.name for w in keystore.list()] == ["main", "wallet-2"]
    secret = SecretStore(paths.keyring_service).get("wallet:main")
    assert secret is not None
    assert str(keystore.keypair("main").pubkey()) == main.pubkey
    assert keypair_base58(keystore.keypair("main")) == secret


def test_default_can_move_and_removal_clears_it(keystore: Keystore, paths: Paths) -> None:
    keystore.create("a")
    keystore.create("b", make_default=True)
    assert keystore.default().name == "b"  # type: ignore[union-attr]
    keystore.set_default("a")
    assert keystore.default().name == "a"  # type: ignore[union-attr]
    keystore.remove("a")
    assert keystore.default() is None
    assert SecretStore(paths.keyring_service).get("wallet:a") is None
    with pytest.raises(InputError, match="no wallet named 'a'"):
        keystore.keypair("a")


def test_import_keeps_the_exact_key_and_refuses_duplicates(keystore: Keystore) -> None:
    keypair = Keypair()
    info = keystore.import_secret("imported", bytes(keypair))
    assert info.pubkey == str(keypair.pubkey())
    assert bytes(keystore.keypair("imported")) == bytes(keypair)
    with pytest.raises(InputError, match="already wallet 'imported'"):
        keystore.import_secret("again", bytes(keypair))
    with pytest.raises(InputError, match="already exists"):
        keystore.create("imported")
    with pytest.raises(InputError, match="invalid wallet name"):
        keystore.create("../evil")


def test_an_unlisted_key_in_the_keyring_is_never_overwritten(keystore: Keystore, paths: Paths) -> None:
    secrets = SecretStore(paths.keyring_service)
    orphan = keypair_base58(Keypair())
    secrets.set("wallet:lost", orphan)
    try:
        with pytest.raises(KeyringError, match="that mpp does not list"):
            keystore.create("lost")
        assert secrets.get("wallet:lost") == orphan
        assert [w.name for w in keystore.list()] == []
    finally:
        secrets.delete("wallet:lost")


def test_a_keyring_entry_holding_another_key_is_detected(keystore: Keystore, paths: Paths) -> None:
    keystore.create("w")
    SecretStore(paths.keyring_service).set("wallet:w", keypair_base58(Keypair()))
    with pytest.raises(KeyringError, match="holds a different key"):
        keystore.keypair("w")


def test_a_missing_keyring_entry_is_a_keyring_error(keystore: Keystore, paths: Paths) -> None:
    keystore.create("w")
    SecretStore(paths.keyring_service).delete("wallet:w")
    with pytest.raises(KeyringError, match="missing from the OS keyring"):
        keystore.keypair("w")


def test_session_keys_live_only_in_the_keyring(keystore: Keystore, paths: Paths) -> None:
    session = keystore.new_session_key()
    pubkey = str(session.pubkey())
    assert bytes(keystore.session_key(pubkey)) == bytes(session)
    assert keystore.delete_session_key(pubkey) is True
    assert keystore.delete_session_key(pubkey) is False
    with pytest.raises(KeyringError, match="missing"):
        keystore.session_key(pubkey)
    files = [p for p in Path(paths.home_override or "/nonexistent").rglob("*") if p.is_file()]
    assert all(keypair_base58(session) not in p.read_text() for p in files)


def test_homes_do_not_share_keyring_entries(tmp_path: Path) -> None:
    one = Keystore(resolve_paths({"MPP_HOME": str(tmp_path / "one")}))
    two = Keystore(resolve_paths({"MPP_HOME": str(tmp_path / "two")}))
    one.create("main")
    try:
        assert two.list() == ()
        assert two.secrets.get("wallet:main") is None
        assert one.secrets.service != two.secrets.service
    finally:
        one.remove("main")


def test_the_wallet_list_file_holds_public_data_only(keystore: Keystore, paths: Paths) -> None:
    info = keystore.create("main")
    doc = json.loads((paths.config_dir / "wallets.json").read_text())
    assert doc == {"version": 1, "default": "main",
                   "wallets": [{"name": "main", "pubkey": info.pubkey,
                                "createdAt": doc["wallets"][0]["createdAt"]}]}
