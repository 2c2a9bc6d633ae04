"""The keyring seam: no backend and a hung Secret Service both end fast in E_KEYRING (exit 2)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import mpp

NO_BACKEND = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}


def test_no_backend_exits_2_with_what_to_install(tmp_path: Path) -> None:
    run = mpp("--json", "wallet", "new", home=tmp_path, env=NO_BACKEND)
    assert run.exit_code == 2, run
    error = run.json["error"]
    assert error["code"] == "E_KEYRING"
    assert "no OS keyring is available" in error["message"]
    assert "gnome-keyring" in error["hint"] and "dbus" in error["hint"] and "-k/--keypair" in error["hint"]
    assert not (tmp_path / "config" / "wallets.json").exists()


def test_no_backend_in_human_mode_prints_the_hint(tmp_path: Path) -> None:
    run = mpp("wallet", "new", home=tmp_path, env=NO_BACKEND)
    assert run.exit_code == 2, run
    assert run.stderr.startswith("error[E_KEYRING]: no OS keyring is available")
    assert "hint: Install and start a Secret Service" in run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""


@pytest.fixture
def silent_bus(tmp_path: Path) -> Iterator[str]:
    """A D-Bus socket that authenticates clients and then never answers: a wedged Secret Service."""
    path = str(tmp_path / "bus.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(8)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            held.append(conn)
            threading.Thread(target=_authenticate_then_hang, args=(conn, stop), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"unix:path={path}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def _authenticate_then_hang(conn: socket.socket, stop: threading.Event) -> None:
    conn.settimeout(0.2)
    buffer = b""
    while not stop.is_set():
        try:
            chunk = conn.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            return
        if not chunk:
            return
        buffer += chunk
        while b"\r\n" in buffer:
            line, buffer = buffer.split(b"\r\n", 1)
            if b"AUTH" in line:
                conn.sendall(b"OK " + b"0" * 32 + b"\r\n")
            elif line.startswith(b"NEGOTIATE_UNIX_FD"):
                conn.sendall(b"AGREE_UNIX_FD\r\n")
            # after BEGIN: read the Hello call and never reply


def test_a_hung_secret_service_is_time_boxed(tmp_path: Path, silent_bus: str) -> None:
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring",
           "DBUS_SESSION_BUS_ADDRESS": silent_bus, "MPP_KEYRING_TIMEOUT": "2"}
    started = time.monotonic()
    run = mpp("--json", "wallet", "new", home=tmp_path, env=env, timeout=60)
    elapsed = time.monotonic() - started
    assert run.exit_code == 2, run
    assert run.json["error"]["code"] == "E_KEYRING"
    assert "did not answer within 2 s" in run.json["error"]["message"]
    assert elapsed < 15
