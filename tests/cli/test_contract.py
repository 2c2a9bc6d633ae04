"""The user-facing contract of docs/CLI.md (shared/design/CLI.md), pinned.

(a) every command CLI.md lists exists with every flag and positional argument it lists, and takes
`--json`; (b) every failure kind CLI.md lists that can be provoked without a server (or with a
small one) exits with its documented code and names its documented error code in the JSON envelope.
E_BUSY on a paying flow, E_INTERRUPTED and E_PROTOCOL have their own tests next to the flows
(tests/cli/test_channels_cmd.py, tests/e2e/test_stream_cli.py, tests/client/test_hostile.py).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support import mpp

# command path -> (flags CLI.md lists, number of positional arguments CLI.md lists)
CONTRACT: dict[tuple[str, ...], tuple[tuple[str, ...], int]] = {
    ("wallet", "new"): (("--default",), 1),
    ("wallet", "import"): (("--keypair", "--stdin"), 1),
    ("wallet", "list"): ((), 0),
    ("wallet", "show"): ((), 1),
    ("wallet", "default"): ((), 1),
    ("wallet", "export"): (("--out", "--yes"), 1),
    ("wallet", "remove"): (("--yes",), 1),
    ("wallet", "airdrop"): (("--token", "-w", "--wallet", "-k", "--keypair", "-u", "--url"), 1),
    ("inspect",): (("-X", "-H", "-d"), 1),
    ("open",): (("--deposit", "--max-spend", "--idle-timeout", "--yes", "-u", "--url", "-k",
                 "--keypair", "-w", "--wallet"), 1),
    ("request",): (("-X", "-H", "-d", "--channel", "--max-spend", "--deposit", "-o", "-i", "-u",
                    "--url", "-k", "--keypair", "-w", "--wallet"), 1),
    ("stream",): (("-X", "-H", "-d", "--channel", "--max-spend", "--deposit", "--ndjson", "-u",
                   "--url", "-k", "--keypair", "-w", "--wallet"), 1),
    ("topup",): (("--yes",), 2),
    ("close",): (("--all", "--yes", "--force", "--finalize"), 1),
    ("channels", "list"): (("--all",), 0),
    ("channels", "show"): ((), 1),
    ("channels", "sync"): ((), 1),
    ("channels", "forget"): (("--yes",), 1),
    ("voucher", "sign"): (("--channel", "--amount", "--expires-at", "-w", "-k"), 0),
    ("voucher", "verify"): ((), 1),
    ("serve",): (("--host", "--port", "-u", "--network", "--operator-keypair", "--recipient",
                  "--currency", "--price", "--chunk-price", "--voucher-signer",
                  "--idle-timeout-options", "--grace-period", "--min-deposit", "--split", "--db",
                  "--secret-file"), 0),
    ("localnet",): (("--port",), 0),
    ("doctor",): ((), 0),
    ("completions",): ((), 1),
    ("config", "get"): ((), 1),
    ("config", "set"): ((), 2),
}
ROOT_FLAGS = ("--json", "--verbose", "-v", "--no-color", "--version")


def _tree() -> Any:
    import typer.main

    from mppcli.cli.root import app

    return typer.main.get_command(app)


def _leaves(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield path, command
        return
    for name, sub in subcommands.items():
        yield from _leaves(sub, (*path, name))


def _find(path: tuple[str, ...]) -> Any:
    command = _tree()
    for word in path:
        command = command.commands.get(word) if hasattr(command, "commands") else None
        assert command is not None, f"CLI.md lists `mpp {' '.join(path)}`; it does not exist"
    return command


@pytest.mark.parametrize("path", sorted(CONTRACT), ids=lambda p: " ".join(p))
def test_each_contract_command_takes_its_flags_and_arguments(path: tuple[str, ...]) -> None:
    flags, positionals = CONTRACT[path]
    command = _find(path)
    options = {o for p in command.params if p.param_type_name == "option"
               for o in (*p.opts, *p.secondary_opts)}
    missing = [f for f in flags if f not in options]
    assert not missing, f"`mpp {' '.join(path)}` lacks {missing} (it has {sorted(options)})"
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    assert len(arguments) == positionals, f"`mpp {' '.join(path)}` takes {[a.name for a in arguments]}"


def test_every_command_takes_json_and_the_root_takes_the_global_flags() -> None:
    tree = _tree()
    without = [" ".join(path) for path, cmd in _leaves(tree)
               if "--json" not in {o for p in cmd.params for o in getattr(p, "opts", [])}]
    assert not without, f"commands without --json: {without}"
    root = {o for p in tree.params for o in (*p.opts, *p.secondary_opts)}
    assert set(ROOT_FLAGS) <= root, sorted(root)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish", "powershell"])
def test_completions_accept_each_contract_shell(shell: str, mpp_home: Path) -> None:
    run = mpp("completions", shell, home=mpp_home)
    assert run.exit_code == 0 and run.stdout.strip(), run


def test_typer_never_prints_locals() -> None:
    """Tracebacks with locals would print keys held in local variables (NOTES: Typer)."""
    from mppcli.cli.root import app

    assert app.pretty_exceptions_show_locals is False
    assert app.pretty_exceptions_enable is False  # unexpected errors go through cli.runtime.run


# ---- (b) failure kinds without a server -------------------------------------------------------

def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bad_keypair(tmp: Path) -> str:
    path = tmp / "bad-keypair.json"
    path.write_text("[1, 2, 3]")
    return str(path)


CHANNEL = "11111111111111111111111111111111"
OFFLINE: list[tuple[str, Any, int, str]] = [
    ("unknown flag", lambda t: ("open", "--bogus", "http://127.0.0.1:9/paid"), 2, "E_USAGE"),
    ("missing argument", lambda t: ("topup",), 2, "E_USAGE"),
    ("negative voucher amount", lambda t: ("voucher", "sign", "--channel", CHANNEL, "--amount", "-1",
                                          "-k", _bad_keypair(t)), 2, "E_INPUT"),
    ("fractional base units", lambda t: ("voucher", "sign", "--channel", CHANNEL, "--amount", "1.5",
                                        "-k", _bad_keypair(t)), 2, "E_INPUT"),
    ("bad keypair file", lambda t: ("wallet", "import", "x", "--keypair", _bad_keypair(t)), 2, "E_INPUT"),
    ("bad keypair for voucher", lambda t: ("voucher", "sign", "--channel", CHANNEL, "--amount", "5",
                                          "-k", _bad_keypair(t)), 2, "E_INPUT"),
    ("airdrop too many decimals", lambda t: ("wallet", "airdrop", "0.0000000001", "-k", _bad_keypair(t),
                                            "-u", f"http://127.0.0.1:{_closed_port()}"), 2, "E_INPUT"),
    ("bad -u moniker", lambda t: ("open", "http://127.0.0.1:9/paid", "-u", "not-a-cluster"), 2, "E_USAGE"),
    ("inspect unreachable", lambda t: ("inspect", f"http://127.0.0.1:{_closed_port()}/paid"), 3, "E_NETWORK"),
    ("request unreachable", lambda t: ("request", f"http://127.0.0.1:{_closed_port()}/paid"), 3, "E_NETWORK"),
    ("stream unreachable", lambda t: ("stream", f"http://127.0.0.1:{_closed_port()}/s"), 3, "E_NETWORK"),
    ("open unreachable", lambda t: ("open", f"http://127.0.0.1:{_closed_port()}/paid"), 3, "E_NETWORK"),
]


@pytest.mark.parametrize(("args", "code", "error"), [c[1:] for c in OFFLINE], ids=[c[0] for c in OFFLINE])
def test_offline_failures_exit_with_their_contract_codes(args: Any, code: int, error: str, mpp_home: Path,
                                                         tmp_path: Path) -> None:
    run = mpp("--json", *args(tmp_path), home=mpp_home)
    assert run.exit_code == code, run
    assert run.json["ok"] is False and run.json["error"]["code"] == error, run
    assert run.json["error"]["message"], run


@pytest.mark.parametrize(("line", "args"), [
    ('max_spend = "abc"', ("request", "http://127.0.0.1:9/paid")),
    ('rpc_url = 5', ("wallet", "show")),
    ('confirm = "sometimes"', ("open", "http://127.0.0.1:9/paid")),
    ('no_such_key = "x"', ("request", "http://127.0.0.1:9/paid")),
])
def test_a_bad_config_file_is_e_config_exit_2(line: str, args: tuple[str, ...], mpp_home: Path) -> None:
    from mppcli.paths import resolve_paths

    config = resolve_paths({"MPP_HOME": str(mpp_home)}).config_dir / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(line + "\n")
    run = mpp("--json", *args, home=mpp_home)
    assert run.exit_code == 2 and run.json["error"]["code"] == "E_CONFIG", run
    assert "config.toml" in run.json["error"]["message"] + run.json["error"]["hint"], run


def test_a_bad_env_setting_is_e_config(mpp_home: Path) -> None:
    run = mpp("--json", "request", "http://127.0.0.1:9/paid", home=mpp_home, env={"MPP_MAX_SPEND": "-3"})
    assert run.exit_code == 2 and run.json["error"]["code"] == "E_CONFIG", run


@pytest.mark.parametrize("args", [("wallet", "new"), ("wallet", "list")])
def test_no_keyring_backend_is_e_keyring_exit_2_with_a_hint(args: tuple[str, ...], mpp_home: Path) -> None:
    run = mpp("--json", *args, home=mpp_home, env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    if args == ("wallet", "list"):  # listing reads only the public index: no keyring needed
        assert run.exit_code == 0, run
        return
    assert run.exit_code == 2 and run.json["error"]["code"] == "E_KEYRING", run
    assert "--keypair" in run.json["error"]["hint"], run


def test_a_held_channel_lock_is_e_busy_exit_6(mpp_home: Path) -> None:
    from mppcli.paths import resolve_paths
    from mppcli.state.record import SignerKind
    from mppcli.state.store import ChannelStore
    from tests.state.factory import make_record

    store = ChannelStore(resolve_paths({"MPP_HOME": str(mpp_home)}))
    record = store.create(make_record(signer_kind=SignerKind.PAYER))
    with store.lock(record.channel_id, purpose="contract test"):
        run = mpp("--json", "close", record.channel_id, "--force", "--yes", "-u",
                  f"http://127.0.0.1:{_closed_port()}", home=mpp_home)
    assert run.exit_code == 6 and run.json["error"]["code"] == "E_BUSY", run
    assert "contract test" in run.json["error"]["message"] + run.json["error"]["hint"], run


def test_human_errors_name_the_code_on_stderr_and_leave_stdout_empty(mpp_home: Path) -> None:
    run = mpp("inspect", f"http://127.0.0.1:{_closed_port()}/paid", home=mpp_home)
    assert run.exit_code == 3 and "E_NETWORK" in run.stderr and run.stdout == "", run


# ---- (b) failure kinds with a small server ----------------------------------------------------

MAINNET_GENESIS = "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d"


@pytest.fixture
def mainnet_looking_rpc() -> Iterator[str]:
    """A loopback JSON-RPC that claims to be mainnet-beta (its genesis hash), and nothing else."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            calls = body if isinstance(body, list) else [body]
            answers = [{"jsonrpc": "2.0", "id": c.get("id"),
                        **({"result": MAINNET_GENESIS} if c.get("method") == "getGenesisHash"
                           else {"error": {"code": -32601, "message": "not here"}})} for c in calls]
            data = json.dumps(answers if isinstance(body, list) else answers[0]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.server.harness import ServerProcess

    running = ServerProcess.start(tmp_path_factory.mktemp("serve") / "home", "--ephemeral")
    yield running
    running.stop()


@pytest.fixture
def payer(served: Any, tmp_path: Path) -> Any:
    """A funded payer with a keypair file; `--signer payer` keeps the OS keyring out of it."""
    from tests.e2e.support import file_payer

    return file_payer(tmp_path / "payer", served.chain)


SERVED: list[tuple[str, tuple[str, ...], int, str]] = [
    ("negative deposit", ("open", "{paid}", "--deposit", "-1", "--yes"), 2, "E_INPUT"),
    ("deposit with too many decimals", ("open", "{paid}", "--deposit", "0.0000001", "--yes"), 2, "E_INPUT"),
    ("max-spend with too many decimals", ("request", "{paid}", "--max-spend", "0.0000001", "--yes"), 2,
     "E_INPUT"),
    ("cap below the server minimum", ("request", "{paid}", "--max-spend", "0.001", "--yes"), 5, "E_POLICY"),
    ("first deposit without a terminal", ("open", "{paid}"), 5, "E_CONFIRMATION_REQUIRED"),
    ("first paid request without a terminal", ("request", "{paid}"), 5, "E_CONFIRMATION_REQUIRED"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "code", "error"), [c[1:] for c in SERVED], ids=[c[0] for c in SERVED])
def test_served_failures_exit_with_their_contract_codes(args: tuple[str, ...], code: int, error: str,
                                                        served: Any, payer: Any) -> None:
    words = [a.format(paid=f"{served.url}/paid") for a in args]
    run = payer.mpp("--json", *words, "--signer", "payer")
    assert run.exit_code == code, run
    assert run.json["error"]["code"] == error, run
    assert not list((payer.home / "state").glob("channels/*.json")), "a refused payment left a channel"


@pytest.mark.slow
def test_a_challenge_network_the_rpc_is_not_is_e_network_mismatch(served: Any, payer: Any,
                                                                  mainnet_looking_rpc: str) -> None:
    from tests.support import mpp as run_mpp

    run = run_mpp("--json", "open", f"{served.url}/paid", "--yes", "--signer", "payer", "-k",
                  str(payer.keypair), "-u", mainnet_looking_rpc, home=payer.home)
    assert run.exit_code == 5 and run.json["error"]["code"] == "E_NETWORK_MISMATCH", run
    assert "mainnet" in run.json["error"]["message"] and run.json["error"]["hint"], run
    assert not list((payer.home / "state").glob("channels/*.json")), "a refused open left a channel"


@pytest.mark.slow
def test_paying_commands_return_the_contract_json_keys(served: Any, payer: Any) -> None:
    paid = f"{served.url}/paid"
    opened = payer.mpp("--json", "open", paid, "--yes", "--signer", "payer")
    assert opened.exit_code == 0, opened
    assert {"channelId", "url", "network", "payer", "payee", "mint", "authorizedSigner", "deposit",
            "openSlot", "reference"} <= set(opened.json), opened
    assert isinstance(opened.json["deposit"], str) and isinstance(opened.json["openSlot"], int)
    channel = opened.json["channelId"]
    paid_once = payer.mpp("--json", "request", paid)
    assert paid_once.exit_code == 0, paid_once
    assert {"status", "channelId", "cumulative", "spent", "receipt", "body"} <= set(paid_once.json)
    streamed = payer.mpp("--json", "stream", f"{served.url}/stream?chunks=2")
    assert streamed.exit_code == 0, streamed
    assert {"channelId", "events", "cumulative", "spent"} <= set(streamed.json), streamed
    topped = payer.mpp("--json", "topup", channel, "0.01", "--yes")
    assert topped.exit_code == 0, topped
    assert {"channelId", "deposit", "reference"} <= set(topped.json), topped
    listed = payer.mpp("--json", "channels", "list", "--all")
    assert listed.exit_code == 0, listed
    assert {"channelId", "url", "network", "status", "mint", "deposit", "cumulative", "spent"} <= set(
        listed.json["channels"][0]), listed
    closed = payer.mpp("--json", "close", channel, "--yes")
    assert closed.exit_code == 0, closed
    assert {"channelId", "status", "settled", "refunded", "txHash"} <= set(closed.json), closed


@pytest.mark.slow
def test_debug_output_of_paying_commands_holds_no_credential_signature_or_key(served: Any,
                                                                             payer: Any) -> None:
    """`-vv` shows requests and headers, but never the Authorization value, a voucher signature
    or the payer's key (NOTES: -vv logs that print Authorization headers leak credentials)."""
    import re

    from solders.keypair import Keypair

    from mppcli.wallet.keys import keypair_base58

    runs = [payer.mpp("-vv", "request", f"{served.url}/paid", "--yes", "--signer", "payer"),
            payer.mpp("-vv", "request", f"{served.url}/paid"),
            payer.mpp("-vv", "--json", "stream", f"{served.url}/stream?chunks=3")]
    channel = runs[0].stderr.split("channelId=")[1].split()[0]
    runs.append(payer.mpp("-vv", "--json", "close", channel, "--yes"))
    for run in runs:
        assert run.exit_code == 0, run
    said = "\n".join(run.stdout + run.stderr for run in runs)
    assert "Authorization: Payment <redacted>" in said  # the headers are logged, their values not
    record = payer.record(channel)
    signatures = {json.loads(record[k])["signature"] for k in ("lastSignedVoucher", "lastAcceptedVoucher")}
    secret = Keypair.from_json(payer.keypair.read_text())
    for text in (*signatures, keypair_base58(secret), payer.keypair.read_text().strip()):
        assert text not in said
    assert not re.search(r"Authorization:\s*Payment\s+(?!<redacted>)", said)
    assert not re.search(r"[A-Za-z0-9_-]{120,}", said), "a long base64url blob (a credential?) was printed"


@pytest.mark.slow
def test_a_known_server_asking_for_more_than_ever_before_needs_confirmation_again(served: Any,
                                                                                  payer: Any) -> None:
    """`confirm = first-open` asks once per server; a re-open whose deposit only the server's
    suggestion bounds, and which is larger than any earlier deposit to it, is asked about again."""
    paid = f"{served.url}/paid"
    first = payer.mpp("--json", "open", paid, "--yes", "--deposit", "0.5", "--signer", "payer")
    assert first.exit_code == 0 and first.json["deposit"] == "500000", first
    again = payer.mpp("--json", "open", paid, "--new", "--signer", "payer")  # the suggestion: 1
    assert again.exit_code == 5 and again.json["error"]["code"] == "E_CONFIRMATION_REQUIRED", again
    bounded = payer.mpp("--json", "open", paid, "--new", "--deposit", "0.5", "--signer", "payer")
    assert bounded.exit_code == 0, bounded
    capped = payer.mpp("--json", "open", paid, "--new", "--max-spend", "2", "--signer", "payer")
    assert capped.exit_code == 0 and capped.json["deposit"] == "1000000", capped
    same = payer.mpp("--json", "open", paid, "--new", "--signer", "payer")  # agreed to 1 before
    assert same.exit_code == 0 and same.json["deposit"] == "1000000", same


@pytest.mark.slow
def test_channels_show_adds_the_on_chain_view_when_the_rpc_answers(served: Any, payer: Any) -> None:
    opened = payer.mpp("--json", "open", f"{served.url}/paid", "--yes", "--signer", "payer")
    assert opened.exit_code == 0, opened
    channel = opened.json["channelId"]
    shown = payer.mpp("--json", "channels", "show", channel[:10], "-u", payer.rpc_url)
    assert shown.exit_code == 0 and shown.json["channelId"] == channel, shown
    assert shown.json["chain"] == {"status": "open", "deposit": opened.json["deposit"], "settled": "0",
                                   "closureStartedAt": 0, "payerWithdrawnAt": 0}, shown
    away = payer.mpp("--json", "channels", "show", channel, "-u", f"http://127.0.0.1:{_closed_port()}")
    assert away.exit_code == 0 and away.json["chain"] is None and away.json["chainError"], away


def test_an_ndjson_stream_that_fails_ends_with_an_error_event(mpp_home: Path) -> None:
    run = mpp("stream", "--ndjson", "--retries", "0", f"http://127.0.0.1:{_closed_port()}/s", home=mpp_home)
    assert run.exit_code == 3, run
    events = [json.loads(line) for line in run.stdout.splitlines()]  # stdout stays pure NDJSON
    assert events and events[-1]["type"] == "error" and events[-1]["code"] == "E_NETWORK", run
    assert "E_NETWORK" in run.stderr, run
