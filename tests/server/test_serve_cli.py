"""`mpp serve` as a user runs it: flags, settings from environment and config.toml, the ready
line, refusals with exit codes, clean shutdown, and logs without secrets."""

from __future__ import annotations

import json
import shutil
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from solders.keypair import Keypair

from tests.server.harness import ServerProcess, _read_line
from tests.server.payer import Payer, problem_of, receipt_of
from tests.support import mpp

CLI_MD_FLAGS = (
    "--host",
    "--port",
    "-u",
    "--network",
    "--operator-keypair",
    "--recipient",
    "--currency",
    "--price",
    "--chunk-price",
    "--voucher-signer",
    "--idle-timeout-options",
    "--grace-period",
    "--min-deposit",
    "--split",
    "--db",
    "--secret-file",
    "--json",
)


def test_help_lists_every_flag_of_the_cli_contract() -> None:
    run = mpp("serve", "--help")
    assert run.exit_code == 0
    for flag in CLI_MD_FLAGS:
        assert flag in run.stdout, flag


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("--split", "not-a-split"), "E_USAGE", "PUBKEY:BPS"),
        (("--voucher-signer", "someone"), "E_USAGE", "--voucher-signer"),
        (("--price", "0"), "E_USAGE", "greater than zero"),
        (("--price", "0.0000001"), "E_USAGE", "--price"),
        (("--idle-timeout-options", "600,30"), "E_USAGE", "strictly increasing"),
        (("--network", "devnet"), "E_CONFIG", "serves localnet"),
        (("--recipient", str(Keypair().pubkey())), "E_CONFIG", "--recipient-keypair"),
        (("--currency", "NOPE"), "E_CONFIG", "NOPE"),
        (("--clock-skew", "-1"), "E_USAGE", "--clock-skew"),
        (tuple(a for _ in range(17) for a in ("--split", f"{Keypair().pubkey()}:100")), "E_USAGE",
         "at most 16"),
    ],
)
def test_unusable_settings_are_refused_with_exit_2(
    tmp_path: Path, args: tuple[str, ...], code: str, words: str
) -> None:
    run = mpp("serve", "--port", "0", "--rpc-port", "0", "--ephemeral", "--json", *args, home=tmp_path)
    assert run.exit_code == 2, run
    error = run.json["error"]
    assert error["code"] == code and words in error["message"] + error["hint"], error


def test_settings_come_from_flags_then_environment_then_config_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text(
        '[serve]\nprice = "0.05"\nchunk-price = "0.002"\ngrace-period = 120\n'
    )
    server = ServerProcess.start(
        home, "--ephemeral", "--grace-period", "300", env={"MPP_SERVE_CHUNK_PRICE": "0.003"}
    )
    try:
        payer = Payer(server, funds=0)
        assert payer.challenge("/paid")[1].amount == 50_000  # config.toml
        _, stream = payer.challenge("/stream")
        assert stream.amount == 3_000  # the environment beats config.toml
        assert stream.method_details.grace_period_seconds == 300  # the flag beats both
        assert set(server.ready) == {"url", "rpcUrl", "network", "mint", "recipient", "operator", "endpoints"}
    finally:
        server.stop()


