"""Vouchers signed and verified per second through mppcli.protocol, next to raw solders Ed25519.

    python bench/voucher_sign_verify.py [--seconds 2] [--json]

"ours sign" is `sign_voucher` (50-byte message, Ed25519, base58) plus `to_json()`: what a client
does per voucher. "ours verify" is `parse_signed_voucher` of the JSON object plus
`verify_signed_voucher`: what a server does per voucher it receives. The raw rows sign and verify
the same 50-byte message with solders alone, so the difference is the cost of our wire layer.
Each row gets `--seconds` on one core, in ten interleaved slices; the figure is operations/second.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from solders.keypair import Keypair

from mppcli.protocol.voucher import (
    Voucher,
    VoucherKey,
    parse_signed_voucher,
    sign_voucher,
    verify_signed_voucher,
    voucher_message,
)

CHANNEL = "cGfHiC6Kgg3FpFZvgwGcswsCRtp4aBP2fzuXRQPizuN"
OURS_SIGN = "ours sign (sign_voucher(keypair) + to_json)"
OURS_SIGN_KEPT = "ours sign, key kept (VoucherKey.sign + to_json)"
OURS_VERIFY = "ours verify (parse_signed_voucher + verify)"
RAW_SIGN = "raw solders sign (50-byte message)"
RAW_VERIFY = "raw solders verify (50-byte message)"


def run_slice(operation: Callable[[int], object], seconds: float) -> tuple[int, float]:
    """Run `operation(i)` in batches of 200 for about `seconds`; (operations, elapsed)."""
    count, started = 0, time.perf_counter()
    while True:
        for _ in range(200):
            operation(count)
            count += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return count, elapsed


def rates(jobs: dict[str, Callable[[int], object]], seconds: float, rounds: int = 10) -> dict[str, float]:
    """Operations/second per job. Jobs take turns in short slices, so a machine shared with other
    work slows every row alike and the ratios between rows stay meaningful."""
    for operation in jobs.values():
        run_slice(operation, 0.05)  # warm-up
    totals = {name: [0, 0.0] for name in jobs}
    for _ in range(rounds):
        for name, operation in jobs.items():
            count, elapsed = run_slice(operation, seconds / rounds)
            totals[name][0] += count
            totals[name][1] += elapsed
    return {name: count / elapsed for name, (count, elapsed) in totals.items()}


def workloads() -> dict[str, Callable[[int], object]]:
    keypair = Keypair()
    key = VoucherKey(keypair)
    pubkey = keypair.pubkey()
    vouchers = [Voucher(CHANNEL, amount, 4_102_444_800) for amount in range(1, 1001)]
    signed_json = [sign_voucher(keypair, v).to_json() for v in vouchers]
    messages = [voucher_message(v) for v in vouchers]
    signatures = [keypair.sign_message(m) for m in messages]

    def ours_verify(i: int) -> object:
        ok = verify_signed_voucher(parse_signed_voucher(signed_json[i % 1000]))
        assert ok
        return ok

    return {
        OURS_SIGN: lambda i: sign_voucher(keypair, vouchers[i % 1000]).to_json(),
        OURS_SIGN_KEPT: lambda i: key.sign(vouchers[i % 1000]).to_json(),
        OURS_VERIFY: ours_verify,
        RAW_SIGN: lambda i: keypair.sign_message(messages[i % 1000]),
        RAW_VERIFY: lambda i: signatures[i % 1000].verify(pubkey, messages[i % 1000]),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="measuring time per row")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    results = rates(workloads(), args.seconds)
    if args.json:
        print(json.dumps({name: round(value) for name, value in results.items()}))
        return 0
    print(f"python {sys.version.split()[0]}, one core, {args.seconds:g} s per row (interleaved)")
    for name, value in results.items():
        print(f"  {name:<50} {value:>9,.0f} /s   {1e6 / value:7.1f} µs")
    raw_sign, raw_verify = results[RAW_SIGN], results[RAW_VERIFY]
    print(f"  ours/raw: sign {results[OURS_SIGN] / raw_sign:.2f}, sign with a kept key "
          f"{results[OURS_SIGN_KEPT] / raw_sign:.2f}, verify {results[OURS_VERIFY] / raw_verify:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
