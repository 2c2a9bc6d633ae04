"""Child processes for the concurrency and crash tests: `python -m tests.state.workers CMD ...`.

Each command uses the real store on the real files of the MPP_HOME it is given.
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

from mppcli.files.atomic import atomic_write
from mppcli.paths import resolve_paths
from mppcli.state.store import ChannelStore
from tests.state.factory import make_record, voucher_text


def _store(home: str) -> ChannelStore:
    return ChannelStore(resolve_paths({"MPP_HOME": home}), warn=lambda message: None)


def race(home: str, cid: str, count: str, seed: str) -> None:
    """`count` locked updates proposing random signed amounts (some lower), each bumping `spent`."""
    rng = random.Random(int(seed))
    store, proposed = _store(home), []
    for _ in range(int(count)):
        value = rng.randrange(1, 10**12)
        proposed.append(value)
        store.update(cid, lambda r, v=value: replace(  # type: ignore[misc]
            r, signed_cumulative=v, last_signed_voucher=voucher_text(cid, v), spent=r.spent + 1), wait=120)
    print(json.dumps({"max": max(proposed)}), flush=True)


def hold(home: str, cid: str, seconds: str) -> None:
    """Hold the channel lock, say so, and sleep (the test kills or waits for us)."""
    with _store(home).lock(cid, purpose="holding it for a test"):
        print("locked", flush=True)
        time.sleep(float(seconds))


def open_race(home: str, payer: str, origin: str) -> None:
    """Open a channel to `origin` unless one exists: the open lock must make exactly one win."""
    store = _store(home)
    with store.open_lock(payer, origin, wait=60):
        if any(r.origin == origin and r.payer == payer for r in store.list().records):
            print("reused", flush=True)
            return
        time.sleep(0.05)  # the window in which a second opener would deposit twice
        store.create(make_record(payer=payer, origin=origin, url=f"{origin}/paid"))
        print("created", flush=True)


def crash_writer(path: str) -> None:
    """Rewrite one file forever with self-checking versions (killed by the test)."""
    target, version = Path(path), 0
    while True:
        version += 1
        body = {"version": version, "filler": [version] * 200_000}
        atomic_write(target, json.dumps(body).encode())
        print(version, flush=True)


def crash_updater(home: str, cid: str) -> None:
    """Advance one channel's watermark forever with large records (killed by the test)."""
    store = _store(home)
    while True:
        done = store.update(cid, lambda r: replace(
            r, signed_cumulative=r.signed_cumulative + 1, spent=r.signed_cumulative + 1,
            last_signed_voucher=voucher_text(cid, r.signed_cumulative + 1),
            realm="x" * 200_000))
        print(done.signed_cumulative, flush=True)


COMMANDS = {"race": race, "hold": hold, "open-race": open_race, "crash-writer": crash_writer,
            "crash-updater": crash_updater}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
