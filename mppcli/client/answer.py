"""A buffered HTTP response, whichever client read it (`client.http`'s httpx, or the commit
connection of `client.keepalive`, which cannot import `client.http` without a cycle)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Answer:
    """A buffered response: status, headers (lower-case names, all values) and body."""

    status: int
    headers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    body: bytes = b""
    http_version: str = "HTTP/1.1"
    reason: str = ""

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def all(self, name: str) -> tuple[str, ...]:
        return self.headers.get(name.lower(), ())


def header_map(pairs: Iterable[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """Header lines as `Answer.headers` holds them: lower-case names, every value in order."""
    headers: dict[str, list[str]] = {}
    for name, value in pairs:
        headers.setdefault(name.lower(), []).append(value)
    return {name: tuple(values) for name, values in headers.items()}
