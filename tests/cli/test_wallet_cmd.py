"""`mpp wallet …` through the real command, against the real OS keyring."""

from __future__ import annotations

import json
import os
import pty
import select
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from solders.keypair import Keypair

from mppcli.wallet.keys import keypair_base58, keypair_json
from tests.support import mpp
from tests.wallet.keyring_support import real_keyring

__all__ = ["real_keyring"]
pytestmark = [pytest.mark.keyring, pytest.mark.usefixtures("real_keyring")]
NO_RPC = {"MPP_RPC_URL": "http://127.0.0.1:9"}  # a closed port: tests never reach a public cluster


def _new(home: Path, *args: str) -> dict[str, object]:
    run = mpp("--json", "wallet", "new", *args, home=home)
    assert run.exit_code == 0, run
    data: dict[str, object] = run.json
    return data


def test_new_list_show_default(mpp_home: Path) -> None:
    main = _new(mpp_home)
    bob = _new(mpp_home, "bob")
    assert main["name"] == "main" and main["default"] is True and bob["default"] is False
    listed = mpp("wallet", "list", "--json", home=mpp_home).json["wallets"]
    assert listed == [{"name": "main", "pubkey": main["pubkey"], "default": True},
                      {"name": "bob", "pubkey": bob["pubkey"], "default": False}]
    run = mpp("wallet", "default", "bob", "--json", home=mpp_home)
    assert run.exit_code == 0 and run.json == {"name": "bob"}
    shown = mpp("wallet", "show", "--json", home=mpp_home, env=NO_RPC).json
    assert shown["name"] == "bob" and shown["pubkey"] == bob["pubkey"] and shown["default"] is True
    assert "balances" in shown
    human = mpp("wallet", "list", home=mpp_home)
    assert human.exit_code == 0 and f"bob   {bob['pubkey']}  (default)" in human.stdout


def test_show_picks_mpp_wallet_and_reports_unknown_names(mpp_home: Path) -> None:
    _new(mpp_home)
    other = _new(mpp_home, "other")
    shown = mpp("wallet", "show", "--json", home=mpp_home, env={"MPP_WALLET": "other", **NO_RPC}).json
    assert shown["pubkey"] == other["pubkey"]
    run = mpp("--json", "wallet", "show", "ghost", home=mpp_home, env=NO_RPC)
    assert run.exit_code == 2 and run.json["error"]["code"] == "E_INPUT"


def test_show_without_balances_says_why(mpp_home: Path) -> None:
    _new(mpp_home)
    run = mpp("wallet", "show", "-u", "http://127.0.0.1:9", "--json", home=mpp_home)
    assert run.exit_code == 0, run
    assert run.json["balances"] is None and run.json["balancesNote"].startswith("unavailable")


def test_show_reads_balances_from_the_embedded_ledger(mpp_home: Path) -> None:
    from solders.pubkey import Pubkey

    from mppcli.ledger.runner import start_ledger

    owner = str(_new(mpp_home)["pubkey"])
    with start_ledger(None, port=0) as ledger:
        ledger.ledger.airdrop(Pubkey.from_string(owner), 1_500_000_000)
        run = mpp("wallet", "show", "-u", ledger.rpc_url, "--json", home=mpp_home)
        assert run.exit_code == 0, run
        # no token account yet: only SOL is shown
        assert run.json["balances"] == [{"symbol": "SOL", "mint": None, "amount": "1500000000",
                                         "decimals": 9, "display": "1.5 SOL"}]
        ledger.ledger.mint_test_tokens(Pubkey.from_string(owner), 2_500_000)
        # the embedded ledger names its test stablecoin (mpp_ledgerInfo), so it is shown by symbol
        run = mpp("wallet", "show", "-u", ledger.rpc_url, "--json", home=mpp_home)
    token = run.json["balances"][1]
    assert (token["mint"], token["amount"], token["decimals"]) == (ledger.mint, "2500000", 6)
    assert token["symbol"] == "USDC" and token["display"] == "2.5 USDC"


def test_import_from_file_stdin_json_and_stdin_base58(mpp_home: Path, tmp_path: Path) -> None:
    from_file, from_json, from_b58 = Keypair(), Keypair(), Keypair()
    key_file = tmp_path / "id.json"
    key_file.write_text(keypair_json(from_file))
    run = mpp("--json", "wallet", "import", "f", "--keypair", str(key_file), home=mpp_home)
    assert run.exit_code == 0 and run.json["pubkey"] == str(from_file.pubkey()), run
    run = mpp("--json", "wallet", "import", "j", "--stdin", home=mpp_home, input=keypair_json(from_json))
    assert run.exit_code == 0 and run.json["pubkey"] == str(from_json.pubkey()), run
    run = mpp("--json", "wallet", "import", "b", "--stdin", home=mpp_home,
              input=keypair_base58(from_b58) + "\n")
    assert run.exit_code == 0 and run.json["pubkey"] == str(from_b58.pubkey()), run
    assert run.json["name"] == "b"


def test_import_refuses_a_mismatched_public_key(mpp_home: Path) -> None:
    raw = bytearray(bytes(Keypair()))
    raw[32:] = bytes(Keypair().pubkey())
    text = json.dumps(list(raw))
    run = mpp("--json", "wallet", "import", "x", "--stdin", home=mpp_home, input=text)
    assert run.exit_code == 2, run
    assert run.json["error"]["code"] == "E_INPUT"
    assert "does not match its secret key" in run.json["error"]["message"]
    assert text not in run.stdout + run.stderr
    assert mpp("--json", "wallet", "list", home=mpp_home).json["wallets"] == []


