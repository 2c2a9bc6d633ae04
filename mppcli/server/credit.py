"""The metered stream's credit window: how much may be delivered ahead of its vouchers.

`--stream-credit` is an amount in token units (`0.05`) or a chunk count at the chunk price
(`512x`). The window bounds `spent - acceptedCumulative` on a channel: what a payer has received
but not yet vouched for, which is the seller's risk if the payer never pays. The default, 512
chunks, lets a client that commits once per response (the reference's stock `MeteredSseStream`)
receive a whole 50-chunk stream, and is what keeps a pipelining client at wire speed: throughput
is about window / commit latency (the payer's fsync'd record, the round trip, the server's
commit), measured in bench/stream_events.py (64 chunks gave 0.04x the unmetered rate; 512 gives 0.73-0.88x
with the client's record written on its loop and commits on a kept-open connection).
"""

from __future__ import annotations

import functools

from mppcli.errors import MalformedError
from mppcli.protocol.amounts import parse_amount

DEFAULT_CREDIT = "512x"


@functools.cache  # asked for each time a stream checks its room (the config is frozen)
def parse_credit(text: str, chunk_price: int, decimals: int) -> int:
    """The window in base units; at least one chunk."""
    raw = text.strip()
    if raw.endswith("x"):
        count = raw[:-1]
        if not count.isascii() or not count.isdigit() or len(count) > 9:
            raise ValueError(f"--stream-credit must be an amount or a chunk count like 64x, got {text!r}")
        window = int(count) * chunk_price
    else:
        try:
            window = parse_amount(raw, decimals, "--stream-credit")
        except MalformedError as exc:
            raise ValueError(f"--stream-credit: {exc}") from None
    if window < chunk_price:
        raise ValueError(f"--stream-credit must cover at least one chunk ({chunk_price} base units)")
    return window
