"""Transactions per second of the embedded ledger over JSON-RPC.

Starts a throwaway ledger on a free loopback port, funds N payers (not timed), then times two
phases through `mppcli.rpc.Rpc` (solana-py's AsyncClient), each transaction signed beforehand:

- open: N channel opens (operator = fee payer and rent payer, payer co-signs);
- close: N settle-and-close bundles `[ed25519 voucher, settleAndSeal, distribute]`.

Each phase is timed twice: one request at a time, and with `--concurrency` requests in flight.
A transaction counts once `sendTransaction` (with preflight) returned: the ledger applies it
before answering. Every signature is confirmed afterwards (not timed) to prove it landed.

    python bench/ledger_tps.py [--count 200] [--concurrency 8] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from mppcli.chain.ed25519 import ed25519_instruction
from mppcli.chain.instructions import distribute_instruction, open_instruction, settle_and_seal_instruction
from mppcli.chain.params import OpenParams
from mppcli.chain.txcodec import compile_transaction, partial_sign
from mppcli.ledger.runner import RunningLedger, start_ledger
from mppcli.protocol.voucher import Voucher, voucher_message
from mppcli.rpc import Rpc

DEPOSIT = 1_000_000


@dataclass(frozen=True)
class Phase:
    name: str
    count: int
    seconds: float
    concurrency: int

    @property
    def tps(self) -> float:
        return self.count / self.seconds

    def to_json(self) -> dict[str, object]:
        return {"phase": self.name, "transactions": self.count, "seconds": round(self.seconds, 3),
                "concurrency": self.concurrency, "tps": round(self.tps, 1)}


async def fund(rpc: Rpc, payers: Sequence[Keypair], operator: Keypair) -> None:
    signatures = [await rpc.request_airdrop(operator.pubkey(), 1000 * 10**9),
                  await rpc.faucet_mint(operator.pubkey(), 1)]
    for payer in payers:
        signatures.append(await rpc.faucet_mint(payer.pubkey(), DEPOSIT))
    for signature in signatures:
        await rpc.confirm(signature, 30)


def open_params(running: RunningLedger, payers: Sequence[Keypair], operator: Keypair,
                slot: int) -> list[OpenParams]:
    """One channel per payer; the payer also signs its own vouchers."""
    mint = Pubkey.from_string(running.mint)
    op = operator.pubkey()
    return [OpenParams(p.pubkey(), op, mint, p.pubkey(), i, DEPOSIT, 60, slot, op)
            for i, p in enumerate(payers)]


def signed_opens(params: Sequence[OpenParams], payers: Sequence[Keypair], operator: Keypair,
                 blockhash: Hash) -> list[VersionedTransaction]:
    return [partial_sign(compile_transaction([open_instruction(p)], operator.pubkey(), blockhash),
                         [payer, operator]) for p, payer in zip(params, payers, strict=True)]


def signed_closes(params: Sequence[OpenParams], payers: Sequence[Keypair], operator: Keypair,
                  blockhash: Hash) -> list[VersionedTransaction]:
    txs = []
    for p, payer in zip(params, payers, strict=True):
        message = voucher_message(Voucher(str(p.channel), DEPOSIT // 3, 0))
        calls = [ed25519_instruction(payer.pubkey(), payer.sign_message(message), message),
                 settle_and_seal_instruction(p.keys(), True), distribute_instruction(p.keys())]
        unsigned = compile_transaction(calls, operator.pubkey(), blockhash, legacy=True)
        txs.append(partial_sign(unsigned, [operator]))
    return txs


async def timed(rpc: Rpc, name: str, txs: Sequence[VersionedTransaction], concurrency: int) -> Phase:
    """Send every transaction (at most `concurrency` in flight), then confirm them all."""
    gate = asyncio.Semaphore(concurrency)

    async def send(tx: VersionedTransaction) -> str:
        async with gate:
            return await rpc.send_transaction(bytes(tx))

    started = time.perf_counter()
    signatures = await asyncio.gather(*(send(tx) for tx in txs))
    elapsed = time.perf_counter() - started
    for signature in signatures:
        await rpc.confirm(signature, 30)
    return Phase(name, len(txs), elapsed, concurrency)


async def run_phases(running: RunningLedger, count: int, concurrency: int) -> list[Phase]:
    phases = []
    async with Rpc(running.rpc_url) as rpc:
        for width in (1, concurrency):
            operator, payers = Keypair(), [Keypair() for _ in range(count)]
            await fund(rpc, payers, operator)
            blockhash, slot = await rpc.latest_blockhash()
            params = open_params(running, payers, operator, slot)
            phases.append(await timed(rpc, "open", signed_opens(params, payers, operator, blockhash), width))
            blockhash, _ = await rpc.latest_blockhash()
            closes = signed_closes(params, payers, operator, blockhash)
            phases.append(await timed(rpc, "settle-and-close bundle", closes, width))
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="transactions per phase (default 200)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight in the second run")
    parser.add_argument("--json", action="store_true", help="one JSON object per phase")
    args = parser.parse_args()
    running = start_ledger(None, 0)
    try:
        phases = asyncio.run(run_phases(running, args.count, args.concurrency))
    finally:
        running.stop()
    for phase in phases:
        if args.json:
            print(json.dumps(phase.to_json()))
        else:
            print(f"{phase.name:<24} {phase.count:>5} tx  {phase.seconds:7.2f} s  "
                  f"{phase.tps:7.1f} tx/s  (concurrency {phase.concurrency})")


if __name__ == "__main__":
    main()
