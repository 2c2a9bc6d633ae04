"""What the payer flows report while they work; the CLI decides how to show it.

Flows never print (ARCHITECTURE: `client/` never prints). They hand `Event`s to a sink: the CLI
turns them into NDJSON lines, a live spend line on a terminal, or plain periodic lines. The `type`
values are CLI.md's NDJSON types: data, metering, voucher, receipt, usage, topup, done, error;
`open`, `retry` and `info` are added.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mppcli.protocol.metering import data_value


@dataclass(frozen=True)
class EventData:
    """A data event's SSE data as received, decoded (JSON when it is JSON) only when an event is
    shown: decoding every frame of a metered stream cost a quarter of `mpp stream`'s time per
    chunk, for a value only `--ndjson` prints."""

    text: str

    def to_json(self) -> object:
        return data_value(self.text)


@dataclass(frozen=True)
class Event:
    type: str
    fields: Mapping[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        shown = {key: value.to_json() if isinstance(value, EventData) else value
                 for key, value in self.fields.items()}
        return {"type": self.type, **shown}


Sink = Callable[[Event], None]


def discard(_event: Event) -> None:
    """A sink for flows run where nobody watches."""
