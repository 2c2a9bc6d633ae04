"""What a paid request costs `mpp serve`, against a free one, one channel against many, and per stage.

    python bench/server_vouchers.py [--rounds 5] [--per-round 100] [--channels 50,100]
                                    [--per-channel 20] [--reference] [--no-profile] [-- serve flags]

Prints, from one run:

1. free vs paid: one sequential keep-alive client alternates rounds of `GET /health` (free) and
   `GET /paid` with a fresh pre-signed voucher each (paid); req/s of each and paid/free.
2. channels at once: vouchers/s with one channel (the sequential paid figure above) and with 50
   and 100 channels paying concurrently (each channel sequential, as it must be), and the ratios
   to one channel.
3. the same for the reference server (solana-pay-kit 0.10.0 through tests/interop/refkit/server.py,
   under $MPP_REF_PYTHON or /work/ref/bin/python, on `mpp localnet` in another process) with
   `--reference`, and ours/reference.
4. a per-stage profile of a paid request (parse, challenge HMAC, verify, chain freshness, store,
   receipt, the rest of the handler, and HTTP + framework around it), sequential and with the
   largest channel count, from a second server run under bench/_stage_profile.py (timers wrapped
   around the stages from outside; the figures in 1-3 come from an untimed server).

`mpp serve` runs with its defaults on an embedded throwaway ledger (`--ephemeral`) but with a real
database file (`--db`), so every commit is as durable as in production. Extra flags after `--` go
to `mpp serve` (e.g. `-- --db-sync normal`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from solders.keypair import Keypair

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mppcli.protocol.auth import Challenge, Credential, format_authorization  # noqa: E402
from tests.server.harness import READY_TIMEOUT, Chain, ServerProcess, _read_line  # noqa: E402
from tests.server.payer import Payer  # noqa: E402

STAGES = ("parse", "challenge HMAC", "verify", "chain freshness", "store", "receipt", "render")


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


async def _concurrent(url: str, batches: list[list[dict[str, str]]]) -> float:
    """Vouchers/s with every batch (one channel, one keep-alive connection each) paying at once.

    A connection per channel, as separate payers have: a shared pool would leave some connections
    idle long enough for the server's keep-alive timeout to race the next request."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.AsyncClient(timeout=120, limits=limits) for _ in batches]
    try:
        await asyncio.gather(*(c.get(url.replace("/paid", "/health")) for c in clients))
        started = time.perf_counter()
        done = await asyncio.gather(*(_run_channel(c, url, b) for c, b in zip(clients, batches, strict=True)))
        return sum(done) / (time.perf_counter() - started)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


async def _free_vs_paid(
    base: str, paid: list[dict[str, str]], rounds: int, pids: list[int]
) -> tuple[float, float, float, float]:
    """(free req/s, paid req/s, server CPU µs per free request, per paid request): one keep-alive
    connection, free and paid rounds interleaved."""
    per_round = len(paid) // rounds
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    free_s = paid_s = free_cpu = paid_cpu = 0.0
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        for _ in range(20):
            await http.get(base + "/health")
        for r in range(rounds):
            cpu, started = _cpu_seconds(pids), time.perf_counter()
            for _ in range(per_round):
                response = await http.get(base + "/health")
                if response.status_code != 200:
                    raise RuntimeError(f"/health answered {response.status_code}")
            free_s += time.perf_counter() - started
            free_cpu += _cpu_seconds(pids) - cpu
            cpu, started = _cpu_seconds(pids), time.perf_counter()
            await _run_channel(http, base + "/paid", paid[r * per_round : (r + 1) * per_round])
            paid_s += time.perf_counter() - started
            paid_cpu += _cpu_seconds(pids) - cpu
    count = rounds * per_round
    return count / free_s, count / paid_s, free_cpu / count * 1e6, paid_cpu / count * 1e6


def _open_payers(server: Any, count: int, deposit: int) -> list[Payer]:
    payers = []
    for _ in range(count):
        payer = Payer(server, funds=deposit)
        response = payer.open(deposit)
        if response.status_code != 200:
            raise RuntimeError(response.text)
        payers.append(payer)
    return payers


