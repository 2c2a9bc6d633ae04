"""#14 through the real `mpp` against `mpp serve`: units and times in human output (items 3, 11),
global options anywhere (4), `--fail` (5), `--dry-run` (6) and curl's -m/-L/-s/-D/--json-body (16)."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.e2e.support import PayerHome, served_fixture, wallet_payer
from tests.server.harness import ServerProcess
from tests.support import mpp
from tests.wallet.keyring_support import real_keyring

pytestmark = [pytest.mark.slow, pytest.mark.keyring, pytest.mark.usefixtures("real_keyring")]
__all__ = ["real_keyring"]

PRICE, SUGGESTED = 10_000, 50_000  # --price 0.01 (default), --suggested-deposit 0.05; 6 decimals
LOCAL_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")

served = served_fixture("--min-deposit", "0.01", "--suggested-deposit", "0.05")


@pytest.fixture
def payer(served: ServerProcess, tmp_path: Path) -> PayerHome:
    return wallet_payer(tmp_path / "payer", served.chain)


@pytest.fixture
def side_server(served: ServerProcess) -> Iterator[str]:
    """A plain HTTP server: /redirect answers 302 to the paid resource, /echo echoes the request."""
    target = f"{served.url}/paid"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return None

        def _answer(self) -> None:
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", target)
                self.end_headers()
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            echo = json.dumps({"method": self.command, "contentType": self.headers.get("Content-Type"),
                               "accept": self.headers.get("Accept"), "body": body.decode()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(echo)))
            self.end_headers()
            self.wfile.write(echo)

        do_GET = do_POST = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _no_base_units(text: str) -> None:
    for number in re.findall(r"(?<![\w.:/-])\d{4,}(?![\w.:/-])", text):
        raise AssertionError(f"a base-unit amount {number} in human output:\n{text}")


def test_human_output_speaks_token_units_and_local_times(served: ServerProcess, payer: PayerHome) -> None:
    paid = f"{served.url}/paid"
    assert payer.mpp("open", paid, "--yes").exit_code == 0
    first = payer.mpp("request", paid)
    second = payer.mpp("--json", "request", paid)
    assert first.exit_code == 0 and second.exit_code == 0, (first, second)
    assert "paid 0.01 USDC on channel" in first.stderr and "cumulative 0.01 USDC" in first.stderr, first
    _no_base_units(first.stderr)
    assert second.json["paid"] == str(PRICE) and second.json["cumulative"] == str(2 * PRICE)
    channel = second.json["channelId"]

    shown = payer.mpp("channels", "show", channel)
    assert shown.exit_code == 0, shown
    assert "deposit: 0.05 USDC" in shown.stdout and "None" not in shown.stdout, shown.stdout
    created = next(line for line in shown.stdout.splitlines() if line.startswith("createdAt: "))
    assert LOCAL_ISO.fullmatch(created.split(": ", 1)[1]), created
    listed = payer.mpp("channels", "list")
    assert "0.05 USDC" in listed.stdout and "0.02 USDC" in listed.stdout, listed.stdout

    closed = payer.mpp("close", channel, "--yes")
    assert closed.exit_code == 0, closed
    assert "settled 0.02 USDC, refunded 0.03 USDC" in closed.stdout, closed
    _no_base_units(closed.stdout)


def test_global_options_work_before_and_after_the_command(served: ServerProcess, payer: PayerHome) -> None:
    paid = f"{served.url}/paid"
    before = mpp("-u", payer.rpc_url, "-w", "payer", "--json", "request", paid, "--yes", home=payer.home)
    assert before.exit_code == 0, before
    assert before.json["paid"] == str(PRICE)
    after = mpp("request", paid, "-v", "--no-color", "--json", "-u", payer.rpc_url, home=payer.home)
    assert after.exit_code == 0, after
    assert after.json["cumulative"] == str(2 * PRICE)
    data_like_a_flag = mpp("--json", "inspect", f"{served.url}/paid", "-d", "-v", home=payer.home)
    assert data_like_a_flag.exit_code == 0, data_like_a_flag  # `-v` stayed the value of -d


def test_fail_turns_an_http_error_status_into_exit_4(served: ServerProcess, payer: PayerHome) -> None:
    missing = f"{served.url}/no-such-resource"
    plain = payer.mpp("request", missing)
    assert plain.exit_code == 0 and plain.stdout, plain  # as before: the body, exit 0
    failed = payer.mpp("--json", "request", missing, "--fail")
    assert failed.exit_code == 4, failed
    assert failed.json["error"]["code"] == "E_HTTP_STATUS" and "404" in failed.json["error"]["message"]
    short = payer.mpp("request", missing, "-f")
    assert short.exit_code == 4 and short.stdout == "", short


def test_dry_run_pays_signs_and_records_nothing(served: ServerProcess, payer: PayerHome) -> None:
    mint = str(served.ready["mint"])
    balance = served.chain.token_balance(payer.pubkey, mint)
    paid, stream = f"{served.url}/paid", f"{served.url}/stream?chunks=3"
    quoted = payer.mpp("--json", "request", paid, "--dry-run")
    assert quoted.exit_code == 0, quoted
    assert quoted.json["dryRun"] is True and quoted.json["opens"] is True
    assert quoted.json["deposit"] == str(SUGGESTED) and quoted.json["price"] == str(PRICE)
    human = payer.mpp("open", paid, "--dry-run", "--deposit", "0.02")
    assert human.exit_code == 0, human
    assert "would open a channel depositing 0.02 USDC" in human.stdout
    assert "nothing was signed" in human.stdout
    streamed = payer.mpp("--json", "stream", stream, "--dry-run")
    assert streamed.exit_code == 0 and streamed.json["opens"] is True, streamed
    refused = payer.mpp("--json", "request", paid, "--dry-run", "--max-spend", "0.001")
    assert refused.exit_code == 5 and refused.json["error"]["code"] == "E_POLICY", refused
    channels = payer.home / "state" / "channels"
    assert not channels.exists() or not list(channels.glob("*.json"))
    assert served.chain.token_balance(payer.pubkey, mint) == balance

    assert payer.mpp("open", paid, "--yes").exit_code == 0
    reuse = payer.mpp("--json", "request", paid, "--dry-run")
    assert reuse.json["opens"] is False and reuse.json["channelId"], reuse
    record = payer.record(reuse.json["channelId"])
    assert record["signedCumulative"] == "0"


def test_curl_essentials(served: ServerProcess, payer: PayerHome, side_server: str, tmp_path: Path) -> None:
    followed = payer.mpp("--json", "request", f"{side_server}/redirect", "-L", "--yes")
    assert followed.exit_code == 0, followed
    assert followed.json["status"] == 200 and followed.json["paid"] == str(PRICE)
    unfollowed = payer.mpp("--json", "request", f"{side_server}/redirect")
    assert unfollowed.json["status"] == 302 and unfollowed.json["paid"] == "0"

    echoed = payer.mpp("request", f"{side_server}/echo", "--json-body", '{"a": 1}')
    assert json.loads(echoed.stdout) == {"method": "POST", "contentType": "application/json",
                                          "accept": "application/json", "body": '{"a": 1}'}

    headers = tmp_path / "headers.txt"
    quiet = payer.mpp("request", f"{served.url}/paid", "-s", "-D", str(headers))
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet
    assert headers.read_text().startswith("HTTP/1.1 200")

    silent_server = socket.socket()
    silent_server.bind(("127.0.0.1", 0))
    silent_server.listen(1)  # accepts the connection, never answers
    try:
        port = silent_server.getsockname()[1]
        timed = payer.mpp("--json", "request", f"http://127.0.0.1:{port}/", "-m", "0.5")
    finally:
        silent_server.close()
    assert timed.exit_code == 3 and "--max-time" in timed.json["error"]["message"], timed


def test_the_first_deposit_question_names_the_token_by_symbol(served: ServerProcess,
                                                              payer: PayerHome) -> None:
    import os
    import pty
    import select
    import subprocess
    import sys

    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "MPP_RPC_URL", "MPP_WALLET")}
    env["MPP_HOME"] = str(payer.home)
    proc = subprocess.Popen([sys.executable, "-m", "mppcli", *payer.args("open", f"{served.url}/paid")],
                            stdin=slave, stderr=slave, stdout=subprocess.PIPE, env=env)
    os.close(slave)
    seen = b""
    while b"[y/N]" not in seen:
        ready, _, _ = select.select([master], [], [], 120)
        assert ready, seen
        chunk = os.read(master, 4096)
        assert chunk, seen
        seen += chunk
    os.write(master, b"n\n")
    assert proc.wait(120) == 5
    os.close(master)
    question = seen.decode()
    assert "Deposit 0.05 of USDC into a payment channel" in question, question
    assert str(served.ready["mint"]) not in question
