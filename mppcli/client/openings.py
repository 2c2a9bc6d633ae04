"""The challenge each channel was opened from, kept beside the channel records.

Operator-signed channels need it: "for a subsequent `use` action, the outer Payment credential MUST
echo the same session challenge that was bound at open" (spec, Session Bearer Proof). The channel
record keeps only that challenge's id, so the whole challenge (public data, no secret) is written
here, atomically and 0600, before the open credential leaves the process.
"""

from __future__ import annotations

import json
from pathlib import Path

from mppcli.errors import MalformedError
from mppcli.files.atomic import atomic_write
from mppcli.paths import Paths, ensure_private_dir
from mppcli.protocol.auth import Challenge, validate_challenge
from mppcli.protocol.encoding import loads_json


def _path(paths: Paths, channel_id: str) -> Path:
    return paths.state_dir / "openings" / f"{channel_id}.json"


def save_opening(paths: Paths, channel_id: str, challenge: Challenge) -> None:
    ensure_private_dir(paths.state_dir / "openings")
    atomic_write(_path(paths, channel_id), json.dumps(challenge.to_json(), sort_keys=True).encode())


def load_opening(paths: Paths, channel_id: str) -> Challenge | None:
    """The opening challenge, or None when it was never kept (or is unreadable)."""
    try:
        return validate_challenge(loads_json(_path(paths, channel_id).read_bytes(), "stored challenge"),
                                  "stored challenge")
    except (OSError, MalformedError):
        return None
