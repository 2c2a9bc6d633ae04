"""The Ed25519 precompile instruction that carries a voucher to `settle` / `settleAndSeal`.

The program accepts exactly one shape (162 bytes): one signature, a zero padding byte, the
offsets `signature 48 / public key 16 / message 112`, message size 50, and every
instruction-index field set to 0xFFFF ("this instruction"). The layout numbers are the IDL's.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.signature import Signature

from mppcli.chain.idl import Ed25519Layout, load_idl
from mppcli.errors import MalformedError

# num_signatures u8, padding u8, then seven u16 LE: signature offset/ix, pubkey offset/ix,
# message offset/size/ix.
_HEADER = struct.Struct("<BBHHHHHHH")


@dataclass(frozen=True)
class Ed25519Payload:
    """What a canonical precompile instruction verifies: `signature` by `public_key` over `message`."""

    public_key: Pubkey
    signature: Signature
    message: bytes

    def verifies(self) -> bool:
        return self.signature.verify(self.public_key, self.message)


def _layout() -> Ed25519Layout:
    return load_idl().ed25519


def ed25519_program_id() -> Pubkey:
    return Pubkey.from_string(load_idl().addresses[_layout().program])


def _header(layout: Ed25519Layout) -> bytes:
    same = layout.same_instruction
    return _HEADER.pack(layout.num_signatures, 0, layout.signature_offset, same, layout.public_key_offset,
                        same, layout.message_offset, layout.message_size, same)


def ed25519_instruction_data(public_key: Pubkey, signature: Signature, message: bytes) -> bytes:
    """The canonical 162 bytes; the message must be the 50-byte voucher message."""
    layout = _layout()
    if len(message) != layout.message_size:
        raise MalformedError(f"the voucher message must be {layout.message_size} bytes, got {len(message)}")
    data = bytearray(layout.data_length)
    data[:_HEADER.size] = _header(layout)
    data[layout.public_key_offset:layout.public_key_offset + 32] = bytes(public_key)
    data[layout.signature_offset:layout.signature_offset + 64] = bytes(signature)
    data[layout.message_offset:] = message
    return bytes(data)


def ed25519_instruction(public_key: Pubkey, signature: Signature, message: bytes) -> Instruction:
    """The precompile instruction (no accounts) to place immediately before settle/settleAndSeal."""
    return Instruction(ed25519_program_id(), ed25519_instruction_data(public_key, signature, message), [])


def parse_ed25519_instruction(data: bytes) -> Ed25519Payload:
    """Read a precompile instruction; anything but the canonical shape is refused, as on chain."""
    layout = _layout()
    if len(data) != layout.data_length:
        raise MalformedError(f"an Ed25519 voucher instruction is {layout.data_length} bytes, got {len(data)}")
    if data[:_HEADER.size] != _header(layout):
        raise MalformedError("the Ed25519 instruction header is not the canonical single-signature layout")
    pk = layout.public_key_offset
    sig = layout.signature_offset
    return Ed25519Payload(Pubkey(data[pk:pk + 32]), Signature(data[sig:sig + 64]),
                          bytes(data[layout.message_offset:]))
