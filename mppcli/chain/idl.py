"""The project's description of the payment-channels program, loaded into typed layouts.

`idl/payment_channels.v2.json` is the one place where the program's discriminators, argument
layouts, account lists, the `Channel` layout, PDA seeds, events and error codes are written down.
Everything else in `chain/` reads them from here. A wheel carries the file as `mppcli/_idl/`; a
source or editable checkout reads the repository's `idl/` instead.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

IDL_FILE = "payment_channels.v2.json"
FORMAT = "mppcli-idl/1"
PRIMITIVES = frozenset({"u8", "u16", "u32", "u64", "i64", "pubkey"})


@dataclass(frozen=True)
class Prim:
    """A fixed-size scalar: u8, u16, u32, u64, i64 or a 32-byte pubkey."""

    name: str


@dataclass(frozen=True)
class Vec:
    """A u32 little-endian count followed by that many items."""

    item: TypeRef


@dataclass(frozen=True)
class FixedBytes:
    """Exactly `size` raw bytes."""

    size: int


@dataclass(frozen=True)
class Named:
    """A reference to a struct or enum in the IDL's `types`."""

    name: str


TypeRef = Prim | Vec | FixedBytes | Named


@dataclass(frozen=True)
class StructDef:
    fields: tuple[tuple[str, TypeRef], ...]


@dataclass(frozen=True)
class EnumDef:
    """A u8-tagged enum without payloads: variant name -> tag."""

    variants: Mapping[str, int]

    def name_of(self, tag: int) -> str | None:
        return next((name for name, value in self.variants.items() if value == tag), None)


TypeDef = StructDef | EnumDef


@dataclass(frozen=True)
class Derivation:
    """How an account can be computed: a known `address`, or a `pda` with seed sources."""

    kind: str
    target: str
    sources: Mapping[str, str]


@dataclass(frozen=True)
class AccountSpec:
    name: str
    signer: bool
    writable: bool
    derive: Derivation | None


@dataclass(frozen=True)
class RemainingSpec:
    """A variable account tail: one account per item of the argument field `one_for`."""

    name: str
    signer: bool
    writable: bool
    one_for: str
    derive: Derivation


@dataclass(frozen=True)
class InstructionDef:
    name: str
    discriminator: int
    args: tuple[tuple[str, TypeRef], ...]
    accounts: tuple[AccountSpec, ...]
    remaining: RemainingSpec | None

    def account_index(self, name: str) -> int:
        return next(i for i, spec in enumerate(self.accounts) if spec.name == name)


@dataclass(frozen=True)
class Seed:
    """One PDA seed: a UTF-8 constant, a pubkey by name, or a u64 (little-endian) by name."""

    kind: str
    value: str


@dataclass(frozen=True)
class PdaDef:
    name: str
    program: str | None
    seeds: tuple[Seed, ...]


@dataclass(frozen=True)
class FieldLayout:
    name: str
    type: TypeRef
    offset: int


@dataclass(frozen=True)
class AccountLayout:
    name: str
    size: int
    discriminator: int
    version: int
    fields: tuple[FieldLayout, ...]


@dataclass(frozen=True)
class EventDef:
    name: str
    discriminator: bytes
    fields: tuple[tuple[str, TypeRef], ...]


@dataclass(frozen=True)
class ErrorDef:
    code: int
    name: str
    message: str


@dataclass(frozen=True)
class Ed25519Layout:
    """The only precompile instruction shape the program accepts (one signature, inline data)."""

    program: str
    data_length: int
    num_signatures: int
    signature_offset: int
    public_key_offset: int
    message_offset: int
    message_size: int
    same_instruction: int


@dataclass(frozen=True)
class Idl:
    program_id: str
    retired_program_ids: Mapping[str, str]
    addresses: Mapping[str, str]
    constants: Mapping[str, int]
    types: Mapping[str, TypeDef]
    pdas: Mapping[str, PdaDef]
    instructions: Mapping[str, InstructionDef]
    accounts: Mapping[str, AccountLayout]
    event_tag: bytes
    events: Mapping[str, EventDef]
    voucher_magic: bytes
    voucher_length: int
    ed25519: Ed25519Layout
    errors: Mapping[int, ErrorDef]
    source: str

    def instruction_by_discriminator(self, discriminator: int) -> InstructionDef | None:
        return next((i for i in self.instructions.values() if i.discriminator == discriminator), None)

    def struct(self, name: str) -> StructDef:
        found = self.types[name]
        assert isinstance(found, StructDef), name
        return found

    def enum(self, name: str) -> EnumDef:
        found = self.types[name]
        assert isinstance(found, EnumDef), name
        return found


@functools.cache
def load_idl() -> Idl:
    """The program description (read once per process)."""
    text, source = _read_idl_text()
    return parse_idl(json.loads(text), source)


