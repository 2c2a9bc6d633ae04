"""`mpp serve` with per-stage wall-clock timers, for bench/server_vouchers.py only.

    python bench/_stage_profile.py serve --port 0 --json ...      (MPP_STAGE_PROFILE=<file>)

Wraps, from the outside and only in this process, the functions that make up a paid request (the
production code carries no timer, so profiling costs nothing when it is off): credential parsing,
the challenge HMAC check, the Ed25519 voucher check, the chain-freshness check, the store's reads
and commit, and the receipt. On SIGUSR1 and at exit the totals are written to $MPP_STAGE_PROFILE
as JSON `{stage: [calls, total_ns]}` and reset, so one server can profile several phases.

Synchronous stages nest exclusively (a stage's time excludes the stages it calls); asynchronous
ones (`handle`, `chain`) are wall-clock inclusive, including time spent awaiting.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

_totals: dict[str, list[int]] = {}
_stack: list[list[int]] = []  # per active sync stage: [child_ns]


def _add(stage: str, ns: int) -> None:
    slot = _totals.setdefault(stage, [0, 0])
    slot[0] += 1
    slot[1] += ns


def _wrap(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter_ns()
            try:
                return await fn(*args, **kwargs)
            finally:
                _add(stage, time.perf_counter_ns() - started)

        return timed_async

    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        frame = [0]
        _stack.append(frame)
        started = time.perf_counter_ns()
        try:
            return fn(*args, **kwargs)
        finally:
            took = time.perf_counter_ns() - started
            _stack.pop()
            if _stack:
                _stack[-1][0] += took
            _add(stage, took - frame[0])

    return timed


# (stage, module, attribute path); a name that no longer exists is reported, not fatal.
TARGETS = (
    ("handle", "mppcli.server.method", "SessionMethod.handle"),
    ("parse", "mppcli.server.method", "parse_authorization"),
    ("parse", "mppcli.server.method", "parse_action"),
    ("challenge HMAC", "mppcli.server.challenges", "Issuer.verify"),
    ("verify", "mppcli.server.debit", "check_signature_and_expiry"),
    ("chain freshness", "mppcli.server.context", "ServerContext.confirm_live"),
    ("store", "mppcli.server.store", "Store.channel"),
    ("store", "mppcli.server.store", "Store.cached"),
    ("store", "mppcli.server.store", "Store.pending_deliveries"),
    ("store", "mppcli.server.debit", "_persist"),
    ("receipt", "mppcli.server.debit", "format_receipt"),
    ("receipt", "mppcli.server.debit", "receipt"),
    ("render", "mppcli.server.app", "_paid_body"),
    ("durable", "mppcli.server.store", "Store.durable"),
)


def install() -> list[str]:
    import importlib

    missing = []
    for stage, module_name, path in TARGETS:
        owner: Any = importlib.import_module(module_name)
        *parents, name = path.split(".")
        for part in parents:
            owner = getattr(owner, part)
        original = owner.__dict__.get(name) if isinstance(owner, type) else getattr(owner, name, None)
        if original is None:
            missing.append(f"{module_name}.{path}")
            continue
        setattr(owner, name, _wrap(stage, original))
    return missing


def _dump(*_: object) -> None:
    target = os.environ.get("MPP_STAGE_PROFILE")
    if target:
        Path(target).write_text(json.dumps(_totals))
    _totals.clear()


def main() -> None:
    missing = install()
    if missing:
        print(f"stage profile: not found (skipped): {', '.join(missing)}", file=sys.stderr)
    signal.signal(signal.SIGUSR1, _dump)
    atexit.register(_dump)
    from mppcli.cli.app import main as mpp

    sys.argv = ["mpp", *sys.argv[1:]]
    mpp()


if __name__ == "__main__":
    main()
