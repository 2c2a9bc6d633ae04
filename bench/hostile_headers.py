"""How parse time of hostile WWW-Authenticate headers grows with their length (should be linear).

    python bench/hostile_headers.py [--json]

tests/protocol/test_challenge.py checks that such headers are parsed or refused as malformed; the
speed is measured here instead (no wall-clock bounds in tests). For each hostile shape the header is
built at 1 KiB and at 16 KiB and parsed repeatedly; the figure is the time ratio 16 KiB / 1 KiB.
Linear parsing gives about 16; a quadratic one about 256.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable

from mppcli.errors import MalformedError
from mppcli.protocol.auth import parse_www_authenticate

BASIC = 'Payment id="ch_1", realm="api.example.com", method="solana", intent="session", request="e30"'
SHAPES: dict[str, Callable[[int], str]] = {
    "backslashes in a quoted value": lambda n: ', fuzz="' + "\\" * n,
    "escaped quotes": lambda n: ', fuzz="' + '\\"' * (n // 2),
    "empty parameters": lambda n: ", " + "a=" * (n // 2),
    "bare tokens": lambda n: ", " + ",".join(["x"] * (n // 2)),
    "quotes only": lambda n: ", " + '"' * n,
}


def seconds_to_parse(header: str, repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        with contextlib.suppress(MalformedError):
            parse_www_authenticate(header)
    return (time.perf_counter() - started) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    for name, tail in SHAPES.items():
        small = seconds_to_parse(BASIC + tail(1024), 200)
        large = seconds_to_parse(BASIC + tail(16384), 20)
        rows.append({"shape": name, "us_1k": small * 1e6, "us_16k": large * 1e6, "ratio": large / small})
    if args.json:
        print(json.dumps(rows))
        return
    for row in rows:
        print(f"{row['shape']:<32} 1 KiB {row['us_1k']:9.1f} µs  16 KiB {row['us_16k']:10.1f} µs  "
              f"ratio {row['ratio']:6.1f}")


if __name__ == "__main__":
    main()