def test_human_ready_line_and_clean_exit_on_sigterm(tmp_path: Path) -> None:
    env = {"MPP_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mppcli", "serve", "--port", "0", "--rpc-port", "0", "--ephemeral"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    line = _read_line(proc, 90)
    assert line.startswith("mpp serve ready at http://127.0.0.1:") and "/paid" in line
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0


def test_logs_one_line_per_request_and_no_secrets(tmp_path: Path) -> None:
    server = ServerProcess.start(tmp_path / "home", "--ephemeral")
    try:
        payer = Payer(server)
        assert payer.open().status_code == 200
        challenge, _ = payer.challenge()
        paid = payer.pay(10_000, challenge=challenge)
        assert paid.status_code == 200
    finally:
        server.stop()
    log = server.log()
    secret = (server.home / "state" / "server" / "secret").read_text().strip()
    operator = json.loads((server.home / "state" / "server" / "operator.json").read_text())
    assert secret not in log and str(operator) not in log and str(operator)[1:40] not in log
    assert payer.last_voucher is not None and payer.last_voucher.signature not in log
    assert challenge.request not in log and challenge.id not in log
    requests = [line for line in log.splitlines() if line.startswith("mpp serve: GET /paid")]
    assert len(requests) == 4 and requests[-1].split()[4] == "200"  # 402, open, 402, voucher


def test_payers_fund_fees_and_rent_when_the_server_does_not_sponsor(tmp_path: Path) -> None:
    server = ServerProcess.start(tmp_path / "home", "--ephemeral", "--no-fee-payer")
    try:
        payer = Payer(server)
        _, request = payer.challenge()
        assert request.method_details.fee_payer is None and request.method_details.fee_payer_key is None
        payer.chain.airdrop(payer.pubkey, 1_000_000_000)
        assert payer.open().status_code == 200
        assert str(payer.chain.channel(str(payer.channel_id)).rent_payer) == payer.pubkey
        assert receipt_of(payer.pay(10_000)).spent == 10_000
        assert payer.topup(5_000, sponsored=False).json()["deposit"] == "1005000"
        assert receipt_of(payer.close()).refunded == 1_005_000 - 10_000
    finally:
        server.stop()


def test_an_idle_timeout_choice_is_refused_when_none_is_offered(tmp_path: Path) -> None:
    server = ServerProcess.start(
        tmp_path / "home", "--ephemeral", "--idle-timeout-options", "none", "--idle-timeout", "120"
    )
    try:
        payer = Payer(server)
        assert payer.challenge()[1].method_details.idle_timeout_options_seconds is None
        problem = problem_of(payer.open(idle=600))
        assert problem.name == "verification-failed" and "offers no idle-timeout options" in problem.detail
        assert receipt_of(payer.open()).idle_timeout_seconds == 120  # the server's own pick
    finally:
        server.stop()


def test_clock_skew_tolerance_is_a_flag_and_a_config_key(tmp_path: Path) -> None:
    """Spec (Clock Skew): the tolerance on voucher expiry is configurable (default 30 s)."""
    strict = ServerProcess.start(tmp_path / "strict", "--ephemeral", "--clock-skew", "0")
    try:
        payer = Payer(strict)
        assert payer.open().status_code == 200
        challenge, _ = payer.challenge()
        just_expired = payer.voucher(10_000, expires_at=int(time.time()) - 5)
        problem = problem_of(payer.send(payer.voucher_payload(just_expired), challenge))
        assert problem.name == "verification-failed" and "expired" in problem.detail
    finally:
        strict.stop()
    home = tmp_path / "lenient"
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text("[serve]\nclock_skew = 600\n")
    lenient = ServerProcess.start(home, "--ephemeral")
    try:
        payer = Payer(lenient)
        assert payer.open().status_code == 200
        challenge, _ = payer.challenge()
        late = payer.voucher(10_000, expires_at=int(time.time()) - 300)
        assert receipt_of(payer.send(payer.voucher_payload(late), challenge)).spent == 10_000
    finally:
        lenient.stop()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_cert_and_key_serve_https(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server = ServerProcess.start(
        tmp_path / "home", "--ephemeral", "--tls-cert", str(cert), "--tls-key", str(key)
    )
    try:
        assert server.url.startswith("https://127.0.0.1:")
        response = httpx.get(server.url + "/paid", verify=ssl.create_default_context(cafile=str(cert)))
        assert response.status_code == 402 and "www-authenticate" in response.headers
        with pytest.raises(httpx.HTTPError):
            httpx.get(server.url.replace("https://", "http://") + "/paid")
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--host", "0.0.0.0"), "--tls-cert"),
        (("--host", "192.0.2.10", "--allow-insecure-http", "--tls-cert", "c.pem"), "go together"),
    ],
)
def test_a_public_host_without_tls_is_refused(tmp_path: Path, args: tuple[str, ...], words: str) -> None:
    run = mpp("serve", "--port", "0", "--ephemeral", "--json", *args, home=tmp_path)
    assert run.exit_code == 2, run
    error = run.json["error"]
    assert error["code"] == "E_USAGE" and words in error["message"] + error["hint"], error


def test_plain_http_on_a_public_host_needs_the_explicit_flag_and_warns() -> None:
    from mppcli.server.transport import choose_transport

    assert choose_transport("127.0.0.1", None, None, False).warning is None
    assert choose_transport("::1", None, None, False).warning is None
    warned = choose_transport("0.0.0.0", None, None, True)
    assert warned.scheme == "http" and warned.warning and "clear" in warned.warning
