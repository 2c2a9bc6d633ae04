"""`mpp localnet` and `mpp wallet airdrop`, run as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from solders.keypair import Keypair

from tests.support import mpp
from tests.wallet.keyring_support import real_keyring

__all__ = ["real_keyring"]
READY_KEYS = {"rpcUrl", "network", "genesisHash", "mint", "decimals", "tokenProgram"}


@contextmanager
def localnet(home: Path, *args: str) -> Iterator[dict[str, Any]]:
    """`mpp localnet --json --port 0 ARGS` in the background; yields its ready line; stops it with SIGTERM."""
    env = {**os.environ, "MPP_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "mppcli", "localnet", "--json", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line, proc.stderr.read()  # type: ignore[union-attr]
        yield json.loads(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        assert code == 0, proc.stderr.read()  # type: ignore[union-attr]


def _balance(url: str, owner: str) -> int:
    answer = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "getBalance", "params": [owner]},
                        timeout=30).json()
    return int(answer["result"]["value"])


def test_localnet_prints_its_ready_line_and_keeps_the_chain_across_restarts(mpp_home: Path,
                                                                          tmp_path: Path) -> None:
    directory = tmp_path / "ledger"
    someone = str(Keypair().pubkey())
    with localnet(mpp_home, "--ledger-dir", str(directory)) as ready:
        assert set(ready) >= READY_KEYS
        assert (ready["network"], ready["decimals"]) == ("localnet", 6)
        assert ready["tokenProgram"] == "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
        assert ready["rpcUrl"].startswith("http://127.0.0.1:")
        run = mpp("wallet", "airdrop", "2", "--to", someone, "-u", ready["rpcUrl"], "--json", home=mpp_home)
        assert run.exit_code == 0, run
        assert run.json["amount"] == "2000000000" and run.json["balances"][0]["amount"] == "2000000000"
        first_genesis = ready["genesisHash"]
    with localnet(mpp_home, "--ledger-dir", str(directory)) as again:
        assert again["genesisHash"] == first_genesis
        assert _balance(again["rpcUrl"], someone) == 2_000_000_000


def test_localnet_defaults_to_the_state_dir_and_refuses_a_second_ledger_on_it(mpp_home: Path) -> None:
    with localnet(mpp_home) as ready:
        assert ready["ledgerDir"] == str(mpp_home / "state" / "ledger")
        second = mpp("localnet", "--port", "0", "--json", home=mpp_home, timeout=60)
        assert second.exit_code == 6 and second.json["error"]["code"] == "E_BUSY"


def test_localnet_flag_errors(mpp_home: Path) -> None:
    both = mpp("localnet", "--ephemeral", "--ledger-dir", "x", "--json", home=mpp_home)
    assert both.exit_code == 2 and both.json["error"]["code"] == "E_USAGE"
    slow = mpp("localnet", "--ephemeral", "--speed", "0", "--json", home=mpp_home)
    assert slow.exit_code == 2 and slow.json["error"]["code"] == "E_USAGE"


def test_airdrop_of_the_test_stablecoin_creates_the_token_account(mpp_home: Path) -> None:
    someone = str(Keypair().pubkey())
    with localnet(mpp_home, "--ephemeral") as ready:
        run = mpp("wallet", "airdrop", "25", "--token", ready["mint"], "--to", someone, "-u", ready["rpcUrl"],
                  "--json", home=mpp_home)
        assert run.exit_code == 0, run
        assert (run.json["amount"], run.json["mint"]) == ("25000000", ready["mint"])
        usdc = [b for b in run.json["balances"] if b["mint"] == ready["mint"]]
        assert usdc == [{"symbol": "USDC", "mint": ready["mint"], "amount": "25000000", "decimals": 6,
                         "display": "25 USDC"}]
        by_symbol = mpp("wallet", "airdrop", "0.5", "--token", "usdc", "--to", someone, "-u", ready["rpcUrl"],
                        home=mpp_home)
        assert by_symbol.exit_code == 0 and "airdropped 0.5 USDC" in by_symbol.stdout


@pytest.mark.parametrize(("args", "code"), [
    (("1.0000000001",), "E_INPUT"),
    (("0",), "E_INPUT"),
    (("5", "--token", "XYZ"), "E_INPUT"),
])
def test_airdrop_input_errors(mpp_home: Path, args: tuple[str, ...], code: str) -> None:
    with localnet(mpp_home, "--ephemeral") as ready:
        to = str(Keypair().pubkey())
        run = mpp("wallet", "airdrop", *args, "--to", to, "-u", ready["rpcUrl"], "--json", home=mpp_home)
        assert run.exit_code == 2 and run.json["error"]["code"] == code


def test_airdrop_to_an_unreachable_rpc_is_an_rpc_error(mpp_home: Path) -> None:
    run = mpp("wallet", "airdrop", "1", "--to", str(Keypair().pubkey()), "-u", "http://127.0.0.1:9", "--json",
              home=mpp_home)
    assert run.exit_code == 3 and run.json["error"]["code"] == "E_RPC"


@pytest.mark.keyring
@pytest.mark.usefixtures("real_keyring")
def test_airdrop_funds_the_default_keyring_wallet(mpp_home: Path) -> None:
    created = mpp("wallet", "new", "payer", "--json", home=mpp_home)
    assert created.exit_code == 0, created
    with localnet(mpp_home, "--ephemeral") as ready:
        env = {"MPP_RPC_URL": ready["rpcUrl"]}
        sol = mpp("wallet", "airdrop", "--json", home=mpp_home, env=env)
        assert sol.exit_code == 0, sol
        assert sol.json["recipient"] == created.json["pubkey"] and sol.json["amount"] == "1000000000"
        usdc = mpp("wallet", "airdrop", "--token", "USDC", "-w", "payer", "--json", home=mpp_home, env=env)
        assert usdc.exit_code == 0, usdc
        assert {b["symbol"]: b["amount"] for b in usdc.json["balances"]} == {"SOL": "1000000000",
                                                                            "USDC": "100000000"}
