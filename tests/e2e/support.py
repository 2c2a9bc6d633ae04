"""End-to-end helpers: a funded payer home, `mpp` runs pointed at the server's ledger, and a
standalone `mpp localnet` for the tests that must stop the server while the chain keeps running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.server.harness import Chain, ServerProcess, _read_line
from tests.support import Run, mpp

PAY_COMMANDS = frozenset({"open", "request", "stream", "topup", "close"})
SOL = 1_000_000_000


@dataclass
class PayerHome:
    """One user of `mpp`: an MPP_HOME with a keyring wallet (or a keypair file) and funds."""

    home: Path
    rpc_url: str
    pubkey: str
    keypair: Path | None = None  # use `-k FILE` instead of the keyring wallet

    def mpp(self, *args: str, timeout: float = 180, env: dict[str, str] | None = None) -> Run:
        return mpp(*self.args(*args), home=self.home, timeout=timeout, env=env)

    def args(self, *args: str) -> tuple[str, ...]:
        """`args` with `-u RPC` (and `-k FILE`) added to the paying command."""
        extra: tuple[str, ...] = ()
        words = [a for a in args if not a.startswith("-")]
        command = words[0] if words else ""
        if command in PAY_COMMANDS or words[:2] == ["channels", "sync"]:
            extra = ("-u", self.rpc_url)
            if self.keypair is not None:
                extra += ("-k", str(self.keypair))
        return (*args, *extra)

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "MPP_HOME": str(self.home)}
        for name in ("MPP_WALLET", "MPP_RPC_URL", "MPP_MAX_SPEND"):
            env.pop(name, None)
        return subprocess.Popen([sys.executable, "-m", "mppcli", *self.args(*args)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def record(self, channel_id: str) -> dict[str, Any]:
        path = self.home / "state" / "channels" / f"{channel_id}.json"
        return dict(json.loads(path.read_text()))


def wallet_payer(home: Path, chain: Chain, sol: int = SOL, tokens: int = 20_000_000) -> PayerHome:
    """A payer whose key lives in the OS keyring (`mpp wallet new`), funded on the ledger."""
    home.mkdir(parents=True, exist_ok=True)
    made = mpp("--json", "wallet", "new", "payer", home=home)
    assert made.exit_code == 0, made
    pubkey = made.json["pubkey"]
    fund(chain, pubkey, sol, tokens)
    return PayerHome(home, chain.rpc_url, pubkey)


def file_payer(home: Path, chain: Chain, sol: int = SOL, tokens: int = 20_000_000) -> PayerHome:
    """A payer with a solana-keygen file (`-k`): runs without an OS keyring with `--signer payer`."""
    from solders.keypair import Keypair

    from mppcli.wallet.keypair_file import write_keypair_file

    home.mkdir(parents=True, exist_ok=True)
    keypair = Keypair()
    path = home / "payer.json"
    write_keypair_file(path, keypair)
    fund(chain, str(keypair.pubkey()), sol, tokens)
    return PayerHome(home, chain.rpc_url, str(keypair.pubkey()), path)


def fund(chain: Chain, pubkey: str, sol: int, tokens: int) -> None:
    if sol:
        chain.airdrop(pubkey, sol)
    if tokens:
        chain.mint_tokens(pubkey, tokens)


def channel_account(chain: Chain, channel_id: str):  # type: ignore[no-untyped-def]
    """The decoded on-chain Channel, or None once deallocated."""
    from mppcli.chain.channel import decode_channel

    data = chain.account_data(channel_id)
    return None if data is None else decode_channel(data)


@dataclass
class Localnet:
    """A standalone `mpp localnet` (so `mpp serve` can be stopped while the chain runs on)."""

    proc: subprocess.Popen[bytes]
    ready: dict[str, object]

    @classmethod
    def start(cls, home: Path) -> Localnet:
        home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "MPP_HOME": str(home)}
        proc = subprocess.Popen([sys.executable, "-m", "mppcli", "localnet", "--port", "0", "--json",
                                 "--ephemeral"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        line = _read_line(proc, 90)
        if not line:
            proc.kill()
            raise AssertionError("mpp localnet did not start")
        return cls(proc, json.loads(line))

    @property
    def chain(self) -> Chain:
        return Chain(str(self.ready["rpcUrl"]))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def serve_on(home: Path, localnet: Localnet, *args: str) -> ServerProcess:
    """`mpp serve` against the standalone ledger (its test mint)."""
    return ServerProcess.start(home, "-u", str(localnet.ready["rpcUrl"]), "--network", "localnet",
                               "--currency", str(localnet.ready["mint"]), *args)


def wait_for(predicate, timeout: float = 30.0, step: float = 0.2) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def served_fixture(*args: str) -> Callable[..., Iterator[ServerProcess]]:
    """A module-scoped `served` fixture: one `mpp serve --ephemeral ARGS` shared by a test module."""

    @pytest.fixture(scope="module")
    def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
        running = ServerProcess.start(tmp_path_factory.mktemp("serve") / "home", "--ephemeral", *args)
        yield running
        running.stop()

    return served
