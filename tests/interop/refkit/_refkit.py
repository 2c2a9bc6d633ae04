"""Plumbing shared by the reference-kit drivers (run under the reference venv's python).

Each driver reads one JSON object on stdin and prints one JSON object on stdout. A driver
that cannot do its job still answers in JSON (`{"ok": false, "error": ...}`) and exits 0, so
the pytest side always gets a parseable answer and can show the reference's own message.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from typing import Any

U64_MAX = (1 << 64) - 1


def read_request() -> dict[str, Any]:
    """The single JSON object a driver was given on stdin."""
    request = json.loads(sys.stdin.read())
    if not isinstance(request, dict):
        raise ValueError("the driver input must be a JSON object")
    return request


def emit(value: dict[str, Any]) -> None:
    """Write one JSON line on stdout and flush it (the caller may be waiting on it)."""
    sys.stdout.write(json.dumps(value, sort_keys=True) + "\n")
    sys.stdout.flush()


def run_ops(ops: dict[str, Callable[[dict[str, Any]], dict[str, Any]]]) -> None:
    """Dispatch `request["op"]` to one of `ops` and emit its answer (or the error)."""
    try:
        request = read_request()
        op = request.get("op")
        if op not in ops:
            raise ValueError(f"unknown op {op!r}; expected one of {sorted(ops)}")
        answer = ops[op](request)
        emit({"ok": True, **answer})
    except Exception as exc:  # the caller wants the reference's message, not a crash
        emit({"ok": False, "error": f"{type(exc).__name__}: {exc}",
              "traceback": traceback.format_exc(limit=6)})


def keypair(secret_b58: str) -> Any:
    """A solders Keypair from the base58 text of the 64-byte secret (seed ‖ public key)."""
    from solders.keypair import Keypair

    return Keypair.from_base58_string(secret_b58)


def reason_of(exc: BaseException) -> str:
    """The reference's own rejection text, with the chain of causes it wrapped."""
    parts = [str(exc)]
    cause = exc.__cause__
    while cause is not None and str(cause) not in parts[-1]:
        parts.append(str(cause))
        cause = cause.__cause__
    return " <- ".join(parts)
