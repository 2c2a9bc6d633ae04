"""Vouchers accepted per second by `mpp serve` over HTTP on loopback: one channel, and 100 channels.

    python bench/server_vouchers.py [--vouchers 400] [--channels 100] [--per-channel 20] [--reference]

Starts `mpp serve --ephemeral` (embedded ledger in the same process), opens channels with the
project's own builders (tests/server/payer.py), pre-signs every voucher, then measures the time
from the first request to the last accepted one. One channel is sequential by nature (each voucher
must follow the previous one); 100 channels run concurrently, each sequential. Three setups: the
defaults (spec voucher checks 6-7 read the channel on chain for every voucher; every commit is
fsynced), the on-chain read reused for 5 s (`--chain-check-ttl 5`), and additionally no fsync per
commit (`--db-sync normal`). With `--reference`, the reference implementation's session server
(solana-pay-kit 0.10.0 through tests/interop/refkit/server.py, under $MPP_REF_PYTHON or
/work/ref/bin/python) is measured the same way, on `mpp localnet` in another process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from solders.keypair import Keypair

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mppcli.protocol.auth import Challenge, Credential, format_authorization  # noqa: E402
from tests.server.harness import Chain, ServerProcess, _read_line  # noqa: E402
from tests.server.payer import Payer  # noqa: E402


def _headers(payer: Payer, challenge: Challenge, price: int, count: int) -> list[dict[str, str]]:
    return [
        {
            "Authorization": format_authorization(
                Credential(challenge, payer.voucher_payload(payer.voucher(k * price)))
            )
        }
        for k in range(1, count + 1)
    ]


async def _run_channel(http: httpx.AsyncClient, url: str, headers: list[dict[str, str]]) -> int:
    for h in headers:
        response = await http.get(url, headers=h)
        if response.status_code != 200:
            raise RuntimeError(f"voucher refused: {response.text[:300]}")
    return len(headers)


async def _measure(url: str, batches: list[list[dict[str, str]]]) -> float:
    limits = httpx.Limits(max_connections=len(batches), max_keepalive_connections=len(batches))
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        await http.get(url.replace("/paid", "/health"))
        started = time.perf_counter()
        done = await asyncio.gather(*(_run_channel(http, url, b) for b in batches))
        return sum(done) / (time.perf_counter() - started)


def _open_payers(server: ServerProcess, count: int, deposit: int) -> list[Payer]:
    payers = []
    for _ in range(count):
        payer = Payer(server, funds=deposit)
        response = payer.open(deposit)
        if response.status_code != 200:
            raise RuntimeError(response.text)
        payers.append(payer)
    return payers


def bench_ours(args: argparse.Namespace, flags: tuple[str, ...]) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as home:
        server = ServerProcess.start(
            Path(home) / "home", "--ephemeral", *flags, "--price", "0.000001", "--min-deposit", "0.000001"
        )
        try:
            url, price = server.url + "/paid", 1
            one = _open_payers(server, 1, args.vouchers * price)[0]
            single = asyncio.run(_measure(url, [_headers(one, one.challenge()[0], price, args.vouchers)]))
            many = _open_payers(server, args.channels, args.per_channel * price)
            batches = [_headers(p, p.challenge()[0], price, args.per_channel) for p in many]
            parallel = asyncio.run(_measure(url, batches))
            return single, parallel
        finally:
            server.stop()


@dataclass
class Target:
    """Any session server the test payer can talk to (the reference server, here)."""

    url: str
    ready: dict[str, str]

    @property
    def chain(self) -> Chain:
        return Chain(self.ready["rpcUrl"])


def bench_reference(args: argparse.Namespace, python: Path) -> tuple[float, float]:
    from mppcli.chain.constants import TOKEN_PROGRAM
    from tests.interop.refkit_runner import RefKit

    with tempfile.TemporaryDirectory() as scratch:
        localnet = subprocess.Popen(
            [sys.executable, "-m", "mppcli", "localnet", "--port", "0", "--json", "--ephemeral"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "MPP_HOME": scratch},
        )
        try:
            ledger = json.loads(_read_line(localnet, 60))
            operator = Keypair()
            Chain(ledger["rpcUrl"]).airdrop(str(operator.pubkey()), 100_000_000_000)
            config = {
                "rpcUrl": ledger["rpcUrl"],
                "mint": ledger["mint"],
                "operatorSecret": str(operator),
                "price": "1",
                "chunkPrice": "1",
                "tokenProgram": str(TOKEN_PROGRAM),
                "idleTimeoutSeconds": 3600,
            }
            with RefKit(python, Path(scratch)).server(config) as ref:
                target = Target(ref.url, {"rpcUrl": ledger["rpcUrl"], "mint": ledger["mint"]})
                one = _open_payers(target, 1, args.vouchers)[0]  # type: ignore[arg-type]
                single = asyncio.run(
                    _measure(ref.url + "/paid", [_headers(one, one.challenge()[0], 1, args.vouchers)])
                )
                many = _open_payers(target, args.channels, args.per_channel)  # type: ignore[arg-type]
                batches = [_headers(p, p.challenge()[0], 1, args.per_channel) for p in many]
                return single, asyncio.run(_measure(ref.url + "/paid", batches))
        finally:
            localnet.terminate()
            localnet.wait(30)


def _reference_python() -> Path | None:
    configured = os.environ.get("MPP_REF_PYTHON")
    path = Path(configured) if configured else Path("/work/ref/bin/python")
    return path if path.exists() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vouchers", type=int, default=400)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--per-channel", type=int, default=20)
    parser.add_argument(
        "--reference", action="store_true", help="also measure solana-pay-kit 0.10.0's server"
    )
    args = parser.parse_args()
    print(f"mpp serve, vouchers accepted per second over HTTP on 127.0.0.1 (cpus: {os.cpu_count()})")
    setups = (
        ((), "defaults: chain read per voucher, fsync"),
        (("--chain-check-ttl", "5"), "chain read reused 5 s, fsync"),
        (("--chain-check-ttl", "5", "--db-sync", "normal"), "chain read reused 5 s, no fsync"),
    )
    for flags, label in setups:
        _report(label, *bench_ours(args, flags), args.channels)
    if args.reference:
        python = _reference_python()
        if python is None:
            print("  reference server: skipped (no venv with solana-pay-kit 0.10.0; set MPP_REF_PYTHON)")
            return
        _report("reference server (solana-pay-kit 0.10.0)", *bench_reference(args, python), args.channels)


def _report(label: str, single: float, parallel: float, channels: int) -> None:
    print(f"  {label:40s} 1 channel: {single:7.0f}/s   {channels} channels: {parallel:7.0f}/s", flush=True)


if __name__ == "__main__":
    main()
