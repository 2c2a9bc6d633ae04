"""What the gateway tests read back: the requests the test upstream saw, and a channel as
`mpp serve channels --json` lists it from the running server's database."""

from __future__ import annotations

from typing import Any

import httpx

from tests.server.harness import ServerProcess
from tests.support import mpp


def seen(upstream: str, path: str) -> list[dict[str, Any]]:
    """The requests the upstream received on `path`, oldest first (`GET /__seen`)."""
    entries: list[dict[str, Any]] = httpx.get(f"{upstream}/__seen").json()
    return [e for e in entries if e["path"] == path]


def server_channel(gateway: ServerProcess, channel_id: str) -> dict[str, Any]:
    """The gateway's own view of one channel (its database lives beside its home)."""
    listed = mpp("--json", "serve", "channels", "--db", str(gateway.home.parent / "server.db"))
    assert listed.exit_code == 0, listed
    found = [c for c in listed.json["channels"] if c["channelId"] == channel_id]
    assert len(found) == 1, listed.json
    return dict(found[0])
