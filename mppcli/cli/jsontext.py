"""The one compact JSON form `mpp` prints: JSON output, and JSON-valued fields in human lines.

A leaf, so `cli.output` (which renders errors with `cli.units`) and `cli.units` (which prints
structured values) can both use it without importing each other.
"""

from __future__ import annotations

import json


def dumps(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
