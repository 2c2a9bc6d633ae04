"""Program events, as carried by the `emitEvent` self-CPI: tag, 8-byte discriminator, Borsh body."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mppcli.chain import borsh
from mppcli.chain.idl import load_idl
from mppcli.errors import MalformedError


@dataclass(frozen=True)
class Event:
    name: str
    fields: Mapping[str, Any]


def encode_event(name: str, values: Mapping[str, Any]) -> bytes:
    """The bytes after `emitEvent`'s discriminator: event tag, event discriminator, payload."""
    idl = load_idl()
    event = idl.events[name]
    return idl.event_tag + event.discriminator + borsh.encode_fields(idl, event.fields, values, name)


def decode_event(data: bytes) -> Event:
    """Parse event bytes (as `encode_event` writes them)."""
    idl = load_idl()
    if not data.startswith(idl.event_tag):
        raise MalformedError("event data does not start with the event tag")
    head = data[len(idl.event_tag):len(idl.event_tag) + 8]
    event = next((e for e in idl.events.values() if e.discriminator == head), None)
    if event is None:
        raise MalformedError(f"unknown event discriminator {head.hex()}")
    values, end = borsh.decode_fields(idl, event.fields, data, len(idl.event_tag) + 8, event.name)
    if end != len(data):
        raise MalformedError(f"event {event.name} has {len(data) - end} trailing bytes")
    return Event(event.name, values)
