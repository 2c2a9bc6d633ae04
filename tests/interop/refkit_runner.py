"""Running the reference-kit drivers (tests/interop/refkit/*.py) from our pytest process.

The drivers run under the reference venv's python, never ours (its pins clash with ours), from
a scratch working directory (solana-pay-kit ships an `operator.py` that shadows the stdlib one
when its package directory is the working directory).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REFKIT_DIR = Path(__file__).resolve().parent / "refkit"


@dataclass(frozen=True)
class RefServer:
    """A running reference session server: its ready line, and the process."""

    info: dict[str, Any]
    process: subprocess.Popen[str]

    @property
    def url(self) -> str:
        return str(self.info["url"])


class RefKit:
    """Calls the drivers: one JSON object in, one JSON object out (or a server)."""

    def __init__(self, python: Path, cwd: Path) -> None:
        self.python = python
        self.cwd = cwd

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env

    def call(self, driver: str, request: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
        """Run `driver` once with `request`; its JSON answer (any failure shows its stderr)."""
        proc = subprocess.run([str(self.python), str(REFKIT_DIR / driver)], input=json.dumps(request),
                              capture_output=True, text=True, cwd=self.cwd, env=self._env(),
                              timeout=timeout, check=False)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            raise AssertionError(f"{driver} exited {proc.returncode}\nstdout:\n{proc.stdout}\n"
                                 f"stderr:\n{proc.stderr[-4000:]}")
        answer: dict[str, Any] = json.loads(lines[-1])
        return answer

    def ok(self, driver: str, request: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
        """Like `call`, but the driver itself must have succeeded."""
        answer = self.call(driver, request, timeout)
        assert answer.get("ok") is True, f"{driver} failed: {answer.get('error')}\n{answer.get('traceback')}"
        return answer

    @contextmanager
    def server(self, config: dict[str, Any], ready_timeout: float = 60) -> Iterator[RefServer]:
        """Start server.py with `config`; yield once it printed its ready line; stop it after."""
        proc = subprocess.Popen([str(self.python), str(REFKIT_DIR / "server.py")], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.cwd,
                                env=self._env())
        errors: list[str] = []
        threading.Thread(target=_drain, args=(proc.stderr, errors), daemon=True).start()
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps(config))
            proc.stdin.close()
            info = _ready_line(proc, ready_timeout, errors)
            yield RefServer(info, proc)
        finally:
            _stop(proc)

    @contextmanager
    def demo_server(self, ledger: Any, price: int, chunk_price: int, deposit: int,
                    operator: str | None = None) -> Iterator[RefServer]:
        """The reference server on the embedded ledger, priced per request and per chunk, with an
        operator that holds SOL for fees and a token account to be paid into (`new_operator`)."""
        config = {"rpcUrl": ledger.rpc_url, "mint": ledger.mint,
                  "operatorSecret": operator or new_operator(ledger), "price": str(price),
                  "chunkPrice": str(chunk_price), "suggestedDeposit": str(deposit)}
        with self.server(config) as running:
            yield running


def new_operator(ledger: Any) -> str:
    """A fresh operator secret, funded on `ledger` with SOL and its token account."""
    from tests.interop.samples import new_secret, pubkey_of
    from tests.server.harness import Chain

    secret = new_secret()
    chain = Chain(ledger.rpc_url)
    chain.airdrop(pubkey_of(secret), 2_000_000_000)
    chain.mint_tokens(pubkey_of(secret), 1)  # the payee's token account
    return secret


def _ready_line(proc: subprocess.Popen[str], timeout: float, errors: list[str]) -> dict[str, Any]:
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=lambda: lines.put(proc.stdout.readline() if proc.stdout else ""),
                     daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"reference server not ready in {timeout}s; "
                             f"stderr:\n{''.join(errors)[-4000:]}") from None
    if not line:
        proc.wait(timeout=10)
        raise AssertionError(f"reference server exited {proc.returncode}; stderr:\n{''.join(errors)[-4000:]}")
    info: dict[str, Any] = json.loads(line)
    assert "url" in info, f"reference server refused its configuration: {info}"
    return info


def _drain(stream: Any, sink: list[str]) -> None:
    for line in iter(stream.readline, ""):
        sink.append(line)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