@dataclass
class Figures:
    free: float
    paid: float
    many: dict[int, float]
    cpu_free: float = 0.0  # server (+ ledger) CPU µs per free request
    cpu_paid: float = 0.0  # the same per paid request, one channel
    cpu_many: dict[int, float] | None = None  # the same per paid request, n channels at once


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes (all their threads) so far, from /proc."""
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _measure(target: Any, base: str, price: int, args: argparse.Namespace, pids: list[int]) -> Figures:
    """The figures of one server; `pids` are its processes (server and ledger) for CPU per request,
    which, unlike req/s, does not depend on what else the machine is running."""
    total = args.rounds * args.per_round
    one = _open_payers(target, 1, total * price)[0]
    headers = _headers(one, one.challenge()[0], price, total)
    free, paid, cpu_free, cpu_paid = asyncio.run(_free_vs_paid(base, headers, args.rounds, pids))
    many: dict[int, float] = {}
    cpu_many: dict[int, float] = {}
    for n in args.channels:
        payers = _open_payers(target, n, args.per_channel * price)
        batches = [_headers(p, p.challenge()[0], price, args.per_channel) for p in payers]
        before = _cpu_seconds(pids)
        many[n] = asyncio.run(_concurrent(base + "/paid", batches))
        cpu_many[n] = (_cpu_seconds(pids) - before) / (n * args.per_channel) * 1e6
    return Figures(free, paid, many, cpu_free, cpu_paid, cpu_many)


def _serve_flags(args: argparse.Namespace, home: Path) -> tuple[str, ...]:
    return ("--ephemeral", "--db", str(home / "server.db"), "--price", "0.000001",
            "--min-deposit", "0.000001", *args.serve)


def bench_ours(args: argparse.Namespace) -> Figures:
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch) / "home"
        server = ServerProcess.start(home, *_serve_flags(args, Path(scratch)))
        try:
            return _measure(server, server.url, 1, args, [server.proc.pid])
        except Exception:
            print(server.log()[-2000:], file=sys.stderr)
            raise
        finally:
            server.stop()


def _start_profiled(home: Path, flags: tuple[str, ...], profile: Path) -> ServerProcess:
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "serve.log"
    env = {**os.environ, "MPP_HOME": str(home), "MPP_STAGE_PROFILE": str(profile)}
    env.pop("MPP_RPC_URL", None)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "_stage_profile.py"), "serve", "--port", "0", "--json",
             *flags],
            stdout=subprocess.PIPE, stderr=log, env=env,
        )
    line = _read_line(proc, READY_TIMEOUT)
    if not line:
        proc.kill()
        raise RuntimeError(f"profiled mpp serve did not start:\n{log_path.read_text()}")
    return ServerProcess(proc, json.loads(line), home, log_path, flags)


def _collect(server: ServerProcess, profile: Path) -> dict[str, list[int]]:
    profile.unlink(missing_ok=True)
    server.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 30
    while not profile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)
    return dict(json.loads(profile.read_text()))


def bench_profile(args: argparse.Namespace) -> list[tuple[str, int, float, dict[str, list[int]]]]:
    """[(label, requests, client req/s, {stage: [calls, ns]})] for the sequential and widest runs."""
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        profile = Path(scratch) / "profile.json"
        server = _start_profiled(Path(scratch) / "home", _serve_flags(args, Path(scratch)), profile)
        try:
            total = args.rounds * args.per_round
            one = _open_payers(server, 1, total)[0]
            headers = _headers(one, one.challenge()[0], 1, total)
            _collect(server, profile)
            rate = asyncio.run(_concurrent(server.url + "/paid", [headers]))
            runs.append(("1 channel", total, rate, _collect(server, profile)))
            n = max(args.channels)
            payers = _open_payers(server, n, args.per_channel)
            batches = [_headers(p, p.challenge()[0], 1, args.per_channel) for p in payers]
            _collect(server, profile)
            rate = asyncio.run(_concurrent(server.url + "/paid", batches))
            runs.append((f"{n} channels", n * args.per_channel, rate, _collect(server, profile)))
        finally:
            server.stop()
    return runs


@dataclass
class Target:
    """Any session server the test payer can talk to (the reference server, here)."""

    url: str
    ready: dict[str, str]

    @property
    def chain(self) -> Chain:
        return Chain(self.ready["rpcUrl"])


def bench_reference(args: argparse.Namespace, python: Path) -> Figures:
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
                return _measure(target, ref.url, 1, args, [ref.process.pid, localnet.pid])
        finally:
            localnet.terminate()
            localnet.wait(30)


def _reference_python() -> Path | None:
    configured = os.environ.get("MPP_REF_PYTHON")
    path = Path(configured) if configured else Path("/work/ref/bin/python")
    return path if path.exists() else None


def _report(label: str, f: Figures) -> None:
    print(f"  {label}")
    print(f"    free {f.free:7.0f} req/s   paid {f.paid:7.0f} req/s   paid/free {f.paid / f.free:5.2f}")
    wide = "   ".join(f"{n} ch {v:6.0f}/s ({v / f.paid:4.2f}x)" for n, v in f.many.items())
    print(f"    1 ch {f.paid:6.0f}/s   {wide}")
    cpu = "   ".join(f"{n} ch {v:5.0f}" for n, v in (f.cpu_many or {}).items())
    print(f"    server+ledger CPU µs/request: free {f.cpu_free:5.0f}   paid {f.cpu_paid:5.0f} "
          f"({f.cpu_paid / f.cpu_free:4.2f}x)   {cpu}", flush=True)


def _report_profile(runs: list[tuple[str, int, float, dict[str, list[int]]]]) -> None:
    print("  per-stage profile of a paid request, µs per request (server wall clock; with many channels")
    print("  at once the async stages include waiting, and the last line is 1 / throughput)")
    header = "".join(f"{label:>16s}" for label, *_ in runs)
    print(f"    {'stage':24s}{header}")

    def per(run: tuple[str, int, float, dict[str, list[int]]], stage: str) -> float:
        _, requests, _, totals = run
        return totals.get(stage, [0, 0])[1] / 1000 / requests

    for stage in STAGES:
        print(f"    {stage:24s}" + "".join(f"{per(run, stage):16.1f}" for run in runs))
    rest = [per(run, "handle") - sum(per(run, s) for s in STAGES if s != "render") for run in runs]
    print(f"    {'rest of the handler':24s}" + "".join(f"{r:16.1f}" for r in rest))
    print(f"    {'durable (fsync wait)':24s}" + "".join(f"{per(run, 'durable'):16.1f}" for run in runs))
    # Sequential only: with many channels at once the async stages overlap, so no subtraction holds.
    around = [f"{1e6 / run[2] - per(run, 'handle') - per(run, 'durable'):16.1f}" if i == 0 else f"{'-':>16s}"
              for i, run in enumerate(runs)]
    print(f"    {'HTTP, framework, client':24s}" + "".join(around))
    print(f"    {'= 1 / throughput':24s}" + "".join(f"{1e6 / r[2]:16.1f}" for r in runs), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=100)
    parser.add_argument("--channels", default="50,100", help="concurrent channel counts, comma-separated")
    parser.add_argument("--per-channel", type=int, default=20)
    parser.add_argument("--reference", action="store_true", help="also measure the reference server")
    parser.add_argument("--no-profile", action="store_true", help="skip the per-stage profile")
    parser.add_argument("serve", nargs="*", help="extra `mpp serve` flags (after --)")
    args = parser.parse_args()
    args.channels = [int(n) for n in args.channels.split(",")]
    print(f"paid requests over HTTP on 127.0.0.1 (cpus: {os.cpu_count()}, "
          f"{args.rounds}x{args.per_round} sequential, {args.per_channel} per channel when concurrent)")
    ours = bench_ours(args)
    _report("mpp serve " + (" ".join(args.serve) or "(defaults, --db file)"), ours)
    if args.reference:
        python = _reference_python()
        if python is None:
            print("  reference server: skipped (no venv with solana-pay-kit 0.10.0; set MPP_REF_PYTHON)")
        else:
            ref = bench_reference(args, python)
            _report("reference server (solana-pay-kit 0.10.0)", ref)
            wide = "   ".join(f"{n} ch {ours.many[n] / ref.many[n]:4.2f}x" for n in args.channels)
            ratio = (ours.paid / ours.free) / (ref.paid / ref.free)
            print(f"  ours/reference: free {ours.free / ref.free:4.2f}x   "
                  f"paid {ours.paid / ref.paid:4.2f}x   paid/free {ratio:4.2f}x   {wide}")
    if not args.no_profile:
        _report_profile(bench_profile(args))


if __name__ == "__main__":
    main()
