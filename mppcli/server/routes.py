"""The gateway's price table: which upstream requests are sold, at what price, per request or event.

A rule is written `METHOD PATH=PRICE` (per request) or `METHOD PATH=PRICE/event` (an SSE answer
billed per data event). `METHOD` is an HTTP method or `*` (and may be left out: `*`); `PATH` is an
exact path, or a prefix ending in `*` (`/v1/*` matches `/v1/` and everything below it, `*` alone
matches every path). `PRICE` is in token units (`0.01`); `0` forwards for free. A request that
matches no rule is not forwarded.

The most specific rule wins, so a table reads like a list of exceptions to broader rules: an exact
path beats any prefix, a longer prefix beats a shorter one, and a named method beats `*` for the
same path. Two rules for the same method and path are an error rather than a silent "last wins".
A `GET` rule also sells `HEAD` (forwarded as `HEAD`, priced as the `GET`).

Pure: parsing and matching touch no I/O, and prices stay text until the mint's decimals are known
(`RouteTable.priced`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mppcli.errors import MalformedError
from mppcli.protocol.amounts import parse_amount

PER_REQUEST = "request"
PER_EVENT = "event"
_METHOD = re.compile(r"[A-Z]{1,16}|\*")
_PRICE = re.compile(r"(\d+(?:\.\d+)?)(?:/(request|event))?")


@dataclass(frozen=True)
class RouteRule:
    """One line of the table. `price` is base units once priced (`None` while still text)."""

    method: str
    path: str
    price_text: str
    unit: str = PER_REQUEST
    price: int | None = None

    @property
    def label(self) -> str:
        """`POST /v1/*`: the rule's name in challenges, logs and errors."""
        return f"{self.method} {self.path}"

    @property
    def is_prefix(self) -> bool:
        return self.path.endswith("*")

    def matches(self, method: str, path: str) -> bool:
        wanted = method.upper()
        if self.method not in ("*", wanted) and not (wanted == "HEAD" and self.method == "GET"):
            return False
        if self.is_prefix:
            return path.startswith(self.path[:-1])
        return path == self.path

    def specificity(self) -> tuple[int, int, int]:
        """Bigger wins: exact before prefix, longer prefix first, a named method before `*`."""
        return (0 if self.is_prefix else 1, len(self.path), 0 if self.method == "*" else 1)


def parse_route(text: str) -> RouteRule:
    """`'POST /v1/chat=0.01'`, `'GET /events/*=0.001/event'` or `'/health=0'` (method `*`)."""
    spec, sep, price = text.strip().rpartition("=")
    if not sep:
        raise ValueError(f"a route is 'METHOD PATH=PRICE' (e.g. 'POST /v1/*=0.01'), got {text!r}")
    parts = spec.split()
    if len(parts) == 1:
        method, path = "*", parts[0]
    elif len(parts) == 2:
        method, path = parts[0].upper(), parts[1]
    else:
        raise ValueError(f"a route is 'METHOD PATH=PRICE' (one space after the method), got {text!r}")
    return rule(method, path, price.strip(), source=text)


def rule(method: str, path: str, price: str, unit: str | None = None, source: str | None = None) -> RouteRule:
    """A checked rule from its parts (the config-file form); `price` may carry `/event`."""
    where = repr(source) if source is not None else f"{method} {path}"
    if not _METHOD.fullmatch(method):
        raise ValueError(f"route {where}: the method must be an HTTP method such as GET or POST, or *")
    if not (path == "*" or path.startswith("/")) or "*" in path[:-1] or any(c.isspace() for c in path):
        raise ValueError(f"route {where}: the path must start with / and may end in * (e.g. /v1/*)")
    match = _PRICE.fullmatch(price)
    if match is None:
        raise ValueError(f"route {where}: the price must be token units such as 0.01 or 0.001/event")
    named = match.group(2)
    if unit is not None and named is not None and unit != named:
        raise ValueError(f"route {where}: the price says per {named} but the unit is {unit}")
    unit = unit or named or PER_REQUEST
    if unit not in (PER_REQUEST, PER_EVENT):
        raise ValueError(f"route {where}: the unit must be request or event")
    if unit == PER_EVENT and float(match.group(1)) == 0:
        raise ValueError(f"route {where}: a per-event route needs a price above 0")
    return RouteRule(method, path, match.group(1), unit)


def rule_from_table(entry: object) -> RouteRule:
    """One `[[serve.routes]]` entry: `{method = "POST", path = "/v1/*", price = "0.01", unit = "event"}`."""
    if not isinstance(entry, Mapping):
        raise ValueError("each [[serve.routes]] entry must be a table with path and price")
    unknown = set(entry) - {"method", "path", "price", "unit"}
    if unknown:
        raise ValueError(f"[[serve.routes]]: unknown key(s) {', '.join(sorted(unknown))}")
    method, path, price, unit = (entry.get(k) for k in ("method", "path", "price", "unit"))
    if not isinstance(path, str) or not isinstance(price, str | int) or isinstance(price, bool):
        raise ValueError('[[serve.routes]]: every entry needs path = "/..." and price = "0.01" (quoted)')
    if not isinstance(method, str | None) or not isinstance(unit, str | None):
        raise ValueError("[[serve.routes]]: method and unit must be strings")
    return rule((method or "*").upper(), path, str(price), unit)


@dataclass(frozen=True)
class RouteTable:
    """The whole table; `match` picks the most specific rule for a request."""

    rules: tuple[RouteRule, ...]

    @classmethod
    def of(cls, rules: Iterable[RouteRule]) -> RouteTable:
        table = tuple(rules)
        seen: set[tuple[str, str]] = set()
        for r in table:
            if (r.method, r.path) in seen:
                raise ValueError(f"route {r.label} is given twice")
            seen.add((r.method, r.path))
        return cls(table)

    def priced(self, decimals: int) -> RouteTable:
        """Every price in base units of a mint with `decimals`."""
        out = []
        for r in self.rules:
            try:
                base = parse_amount(r.price_text, decimals, f"the price of route {r.label}")
            except MalformedError as exc:
                raise ValueError(str(exc)) from None
            out.append(RouteRule(r.method, r.path, r.price_text, r.unit, base))
        return RouteTable(tuple(out))

    def match(self, method: str, path: str) -> RouteRule | None:
        found = [r for r in self.rules if r.matches(method, path)]
        return max(found, key=RouteRule.specificity) if found else None
