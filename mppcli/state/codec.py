"""Strict parsing of a stored channel document (current schema) into a `ChannelRecord`.

Every key is checked for its type; an unknown key, a missing one or an amount that is not a
canonical decimal string makes the whole document malformed, so a damaged file is reported
and moved aside instead of being half-read and rewritten with holes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from mppcli.errors import MalformedError
from mppcli.state.record import (
    SCHEMA_VERSION,
    ChannelRecord,
    ChannelStatus,
    PendingTopUp,
    SignerKind,
    Split,
    VoucherSigner,
    camel,
)

_DECIMAL = re.compile(r"(0|[1-9][0-9]*)")


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedError(f"{key} must be a non-empty string")
    return value


def _optional_text(key: str, value: Any) -> str | None:
    return None if value is None else _text(key, value)


def _decimal(key: str, value: Any) -> int:
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
        raise MalformedError(f"{key} must be an unsigned decimal string")
    return int(value)


def _count(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedError(f"{key} must be a non-negative integer")
    return value


def _optional_count(key: str, value: Any) -> int | None:
    return None if value is None else _count(key, value)


def _timestamp(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise MalformedError(f"{key} must be a unix time")
    return float(value)


def _optional_object(key: str, value: Any) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise MalformedError(f"{key} must be an object or null")
    return value


def _splits(key: str, value: Any) -> tuple[Split, ...]:
    if not isinstance(value, list):
        raise MalformedError(f"{key} must be a list")
    out = []
    for entry in value:
        if not isinstance(entry, dict) or set(entry) != {"recipient", "shareBps"}:
            raise MalformedError(f"{key} entries must be {{recipient, shareBps}}")
        out.append(Split(_text("recipient", entry["recipient"]), _count("shareBps", entry["shareBps"])))
    return tuple(out)


_PENDING_KEYS = {"amount", "depositBefore", "transaction", "createdAt"}


def _pending_top_up(key: str, value: Any) -> PendingTopUp | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != _PENDING_KEYS:
        raise MalformedError(f"{key} must be null or {{{', '.join(sorted(_PENDING_KEYS))}}}")
    return PendingTopUp(amount=_decimal(f"{key}.amount", value["amount"]),
                        deposit_before=_decimal(f"{key}.depositBefore", value["depositBefore"]),
                        transaction=_text(f"{key}.transaction", value["transaction"]),
                        created_at=_timestamp(f"{key}.createdAt", value["createdAt"]))


def _enum(kind: type[Any]) -> Callable[[str, Any], Any]:
    def parse(key: str, value: Any) -> Any:
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise MalformedError(f"{key} must be one of {allowed}") from None
    return parse


_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "decimals": _count,
    "signer_kind": _enum(SignerKind),
    "voucher_signer": _enum(VoucherSigner),
    "status": _enum(ChannelStatus),
    "salt": _decimal,
    "deposit": _decimal,
    "signed_cumulative": _decimal,
    "accepted_cumulative": _decimal,
    "spent": _decimal,
    "settled": _decimal,
    "refunded": _decimal,
    "open_slot": _count,
    "grace_period_seconds": _count,
    "idle_timeout_seconds": _optional_count,
    "operator": _optional_text,
    "fee_payer_key": _optional_text,
    "opening_challenge_id": _optional_text,
    "open_tx": _optional_text,
    "last_signed_voucher": _optional_text,
    "last_accepted_voucher": _optional_text,
    "authentication": _optional_object,
    "splits": _splits,
    "created_at": _timestamp,
    "updated_at": _timestamp,
    "pending_top_up": _pending_top_up,
}


def parse_record(doc: Any) -> ChannelRecord:
    """The record in `doc`, or MalformedError saying which key is wrong."""
    if not isinstance(doc, dict):
        raise MalformedError("a channel record must be a JSON object")
    if doc.get("version") != SCHEMA_VERSION:
        raise MalformedError(f"version must be {SCHEMA_VERSION} (upgrade older records first)")
    names = {camel(f.name): f.name for f in fields(ChannelRecord)}
    unknown = sorted(set(doc) - set(names) - {"version"})
    if unknown:
        raise MalformedError(f"unknown keys in channel record: {', '.join(unknown)}")
    missing = sorted(set(names) - set(doc))
    if missing:
        raise MalformedError(f"missing keys in channel record: {', '.join(missing)}")
    values: dict[str, Any] = {}
    for key, name in names.items():
        parse: Callable[[str, Any], Any] = _PARSERS.get(name, _text)
        values[name] = parse(key, doc[key])
    return ChannelRecord(**values)
