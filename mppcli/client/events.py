"""What the payer flows report while they work; the CLI decides how to show it.

Flows never print (ARCHITECTURE: `client/` never prints). They hand `Event`s to a sink: the CLI
turns them into NDJSON lines, a live spend line on a terminal, or plain periodic lines. The `type`
values are CLI.md's NDJSON types: data, metering, voucher, receipt, usage, topup, done, error;
`open`, `retry` and `info` are added.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    type: str
    fields: Mapping[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"type": self.type, **self.fields}


Sink = Callable[[Event], None]


def discard(_event: Event) -> None:
    """A sink for flows run where nobody watches."""
