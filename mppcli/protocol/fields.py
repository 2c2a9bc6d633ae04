"""Typed readers for decoded JSON objects: each failure names the field and says what was wrong.

`path` is the dotted name used in messages (`methodDetails.gracePeriodSeconds`). Absent and JSON
`null` are different: an optional field may be absent, but `null` is never a valid value here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mppcli.errors import MalformedError
from mppcli.protocol.base58 import check_pubkey, check_signature
from mppcli.protocol.encoding import parse_u64

_MISSING = object()


def as_object(value: object, path: str) -> dict[str, Any]:
    """`value` must be a JSON object."""
    if not isinstance(value, Mapping):
        raise MalformedError(f"{path} must be a JSON object, got {_kind(value)}")
    return dict(value)


def field_path(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _get(obj: Mapping[str, Any], key: str, prefix: str, required: bool) -> Any:
    value = obj.get(key, _MISSING)
    path = field_path(prefix, key)
    if value is _MISSING:
        if required:
            raise MalformedError(f"{path} is required")
        return _MISSING
    if value is None:
        raise MalformedError(f"{path} must not be null")
    return value


def get_str(obj: Mapping[str, Any], key: str, prefix: str = "", *, required: bool = True,
            nonempty: bool = True) -> str | None:
    """A JSON string (never a number coerced to one)."""
    value = _get(obj, key, prefix, required)
    if value is _MISSING:
        return None
    if not isinstance(value, str):
        raise MalformedError(f"{field_path(prefix, key)} must be a string, got {_kind(value)}")
    if nonempty and not value:
        raise MalformedError(f"{field_path(prefix, key)} must not be empty")
    return value


def get_int(obj: Mapping[str, Any], key: str, prefix: str = "", *, required: bool = True,
            minimum: int | None = None, maximum: int | None = None) -> int | None:
    """A JSON integer within [minimum, maximum]; booleans, floats and strings are refused."""
    value = _get(obj, key, prefix, required)
    if value is _MISSING:
        return None
    path = field_path(prefix, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedError(f"{path} must be a JSON integer, got {_kind(value)}")
    check_range(value, path, minimum, maximum)
    return value


def check_range(value: int, path: str, minimum: int | None, maximum: int | None) -> None:
    if minimum is not None and value < minimum:
        raise MalformedError(f"{path} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise MalformedError(f"{path} must be at most {maximum}, got {value}")


def get_bool(obj: Mapping[str, Any], key: str, prefix: str = "", *, required: bool = False) -> bool | None:
    value = _get(obj, key, prefix, required)
    if value is _MISSING:
        return None
    if not isinstance(value, bool):
        raise MalformedError(f"{field_path(prefix, key)} must be true or false, got {_kind(value)}")
    return value


def get_u64(obj: Mapping[str, Any], key: str, prefix: str = "", *, required: bool = True,
            positive: bool = False) -> int | None:
    """A u64 carried as a canonical decimal string."""
    value = _get(obj, key, prefix, required)
    if value is _MISSING:
        return None
    path = field_path(prefix, key)
    number = parse_u64(value, path)
    if positive and number == 0:
        raise MalformedError(f"{path} must be greater than zero")
    return number


def get_pubkey(obj: Mapping[str, Any], key: str, prefix: str = "", *, required: bool = True) -> str | None:
    value = _get(obj, key, prefix, required)
    if value is _MISSING:
        return None
    return check_pubkey(value, field_path(prefix, key))


def get_signature(obj: Mapping[str, Any], key: str, prefix: str = "") -> str:
    return check_signature(_get(obj, key, prefix, True), field_path(prefix, key))


def get_object(obj: Mapping[str, Any], key: str, prefix: str = "", *,
               required: bool = True) -> dict[str, Any] | None:
    value = _get(obj, key, prefix, required)
    if value is _MISSING:
        return None
    return as_object(value, field_path(prefix, key))


def get_list(obj: Mapping[str, Any], key: str, prefix: str = "", *,
             required: bool = True) -> list[Any] | None:
    value = _get(obj, key, prefix, required)
    if value is _MISSING:
        return None
    if not isinstance(value, list):
        raise MalformedError(f"{field_path(prefix, key)} must be a JSON array, got {_kind(value)}")
    return value


def refuse(obj: Mapping[str, Any], keys: Mapping[str, str], prefix: str = "") -> None:
    """Reject keys that must not appear; `keys` maps each to the reason."""
    for key, reason in keys.items():
        if key in obj:
            raise MalformedError(f"{field_path(prefix, key)} is not allowed: {reason}")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def need_str(obj: Mapping[str, Any], key: str, prefix: str = "", *, nonempty: bool = True) -> str:
    """A required JSON string."""
    value = get_str(obj, key, prefix, nonempty=nonempty)
    assert value is not None  # required=True never returns None
    return value


def need_u64(obj: Mapping[str, Any], key: str, prefix: str = "", *, positive: bool = False) -> int:
    value = get_u64(obj, key, prefix, positive=positive)
    assert value is not None
    return value


def need_int(obj: Mapping[str, Any], key: str, prefix: str = "", *, minimum: int | None = None,
             maximum: int | None = None) -> int:
    value = get_int(obj, key, prefix, minimum=minimum, maximum=maximum)
    assert value is not None
    return value


def need_pubkey(obj: Mapping[str, Any], key: str, prefix: str = "") -> str:
    value = get_pubkey(obj, key, prefix)
    assert value is not None
    return value


def need_object(obj: Mapping[str, Any], key: str, prefix: str = "") -> dict[str, Any]:
    value = get_object(obj, key, prefix)
    assert value is not None
    return value


def need_list(obj: Mapping[str, Any], key: str, prefix: str = "") -> list[Any]:
    value = get_list(obj, key, prefix)
    assert value is not None
    return value
