"""Running the real `mpp serve` for the server tests, and talking to its ledger.

`ServerProcess.start(home)` runs `python -m mppcli serve --port 0 --json` in a subprocess (the
embedded ledger comes up inside it) and reads the ready line; `stop()` sends SIGINT and waits.
`Chain` speaks plain JSON-RPC to the ledger the server reports (faucet, balances, accounts, warp).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

READY_TIMEOUT = 90.0


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    ready: dict[str, Any]
    home: Path
    log_path: Path
    args: tuple[str, ...] = field(default=())

    @classmethod
    def start(cls, home: Path, *args: str, env: dict[str, str] | None = None) -> ServerProcess:
        home.mkdir(parents=True, exist_ok=True)
        log_path = home / f"serve-{time.monotonic_ns()}.log"
        full_env = {**os.environ, "MPP_HOME": str(home), **(env or {})}
        full_env.pop("MPP_RPC_URL", None)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mppcli", "serve", "--port", "0", "--rpc-port", "0", "--json", *args],
                stdout=subprocess.PIPE,
                stderr=log,
                env=full_env,
            )
        assert proc.stdout is not None
        line = _read_line(proc, READY_TIMEOUT)
        if not line:
            proc.kill()
            raise AssertionError(f"mpp serve did not start:\n{log_path.read_text()}")
        ready = json.loads(line)
        if "url" not in ready:
            proc.wait(30)
            raise AssertionError(f"mpp serve refused to start: {line}")
        return cls(proc, ready, home, log_path, tuple(args))

    @property
    def url(self) -> str:
        return str(self.ready["url"])

    @property
    def chain(self) -> Chain:
        return Chain(str(self.ready["rpcUrl"]))

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return int(self.proc.returncode)

    @classmethod
    def with_splits(cls, home: Path, recipients: list[str], shares: tuple[int, ...]) -> ServerProcess:
        """An ephemeral server that pays `shares[i]` basis points of each close to `recipients[i]`."""
        splits = [f"--split={r}:{bps}" for r, bps in zip(recipients, shares, strict=True)]
        return cls.start(home, "--ephemeral", *splits)

    def restart(self) -> ServerProcess:
        self.stop()
        return ServerProcess.start(self.home, *self.args)


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    import selectors

    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if selector.select(0.2):
            return proc.stdout.readline().decode()
    return ""


@dataclass
class Chain:
    rpc_url: str

    def call(self, method: str, params: list[Any]) -> Any:
        answer = httpx.post(
            self.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=30
        ).json()
        if "error" in answer:
            raise AssertionError(f"{method} failed: {answer['error']}")
        return answer["result"]

    def mint_tokens(self, owner: str, amount: int) -> None:
        self.call("mpp_mintTestTokens", [owner, str(amount)])

    def airdrop(self, owner: str, lamports: int) -> None:
        self.call("requestAirdrop", [owner, lamports])

    def token_balance(self, owner: str, mint: str) -> int:
        from solders.pubkey import Pubkey

        from mppcli.chain.constants import TOKEN_PROGRAM
        from mppcli.chain.pda import associated_token_address

        ata = associated_token_address(Pubkey.from_string(owner), Pubkey.from_string(mint), TOKEN_PROGRAM)
        value = self.call("getAccountInfo", [str(ata), {"encoding": "base64"}])["value"]
        if value is None:
            return 0
        return int(self.call("getTokenAccountBalance", [str(ata)])["value"]["amount"])

    def account_data(self, address: str) -> bytes | None:
        value = self.call("getAccountInfo", [address, {"encoding": "base64"}])["value"]
        return None if value is None else base64.b64decode(value["data"][0])

    def channel(self, address: str) -> Any:
        from mppcli.chain.channel import decode_channel

        data = self.account_data(address)
        return None if data is None else decode_channel(data)

    def slot(self) -> int:
        return int(self.call("getSlot", []))

    def latest_blockhash(self) -> tuple[str, int]:
        result = self.call("getLatestBlockhash", [])
        return str(result["value"]["blockhash"]), int(result["context"]["slot"])

    def send(self, raw: bytes) -> str:
        return str(self.call("sendTransaction", [base64.b64encode(raw).decode(), {"encoding": "base64"}]))

    def warp(self, slots: int | None = None, seconds: int | None = None) -> Any:
        config = {k: v for k, v in (("slots", slots), ("seconds", seconds)) if v is not None}
        return self.call("mpp_warp", [config])
