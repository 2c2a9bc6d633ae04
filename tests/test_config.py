"""config.toml, MPP_* variables and flags: precedence, sources, checks, and safe writes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from mppcli.chain import networks
from mppcli.config import RPC_MONIKERS, SPECS, load_settings, resolve_rpc_url, resolve_setting
from mppcli.errors import ConfigError, UsageError
from mppcli.paths import resolve_paths
from tests.support import mpp

DEVNET = "https://api.devnet.solana.com"
LOCAL = "http://127.0.0.1:8899"


def _settings(run) -> dict[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    assert run.exit_code == 0, run
    return {item["key"]: item for item in run.json["settings"]}


def test_fresh_home_lists_every_setting_with_its_default(mpp_home: Path) -> None:
    run = mpp("config", "list", "--json", home=mpp_home)
    settings = _settings(run)
    assert list(settings) == ["wallet", "rpc_url", "max_spend", "confirm", "output", "max_grace_period",
                             "allow_http", "budget"]
    assert {item["source"] for item in settings.values()} == {"default"}
    assert settings["rpc_url"]["value"] == "https://api.mainnet-beta.solana.com"
    assert settings["confirm"]["value"] == "first-open"
    assert settings["wallet"]["value"] is None
    assert run.json["configFile"] == str(mpp_home / "config" / "config.toml")
    assert not (mpp_home / "config").exists(), "reading must not create anything"


def test_set_writes_a_private_toml_file_and_get_reads_it_back(mpp_home: Path) -> None:
    run = mpp("config", "set", "rpc_url", "d", "--json", home=mpp_home)
    assert run.exit_code == 0, run
    assert run.json == {"key": "rpc_url", "value": DEVNET, "source": "config",
                        "configFile": str(mpp_home / "config" / "config.toml"), "overriddenBy": None}
    assert mpp("config", "set", "max_spend", "0.25", home=mpp_home).exit_code == 0
    path = mpp_home / "config" / "config.toml"
    assert tomllib.loads(path.read_text()) == {"rpc_url": DEVNET, "max_spend": "0.25"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    got = mpp("config", "get", "max_spend", home=mpp_home)
    assert (got.exit_code, got.stdout) == (0, "0.25\n"), got
    got = mpp("config", "get", "rpc-url", "--json", home=mpp_home)
    assert got.json == {"key": "rpc_url", "value": DEVNET, "source": "config"}


def test_environment_beats_config_and_set_warns_about_it(mpp_home: Path) -> None:
    assert mpp("config", "set", "rpc_url", DEVNET, home=mpp_home).exit_code == 0
    env = {"MPP_RPC_URL": "l", "MPP_CONFIRM": "never"}
    settings = _settings(mpp("config", "list", "--json", home=mpp_home, env=env))
    assert settings["rpc_url"] == {"key": "rpc_url", "value": LOCAL, "source": "env"}
    assert settings["confirm"] == {"key": "confirm", "value": "never", "source": "env"}
    run = mpp("config", "set", "rpc_url", "t", "--json", home=mpp_home, env=env)
    assert run.exit_code == 0, run
    assert run.json["overriddenBy"] == "MPP_RPC_URL"
    assert "MPP_RPC_URL" in run.stderr
    assert mpp("config", "get", "rpc_url", home=mpp_home, env=env).stdout.strip() == LOCAL
    assert mpp("config", "get", "rpc_url", home=mpp_home).stdout.strip() == RPC_MONIKERS["testnet"]


def test_flag_beats_environment_and_a_bad_flag_is_a_usage_error(mpp_home: Path) -> None:
    paths = resolve_paths({"MPP_HOME": str(mpp_home)})
    environ = {"MPP_RPC_URL": "devnet"}
    settings = load_settings(paths, environ, {"rpc_url": "l", "wallet": None})
    assert (settings.rpc_url.value, settings.rpc_url.source) == (LOCAL, "flag")
    assert (settings.wallet.value, settings.wallet.source) == (None, "default")
    assert resolve_setting(paths, environ, "rpc_url").source == "env"
    with pytest.raises(UsageError, match="rpc_url on the command line"):
        load_settings(paths, environ, {"rpc_url": "ftp://nope"})
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(paths, environ, {"colour": "red"})


@pytest.mark.parametrize(("moniker", "url"), [
    ("mainnet-beta", "https://api.mainnet-beta.solana.com"), ("m", "https://api.mainnet-beta.solana.com"),
    ("devnet", DEVNET), ("d", DEVNET), ("testnet", "https://api.testnet.solana.com"),
    ("t", "https://api.testnet.solana.com"), ("localhost", LOCAL), ("l", LOCAL),
    ("http://10.0.0.1:8899/rpc", "http://10.0.0.1:8899/rpc"), ("https://rpc.example", "https://rpc.example"),
])
def test_rpc_monikers_resolve_like_the_solana_cli(moniker: str, url: str) -> None:
    assert resolve_rpc_url(moniker) == url


@pytest.mark.parametrize("bad", ["", "devnett", "ftp://host", "http://", "localhost:8899", "https://a b"])
def test_rpc_values_that_are_neither_url_nor_moniker_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="moniker"):
        resolve_rpc_url(bad)


def test_config_monikers_agree_with_chain_networks() -> None:
    for moniker in networks.MONIKERS:
        assert resolve_rpc_url(moniker) == networks.network_for_moniker(moniker).rpc_url, moniker


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("confirm", "sometimes", "first-open, always, never"),
    ("output", "yaml", "text, json"),
    ("max_spend", "-1", "token units"),
    ("max_spend", "1e3", "token units"),
    ("max_spend", "0.5 USDC", "token units"),
    ("max_spend", "\u0665", "token units"),  # an Arabic-Indic five: a digit, not an ASCII one
    ("budget", "5/fortnight", "AMOUNT/PERIOD"),
    ("budget", "5", "AMOUNT/PERIOD"),
    ("budget", "\u0665/day", "AMOUNT/PERIOD"),
    ("rpc_url", "devnett", "moniker"),
    ("wallet", "has space", "invalid wallet name"),
])
def test_bad_values_are_refused_and_nothing_is_written(mpp_home: Path, key: str, value: str,
                                                       needle: str) -> None:
    assert mpp("config", "set", "confirm", "always", home=mpp_home).exit_code == 0
    before = (mpp_home / "config" / "config.toml").read_bytes()
    run = mpp("--json", "config", "set", "--", key, value, home=mpp_home)
    assert run.exit_code == 2, run
    assert run.json["error"]["code"] == "E_CONFIG"
    assert needle in run.json["error"]["message"]
    assert run.json["error"]["hint"].startswith(f"{key}: ")
    assert (mpp_home / "config" / "config.toml").read_bytes() == before


def test_unknown_key_on_the_command_line_suggests_the_right_one(mpp_home: Path) -> None:
    run = mpp("config", "get", "rpcurl", "--json", home=mpp_home)
    assert run.exit_code == 2, run
    assert run.json["error"]["code"] == "E_CONFIG"
    assert "Did you mean 'rpc_url'?" in run.json["error"]["hint"]


def test_unknown_key_in_the_file_fails_and_unset_repairs_it(mpp_home: Path) -> None:
    (mpp_home / "config").mkdir(mode=0o700)
    (mpp_home / "config" / "config.toml").write_text('confirm = "never"\nmax_spnd = "1"\n')
    run = mpp("config", "list", "--json", home=mpp_home)
    assert run.exit_code == 2, run
    assert run.json["error"]["code"] == "E_CONFIG"
    assert "max_spnd" in run.json["error"]["message"]
    assert "mpp config unset max_spnd" in run.json["error"]["hint"]
    assert mpp("config", "unset", "max_spnd", home=mpp_home).exit_code == 0
    settings = _settings(mpp("config", "list", "--json", home=mpp_home))
    assert settings["confirm"] == {"key": "confirm", "value": "never", "source": "config"}


def test_floats_in_the_file_are_refused_and_integers_are_token_amounts(mpp_home: Path) -> None:
    (mpp_home / "config").mkdir(mode=0o700)
    path = mpp_home / "config" / "config.toml"
    path.write_text("max_spend = 0.1\n")
    run = mpp("config", "get", "max_spend", "--json", home=mpp_home)
    assert run.exit_code == 2, run
    assert "Quote it" in run.json["error"]["hint"]
    path.write_text("max_spend = 2\n")
    assert mpp("config", "get", "max_spend", "--json", home=mpp_home).json["value"] == "2"


def test_broken_toml_is_a_config_error_naming_the_file(mpp_home: Path) -> None:
    (mpp_home / "config").mkdir(mode=0o700)
    (mpp_home / "config" / "config.toml").write_text("rpc_url = \n")
    run = mpp("config", "list", home=mpp_home)
    assert run.exit_code == 2, run
    assert "error[E_CONFIG]: cannot read" in run.stderr
    assert str(mpp_home / "config" / "config.toml") in run.stderr


def test_bad_environment_value_names_the_variable(mpp_home: Path) -> None:
    run = mpp("config", "list", "--json", home=mpp_home, env={"MPP_MAX_SPEND": "lots"})
    assert run.exit_code == 2, run
    assert run.json["error"]["message"].startswith("bad MPP_MAX_SPEND:")
    assert "unset MPP_MAX_SPEND" in run.json["error"]["hint"]


def test_unset_falls_back_to_the_default(mpp_home: Path) -> None:
    assert mpp("config", "set", "confirm", "never", home=mpp_home).exit_code == 0
    run = mpp("config", "unset", "confirm", "--json", home=mpp_home)
    assert run.json["removed"] is True
    assert mpp("config", "unset", "confirm", "--json", home=mpp_home).json["removed"] is False
    assert mpp("config", "get", "confirm", "--json", home=mpp_home).json["source"] == "default"


def test_rewrite_is_atomic_private_and_leaves_no_temp_files(mpp_home: Path) -> None:
    config_dir = mpp_home / "config"
    config_dir.mkdir(mode=0o755)
    path = config_dir / "config.toml"
    path.write_text('output = "text"\n')
    os.chmod(path, 0o644)
    inode = path.stat().st_ino
    assert mpp("config", "set", "confirm", "always", home=mpp_home).exit_code == 0
    assert path.stat().st_ino != inode, "the file is replaced, not rewritten in place"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
    assert sorted(p.name for p in config_dir.iterdir()) == ["config.toml"]
    assert tomllib.loads(path.read_text()) == {"output": "text", "confirm": "always"}


def test_output_json_setting_makes_json_the_default(mpp_home: Path) -> None:
    assert mpp("config", "set", "output", "json", home=mpp_home).exit_code == 0
    run = mpp("config", "get", "confirm", home=mpp_home)
    assert run.json == {"key": "confirm", "value": "first-open", "source": "default"}
    usage = mpp("no-such-command", home=mpp_home)
    assert (usage.exit_code, usage.json["error"]["code"]) == (2, "E_USAGE")
    text = mpp("config", "get", "confirm", home=mpp_home, env={"MPP_OUTPUT": "text"})
    assert text.stdout == "first-open\n"


def test_a_broken_config_does_not_stop_config_set_from_repairing_output(mpp_home: Path) -> None:
    (mpp_home / "config").mkdir(mode=0o700)
    (mpp_home / "config" / "config.toml").write_text('output = "json"\nconfirm = "maybe"\n')
    run = mpp("config", "set", "confirm", "never", home=mpp_home)
    assert run.exit_code == 0, run
    assert mpp("config", "get", "confirm", home=mpp_home).json["value"] == "never"


def test_every_setting_has_an_env_variable_and_help() -> None:
    for key, spec in SPECS.items():
        assert spec.env == "MPP_" + key.upper()
        assert spec.help
        if spec.default is not None:
            assert spec.check(spec.default) == spec.default


def test_config_module_imports_no_heavy_library() -> None:
    code = ("import sys, mppcli.config\n"
            "print(','.join(m for m in ('typer', 'rich', 'solana', 'solders', 'keyring', 'httpx', "
            "'tomli_w', 'platformdirs') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