def _read_idl_text() -> tuple[str, str]:
    """Prefer the copy a wheel installs (`mppcli/_idl`), else the source checkout's `idl/`."""
    packaged = resources.files("mppcli").joinpath("_idl", IDL_FILE)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8"), str(packaged)
    checkout = Path(__file__).resolve().parents[2] / "idl" / IDL_FILE
    if checkout.is_file():
        return checkout.read_text(encoding="utf-8"), str(checkout)
    raise RuntimeError(f"{IDL_FILE} is missing from this installation of mppcli (looked in mppcli/_idl "
                       f"and {checkout.parent}); reinstall mppcli")


def parse_idl(raw: Mapping[str, Any], source: str = "<memory>") -> Idl:
    """Turn the JSON document into typed layouts; a malformed document is a packaging bug."""
    if raw.get("format") != FORMAT:
        raise RuntimeError(f"{source}: expected format {FORMAT!r}, got {raw.get('format')!r}")
    return Idl(
        program_id=raw["programId"],
        retired_program_ids=dict(raw["retiredProgramIds"]),
        addresses=dict(raw["addresses"]),
        constants=dict(raw["constants"]),
        types={name: _type_def(body) for name, body in raw["types"].items()},
        pdas={name: _pda(name, body) for name, body in raw["pdas"].items()},
        instructions={name: _instruction(name, body) for name, body in raw["instructions"].items()},
        accounts={name: _account_layout(name, body) for name, body in raw["accounts"].items()},
        event_tag=bytes.fromhex(raw["events"]["tag"]),
        events={name: _event(name, body) for name, body in raw["events"].items() if name != "tag"},
        voucher_magic=bytes.fromhex(raw["voucher"]["magic"]),
        voucher_length=int(raw["voucher"]["messageLength"]),
        ed25519=_ed25519(raw["ed25519"]),
        errors={int(code): ErrorDef(int(code), name, message) for code, name, message in raw["errors"]},
        source=source,
    )


def type_ref(raw: Any) -> TypeRef:
    if isinstance(raw, str):
        return Prim(raw) if raw in PRIMITIVES else Named(raw)
    if "vec" in raw:
        return Vec(type_ref(raw["vec"]))
    if "bytes" in raw:
        return FixedBytes(int(raw["bytes"]))
    raise RuntimeError(f"unknown type reference {raw!r}")


def _type_def(raw: Mapping[str, Any]) -> TypeDef:
    if "struct" in raw:
        return StructDef(tuple((name, type_ref(t)) for name, t in raw["struct"]))
    return EnumDef(dict(raw["enum"]))


def _derivation(raw: Mapping[str, Any] | None) -> Derivation | None:
    if raw is None:
        return None
    if "address" in raw:
        return Derivation("address", raw["address"], {})
    return Derivation("pda", raw["pda"], dict(raw.get("with", {})))


def _account(raw: list[Any]) -> AccountSpec:
    name, flags = raw[0], raw[1]
    return AccountSpec(name, "s" in flags, "w" in flags, _derivation(raw[2] if len(raw) > 2 else None))


def _instruction(name: str, raw: Mapping[str, Any]) -> InstructionDef:
    tail = raw.get("remaining")
    remaining = None
    if tail is not None:
        derive = _derivation(tail["derive"])
        assert derive is not None
        remaining = RemainingSpec(tail["name"], "s" in tail["flags"], "w" in tail["flags"],
                                  tail["oneFor"], derive)
    return InstructionDef(
        name=name,
        discriminator=int(raw["discriminator"]),
        args=tuple((arg, type_ref(t)) for arg, t in raw["args"]),
        accounts=tuple(_account(a) for a in raw["accounts"]),
        remaining=remaining,
    )


def _pda(name: str, raw: Mapping[str, Any]) -> PdaDef:
    seeds = tuple(Seed(kind, value) for seed in raw["seeds"] for kind, value in seed.items())
    return PdaDef(name, raw.get("program"), seeds)


def _account_layout(name: str, raw: Mapping[str, Any]) -> AccountLayout:
    fields = tuple(FieldLayout(f, type_ref(t), int(off)) for f, t, off in raw["fields"])
    return AccountLayout(name, int(raw["size"]), int(raw["discriminator"]), int(raw["version"]), fields)


def _event(name: str, raw: Mapping[str, Any]) -> EventDef:
    fields = tuple((f, type_ref(t)) for f, t in raw["fields"])
    return EventDef(name, bytes.fromhex(raw["discriminator"]), fields)


def _ed25519(raw: Mapping[str, Any]) -> Ed25519Layout:
    return Ed25519Layout(
        program=raw["program"], data_length=int(raw["dataLength"]),
        num_signatures=int(raw["numSignatures"]), signature_offset=int(raw["signatureOffset"]),
        public_key_offset=int(raw["publicKeyOffset"]), message_offset=int(raw["messageOffset"]),
        message_size=int(raw["messageSize"]), same_instruction=int(raw["sameInstruction"]),
    )
