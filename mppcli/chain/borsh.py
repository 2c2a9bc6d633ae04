"""Borsh encoding of the IDL's types, strictly: range-checked integers, exact lengths.

Values are plain Python: `int` for integers, solders `Pubkey` for pubkeys, `bytes` for fixed byte
arrays, `list` for vectors, `dict` (field name -> value) for structs and the variant name (`str`)
for enums. `path` names the value in error messages (`openArgs.salt must be a u64`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from solders.pubkey import Pubkey

from mppcli.chain.idl import EnumDef, FixedBytes, Idl, Named, Prim, StructDef, TypeRef, Vec
from mppcli.errors import MalformedError

INT_FORMATS: Mapping[str, tuple[int, bool]] = {
    "u8": (1, False), "u16": (2, False), "u32": (4, False), "u64": (8, False), "i64": (8, True),
}
VEC_COUNT_BYTES = 4


def encode(idl: Idl, t: TypeRef, value: Any, path: str) -> bytes:
    """The Borsh bytes of `value` as type `t`."""
    if isinstance(t, Prim):
        return _encode_prim(t.name, value, path)
    if isinstance(t, FixedBytes):
        if not isinstance(value, bytes | bytearray) or len(value) != t.size:
            raise MalformedError(f"{path} must be exactly {t.size} bytes")
        return bytes(value)
    if isinstance(t, Vec):
        if not isinstance(value, list | tuple):
            raise MalformedError(f"{path} must be a list")
        head = _encode_prim("u32", len(value), f"{path} length")
        return head + b"".join(encode(idl, t.item, v, f"{path}[{i}]") for i, v in enumerate(value))
    return _encode_named(idl, t, value, path)


def decode(idl: Idl, t: TypeRef, data: bytes, offset: int, path: str) -> tuple[Any, int]:
    """Read one value of type `t` at `offset`; returns the value and the offset after it."""
    if isinstance(t, Prim):
        return _decode_prim(t.name, data, offset, path)
    if isinstance(t, FixedBytes):
        return _take(data, offset, t.size, path), offset + t.size
    if isinstance(t, Vec):
        count, offset = _decode_prim("u32", data, offset, f"{path} length")
        items = []
        for i in range(count):
            item, offset = decode(idl, t.item, data, offset, f"{path}[{i}]")
            items.append(item)
        return items, offset
    return _decode_named(idl, t, data, offset, path)


def encode_fields(idl: Idl, fields: tuple[tuple[str, TypeRef], ...], values: Mapping[str, Any],
                  path: str) -> bytes:
    """A struct body: every field, in order; unknown or missing keys are errors."""
    if not isinstance(values, Mapping):
        raise MalformedError(f"{path} must be an object")
    names = [name for name, _ in fields]
    extra = sorted(set(values) - set(names))
    if extra:
        raise MalformedError(f"{path} has no field {extra[0]!r} (fields: {', '.join(names)})")
    missing = [name for name in names if name not in values]
    if missing:
        raise MalformedError(f"{path}.{missing[0]} is required")
    return b"".join(encode(idl, t, values[name], f"{path}.{name}") for name, t in fields)


def decode_fields(idl: Idl, fields: tuple[tuple[str, TypeRef], ...], data: bytes, offset: int,
                  path: str) -> tuple[dict[str, Any], int]:
    out: dict[str, Any] = {}
    for name, t in fields:
        out[name], offset = decode(idl, t, data, offset, f"{path}.{name}")
    return out, offset


def _encode_named(idl: Idl, t: Named, value: Any, path: str) -> bytes:
    body = idl.types[t.name]
    if isinstance(body, StructDef):
        return encode_fields(idl, body.fields, value, path)
    return _encode_enum(body, value, path)


def _decode_named(idl: Idl, t: Named, data: bytes, offset: int, path: str) -> tuple[Any, int]:
    body = idl.types[t.name]
    if isinstance(body, StructDef):
        return decode_fields(idl, body.fields, data, offset, path)
    tag, offset = _decode_prim("u8", data, offset, path)
    name = body.name_of(tag)
    if name is None:
        raise MalformedError(f"{path} has unknown value {tag} (known: {_variants(body)})")
    return name, offset


def _encode_enum(body: EnumDef, value: Any, path: str) -> bytes:
    if value not in body.variants:
        raise MalformedError(f"{path} must be one of {_variants(body)}")
    return bytes([body.variants[value]])


def _variants(body: EnumDef) -> str:
    return ", ".join(body.variants)


def _encode_prim(name: str, value: Any, path: str) -> bytes:
    if name == "pubkey":
        if not isinstance(value, Pubkey):
            raise MalformedError(f"{path} must be a public key")
        return bytes(value)
    size, signed = INT_FORMATS[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedError(f"{path} must be an integer ({name})")
    try:
        return value.to_bytes(size, "little", signed=signed)
    except OverflowError:
        raise MalformedError(f"{path} is out of range for {name}") from None


def _decode_prim(name: str, data: bytes, offset: int, path: str) -> tuple[Any, int]:
    if name == "pubkey":
        return Pubkey(_take(data, offset, 32, path)), offset + 32
    size, signed = INT_FORMATS[name]
    return int.from_bytes(_take(data, offset, size, path), "little", signed=signed), offset + size


def _take(data: bytes, offset: int, size: int, path: str) -> bytes:
    if offset + size > len(data):
        raise MalformedError(f"{path} is cut short: needs {size} bytes at offset {offset}, "
                             f"the data has {len(data)}")
    return bytes(data[offset:offset + size])
