"""IDL values as JSON, the way the conformance runner and logs carry them.

u64/i64 are decimal strings (JSON numbers lose precision above 2^53), u8/u16/u32 JSON integers,
pubkeys base58, fixed byte arrays lowercase hex, structs objects with exactly the IDL's field names,
vectors lists and enums their variant name. Parsing is strict and names the offending field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from solders.pubkey import Pubkey

from mppcli.chain.borsh import INT_FORMATS
from mppcli.chain.idl import EnumDef, FixedBytes, Idl, Prim, StructDef, TypeRef, Vec, load_idl
from mppcli.chain.instructions import instruction_def
from mppcli.errors import MalformedError

_WIDE = frozenset({"u64", "i64"})


def args_from_json(name: str, value: object, path: str | None = None) -> dict[str, Any]:
    """Instruction `name`'s arguments (`{"openArgs": {...}}`) from JSON."""
    ix = instruction_def(name)
    return _struct_from_json(load_idl(), ix.args, value, path or f"{name} args")


def args_to_json(name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    ix = instruction_def(name)
    idl = load_idl()
    return {arg: value_to_json(idl, t, args[arg]) for arg, t in ix.args}


def pubkey_from_json(value: object, path: str) -> Pubkey:
    if not isinstance(value, str):
        raise MalformedError(f"{path} must be a base58 public key string")
    try:
        return Pubkey.from_string(value)
    except ValueError:
        raise MalformedError(f"{path} is not a base58 public key of 32 bytes") from None


def u64_from_json(value: object, path: str) -> int:
    return _int_from_json("u64", value, path)


def value_from_json(idl: Idl, t: TypeRef, value: object, path: str) -> Any:
    if isinstance(t, Prim):
        return pubkey_from_json(value, path) if t.name == "pubkey" else _int_from_json(t.name, value, path)
    if isinstance(t, FixedBytes):
        return _hex_from_json(value, t.size, path)
    if isinstance(t, Vec):
        if not isinstance(value, list):
            raise MalformedError(f"{path} must be a JSON array")
        return [value_from_json(idl, t.item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    body = idl.types[t.name]
    if isinstance(body, StructDef):
        return _struct_from_json(idl, body.fields, value, path)
    return _enum_from_json(body, value, path)


def value_to_json(idl: Idl, t: TypeRef, value: Any) -> Any:
    if isinstance(t, Prim):
        if t.name == "pubkey":
            return str(value)
        return str(value) if t.name in _WIDE else value
    if isinstance(t, FixedBytes):
        return bytes(value).hex()
    if isinstance(t, Vec):
        return [value_to_json(idl, t.item, v) for v in value]
    body = idl.types[t.name]
    if isinstance(body, StructDef):
        return {name: value_to_json(idl, ft, value[name]) for name, ft in body.fields}
    return value


def _struct_from_json(idl: Idl, fields: tuple[tuple[str, TypeRef], ...], value: object,
                      path: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedError(f"{path} must be a JSON object")
    names = [name for name, _ in fields]
    extra = sorted(set(value) - set(names))
    if extra:
        raise MalformedError(f"{path} has no field {extra[0]!r} (fields: {', '.join(names) or 'none'})")
    out = {}
    for name, t in fields:
        if name not in value:
            raise MalformedError(f"{path}.{name} is required")
        out[name] = value_from_json(idl, t, value[name], f"{path}.{name}")
    return out


def _int_from_json(kind: str, value: object, path: str) -> int:
    size, signed = INT_FORMATS[kind]
    number = _wide_from_json(value, path, kind) if kind in _WIDE else _narrow_from_json(value, path, kind)
    bits = 8 * size
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if not low <= number <= high:
        raise MalformedError(f"{path} is out of range for {kind}")
    return number


def _wide_from_json(value: object, path: str, kind: str) -> int:
    if not isinstance(value, str):
        raise MalformedError(f"{path} must be a decimal string ({kind})")
    digits = value[1:] if kind == "i64" and value.startswith("-") else value
    if not digits.isascii() or not digits.isdigit() or (len(digits) > 1 and digits[0] == "0"):
        raise MalformedError(f"{path} must be a decimal string ({kind}) without leading zeros")
    return int(value)


def _narrow_from_json(value: object, path: str, kind: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedError(f"{path} must be a JSON integer ({kind})")
    return value


def _hex_from_json(value: object, size: int, path: str) -> bytes:
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        raw = None
    if raw is None or len(raw) != size or value != raw.hex():
        raise MalformedError(f"{path} must be {size} bytes as lowercase hex")
    return raw


def _enum_from_json(body: EnumDef, value: object, path: str) -> str:
    if not isinstance(value, str) or value not in body.variants:
        raise MalformedError(f"{path} must be one of {', '.join(body.variants)}")
    return value

