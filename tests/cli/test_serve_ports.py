"""`mpp serve`'s ports (#14 items 1, 9, 21): the embedded ledger's RPC port with its fallback, and
flags checked before any side effect. Ports are occupied by the test itself, never assumed free."""

from __future__ import annotations

import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.harness import ServerProcess
from tests.support import mpp


@pytest.fixture
def occupied_port() -> Iterator[int]:
    """A loopback port this test holds (listening) for as long as it runs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


def test_a_taken_rpc_port_falls_back_to_a_free_one_and_says_so(tmp_path: Path, occupied_port: int) -> None:
    server = ServerProcess.start(tmp_path / "home", "--ephemeral", "--rpc-port", str(occupied_port))
    try:
        rpc_port = int(str(server.ready["rpcUrl"]).rsplit(":", 1)[1])
        assert rpc_port not in (occupied_port, 0)
        assert server.chain.slot() >= 0  # the ledger answers where the ready line says
    finally:
        server.stop()
    log = server.log()
    assert f"port {occupied_port} or {occupied_port + 1} is taken" in log and "-u" in log, log


def test_a_taken_websocket_port_also_falls_back(tmp_path: Path, occupied_port: int) -> None:
    """The ledger's websocket listens on the RPC port + 1: asking for the port below a taken one
    must fall back too, not fail to start."""
    wanted = occupied_port - 1
    server = ServerProcess.start(tmp_path / "home", "--ephemeral", "--rpc-port", str(wanted))
    try:
        assert server.ready["rpcUrl"] != f"http://127.0.0.1:{wanted}"
        assert server.chain.slot() >= 0
    finally:
        server.stop()
    assert f"port {wanted} or {occupied_port} is taken" in server.log()


def test_a_free_rpc_port_is_used_as_given(tmp_path: Path) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    wanted = int(probe.getsockname()[1])
    probe.close()
    server = ServerProcess.start(tmp_path / "home", "--ephemeral", "--rpc-port", str(wanted))
    try:
        assert server.ready["rpcUrl"] == f"http://127.0.0.1:{wanted}"
    finally:
        server.stop()
    assert "is taken" not in server.log()


def test_the_default_rpc_port_is_localnets() -> None:
    from mppcli.chain.endpoints import LOCALNET_RPC_PORT, RPC_URLS
    from mppcli.chain.networks import LOCALNET
    from mppcli.config import resolve_rpc_url

    run = mpp("serve", "--help")
    assert run.exit_code == 0 and "--rpc-port" in run.stdout
    assert LOCALNET_RPC_PORT == 8899
    assert LOCALNET.rpc_url == RPC_URLS["localnet"] == resolve_rpc_url("l") == "http://127.0.0.1:8899"


@pytest.mark.parametrize(("args", "words"), [
    (("--port", "99999"), "--port 99999 is not a TCP port"),
    (("--rpc-port", "70000"), "--rpc-port 70000 is not a TCP port"),
    (("--price", "abc"), "--price"),
    (("--price", "0.0000001"), "decimal places"),
    (("--chunk-price", "-1"), "--chunk-price"),
])
def test_bad_flags_exit_2_before_anything_starts(tmp_path: Path, args: tuple[str, ...], words: str) -> None:
    home = tmp_path / "home"
    run = mpp("--json", "serve", "--port", "0", "--rpc-port", "0", *args, home=home)
    assert run.exit_code == 2, run
    error = run.json["error"]
    assert error["code"] == "E_USAGE" and words in error["message"], error
    assert "config.toml" not in error["hint"].split("(")[0]
    assert not (home / "state" / "server").exists()  # no operator key, no ledger, nothing funded


def test_a_busy_port_exits_2_before_the_ledger_starts(tmp_path: Path, occupied_port: int) -> None:
    home = tmp_path / "home"
    run = mpp("--json", "serve", "--port", str(occupied_port), "--rpc-port", "0", home=home)
    assert run.exit_code == 2, run
    assert run.json["error"]["code"] == "E_INPUT" and str(occupied_port) in run.json["error"]["message"]
    assert not (home / "state" / "server").exists()


def test_the_state_directory_is_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    server = ServerProcess.start(home, "--ephemeral")
    server.stop()
    for directory in (home / "state", home / "state" / "server"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    doctor = mpp("--json", "doctor", "-u", "http://127.0.0.1:9", "--timeout", "0.5", home=home)
    assert doctor.json["paths"]["status"] == "ok", doctor.json["paths"]
