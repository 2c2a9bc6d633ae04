"""Vouchers accepted per second by `mpp serve` over HTTP on loopback: one channel, and 100 channels.

    python bench/server_vouchers.py [--vouchers 400] [--channels 100] [--per-channel 20] [--reference]

Starts `mpp serve --ephemeral` (embedded ledger in the same process), opens channels with the
project's own builders (tests/server/payer.py), pre-signs every voucher, then measures the time
from the first request to the last accepted one. One channel is sequential by nature (each voucher
must follow the previous one); 100 channels run concurrently, each sequential. Run twice: with the
default per-voucher on-chain check (spec voucher checks 6-7, `--chain-check-ttl 0`) and with the
on-chain read reused for 5 s. `--reference` adds the reference server (solana-pay-kit 0.10.0,
tests/interop/refkit/server.py) on its own embedded ledger, when its venv exists.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mppcli.protocol.auth import Challenge, Credential, format_authorization  # noqa: E402
from tests.server.harness import ServerProcess  # noqa: E402
from tests.server.payer import Payer  # noqa: E402


def _headers(payer: Payer, challenge: Challenge, price: int, count: int) -> list[dict[str, str]]:
    return [{"Authorization": format_authorization(Credential(challenge, payer.voucher_payload(
        payer.voucher(k * price)))) } for k in range(1, count + 1)]


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


def bench_ours(args: argparse.Namespace, ttl: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as home:
        server = ServerProcess.start(Path(home) / "home", "--ephemeral", "--chain-check-ttl", ttl,
                                     "--price", "0.000001", "--min-deposit", "0.000001")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vouchers", type=int, default=400)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--per-channel", type=int, default=20)
    args = parser.parse_args()
    print(f"mpp serve, vouchers accepted per second over HTTP on 127.0.0.1 (cpus: {os.cpu_count()})")
    for ttl, label in (("0", "on-chain check every voucher (default)"), ("5", "on-chain read reused 5 s")):
        single, parallel = bench_ours(args, ttl)
        print(f"  {label:42s} 1 channel: {single:8.0f}/s   {args.channels} channels: {parallel:8.0f}/s")


if __name__ == "__main__":
    main()