def test_import_needs_exactly_one_source(mpp_home: Path) -> None:
    run = mpp("--json", "wallet", "import", "x", home=mpp_home)
    assert run.exit_code == 2 and run.json["error"]["code"] == "E_USAGE"


def test_export_needs_yes_without_a_terminal(mpp_home: Path) -> None:
    _new(mpp_home)
    run = mpp("--json", "wallet", "export", "main", home=mpp_home)
    assert run.exit_code == 5, run
    assert run.json["error"]["code"] == "E_CONFIRMATION_REQUIRED"
    assert "keypair" not in run.json


def test_export_forms(mpp_home: Path, tmp_path: Path) -> None:
    main = _new(mpp_home)
    bare = mpp("wallet", "export", "main", "--yes", home=mpp_home)
    assert bare.exit_code == 0, bare
    numbers = json.loads(bare.stdout)
    assert len(numbers) == 64 and str(Keypair.from_bytes(bytes(numbers)).pubkey()) == main["pubkey"]
    as_json = mpp("--json", "wallet", "export", "main", "--yes", home=mpp_home).json
    assert as_json == {"name": "main", "pubkey": main["pubkey"], "keypair": numbers}
    out = tmp_path / "backup.json"
    run = mpp("--json", "wallet", "export", "main", "--yes", "--out", str(out), home=mpp_home)
    assert run.exit_code == 0 and run.json["path"] == str(out), run
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert json.loads(out.read_text()) == numbers
    again = mpp("--json", "wallet", "export", "main", "--yes", "--out", str(out), home=mpp_home)
    assert again.exit_code == 2 and "already exists" in again.json["error"]["message"]


def test_remove_asks_then_deletes_the_key(mpp_home: Path) -> None:
    _new(mpp_home, "gone")
    run = mpp("--json", "wallet", "remove", "gone", home=mpp_home)
    assert run.exit_code == 5 and run.json["error"]["code"] == "E_CONFIRMATION_REQUIRED"
    run = mpp("--json", "wallet", "remove", "gone", "--yes", home=mpp_home)
    assert run.exit_code == 0 and run.json == {"name": "gone"}, run
    assert mpp("--json", "wallet", "list", home=mpp_home).json["wallets"] == []
    run = mpp("--json", "wallet", "export", "gone", "--yes", home=mpp_home)
    assert run.exit_code == 2


def test_remove_refuses_a_wallet_that_pays_a_live_channel(mpp_home: Path) -> None:
    from mppcli.paths import resolve_paths
    from mppcli.state.record import ChannelStatus
    from mppcli.state.store import ChannelStore
    from tests.state.factory import make_record

    payer = _new(mpp_home)
    store = ChannelStore(resolve_paths({"MPP_HOME": str(mpp_home)}))
    record = store.create(make_record(payer=str(payer["pubkey"]), status=ChannelStatus.OPEN))
    run = mpp("--json", "wallet", "remove", "main", "--yes", home=mpp_home)
    assert run.exit_code == 5 and record.channel_id in run.json["error"]["message"], run
    run = mpp("--json", "wallet", "remove", "main", "--yes", "--force", home=mpp_home)
    assert run.exit_code == 0, run


def test_list_works_without_a_keyring(mpp_home: Path) -> None:
    created = _new(mpp_home)
    run = mpp("--json", "wallet", "list", home=mpp_home,
              env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert run.exit_code == 0 and run.json["wallets"][0]["pubkey"] == created["pubkey"], run


@pytest.mark.parametrize(("answer", "exit_code"), [("y", 0), ("n", 5)])
def test_export_asks_on_a_terminal(mpp_home: Path, answer: str, exit_code: int) -> None:
    created = _new(mpp_home)
    code, stdout, prompt = _on_terminal(mpp_home, answer, "wallet", "export", "main")
    assert "Export the SECRET key of wallet 'main'" in prompt
    assert code == exit_code, (stdout, prompt)
    if answer == "y":
        assert stdout.startswith("[")  # the prompt went to the terminal, not into the payload
        numbers = json.loads(stdout)
        assert str(Keypair.from_bytes(bytes(numbers)).pubkey()) == created["pubkey"]
    else:
        assert stdout == "" and "cancelled" in prompt


def _on_terminal(home: Path, answer: str, *args: str) -> tuple[int, str, str]:
    """Run mpp with stdin and stderr on a pseudo-terminal; answer its prompt; return its streams."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["MPP_HOME"] = str(home)
    proc = subprocess.Popen([sys.executable, "-m", "mppcli", *args], stdin=slave, stderr=slave,
                            stdout=subprocess.PIPE, env=env)
    os.close(slave)
    seen = _read_until(master, b"[y/N]:")
    os.write(master, answer.encode() + b"\n")
    stdout, _ = proc.communicate(timeout=60)
    seen += _read_until(master, None)
    os.close(master)
    return proc.returncode, stdout.decode(), seen.decode(errors="replace")


def _read_until(fd: int, marker: bytes | None, timeout: float = 30) -> bytes:
    data, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline and (marker is None or marker not in data):
        ready, _, _ = select.select([fd], [], [], 0.2 if marker is None else 1)
        if not ready:
            if marker is None:
                break
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data
