"""What the gateway tests read back: the requests the test upstream saw, and a channel as
`mpp serve channels --json` lists it from the running server's database."""

from __future__ import annotations

from pathlib import Path
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


def start_gateway(home: Path, upstream: str, *routes_and_flags: str,
                  env: dict[str, str] | None = None) -> ServerProcess:
    """`mpp serve --upstream` on a throwaway chain, with a durable store beside `home` (where
    `server_channel` reads it)."""
    return ServerProcess.start(
        home, "--ephemeral", "--db", str(home.parent / "server.db"), "--min-deposit", "0.01",
        "--stream-pause", "2", "--upstream", upstream, *routes_and_flags, env=env,
    )
