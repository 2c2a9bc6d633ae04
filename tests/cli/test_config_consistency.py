"""#14 item 17: the default wallet has one home, and a `[serve]` table never breaks `mpp config`."""

from __future__ import annotations

from pathlib import Path

import pytest
from solders.keypair import Keypair

from tests.support import mpp
from tests.wallet.keyring_support import real_keyring

__all__ = ["real_keyring"]
NO_RPC = {"MPP_RPC_URL": "http://127.0.0.1:9"}


def _new(home: Path, name: str) -> str:
    run = mpp("--json", "wallet", "new", name, home=home)
    assert run.exit_code == 0, run
    return str(run.json["pubkey"])


def _signer(home: Path) -> str:
    """Who pays: `voucher sign` on a channel this home does not know signs with the payer wallet."""
    run = mpp("--json", "voucher", "sign", "--channel", str(Keypair().pubkey()), "--amount", "1", home=home)
    assert run.exit_code == 0, run
    return str(run.json["signer"])


@pytest.mark.keyring
@pytest.mark.usefixtures("real_keyring")
def test_config_set_wallet_and_wallet_default_are_one_setting(mpp_home: Path) -> None:
    main, alice = _new(mpp_home, "main"), _new(mpp_home, "alice")
    assert mpp("config", "set", "wallet", "main", home=mpp_home).exit_code == 0
    assert mpp("wallet", "default", "alice", home=mpp_home).exit_code == 0
    listed = {w["name"]: w["default"] for w in mpp("--json", "wallet", "list", home=mpp_home).json["wallets"]}
    assert listed == {"main": False, "alice": True}
    assert mpp("config", "get", "wallet", home=mpp_home).stdout.strip() == "alice"
    assert _signer(mpp_home) == alice
    assert mpp("config", "set", "wallet", "main", home=mpp_home).exit_code == 0  # and the other way round
    assert mpp("config", "get", "wallet", home=mpp_home).stdout.strip() == "main"
    assert _signer(mpp_home) == main
    config_file = mpp_home / "config" / "config.toml"
    assert not config_file.exists() or "wallet" not in config_file.read_text()


@pytest.mark.keyring
@pytest.mark.usefixtures("real_keyring")
def test_a_wallet_key_left_in_config_toml_does_not_override_the_default(mpp_home: Path) -> None:
    _new(mpp_home, "main")
    alice = _new(mpp_home, "alice")
    assert mpp("wallet", "default", "alice", home=mpp_home).exit_code == 0
    (mpp_home / "config").mkdir(exist_ok=True)
    (mpp_home / "config" / "config.toml").write_text('wallet = "main"\n')
    assert _signer(mpp_home) == alice
    listed = mpp("--json", "config", "list", home=mpp_home).json["settings"]
    assert {s["key"]: s["value"] for s in listed}["wallet"] == "alice"


README_SERVE_TABLE = '[serve]\nprice = "0.02"\nchunk-price = "0.002"\n'


def test_a_serve_table_leaves_config_list_and_doctor_working(mpp_home: Path) -> None:
    (mpp_home / "config").mkdir()
    path = mpp_home / "config" / "config.toml"
    path.write_text('max_spend = "2"\n' + README_SERVE_TABLE)
    listed = mpp("--json", "config", "list", home=mpp_home)
    assert listed.exit_code == 0, listed
    assert {s["key"]: s["value"] for s in listed.json["settings"]}["max_spend"] == "2"
    doctor = mpp("--json", "doctor", "--timeout", "0.5", home=mpp_home, env=NO_RPC)
    assert doctor.json["config"]["status"] == "ok", doctor.json["config"]


def test_config_unset_serve_keeps_the_users_settings(mpp_home: Path) -> None:
    (mpp_home / "config").mkdir()
    path = mpp_home / "config" / "config.toml"
    path.write_text(README_SERVE_TABLE)
    run = mpp("--json", "config", "unset", "serve", home=mpp_home)
    assert run.exit_code == 2, run
    assert run.json["error"]["code"] == "E_CONFIG" and "[serve]" in run.json["error"]["message"]
    assert path.read_text() == README_SERVE_TABLE
    assert mpp("config", "set", "confirm", "always", home=mpp_home).exit_code == 0
    assert 'price = "0.02"' in path.read_text()  # set keeps the table too
