"""The few SPL Token / Token-2022 / ATA instructions the ledger issues, and the account layouts
it reads (mint and token account base layouts, the Token-2022 extension trailer).

These are the token programs' wire formats, not the channel program's, so they live here rather
than in `chain/`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from mppcli.chain.constants import (
    ASSOCIATED_TOKEN_PROGRAM,
    SYSTEM_PROGRAM,
    TOKEN_2022_PROGRAM,
    TOKEN_PROGRAMS,
)

MINT_SIZE = 82
ACCOUNT_SIZE = 165
ACCOUNT_TYPE_OFFSET = 165
_ACCOUNT_TYPE_MINT = 1
_ACCOUNT_TYPE_ACCOUNT = 2
ACCOUNT_STATES = {0: "uninitialized", 1: "initialized", 2: "frozen"}


def _meta(key: Pubkey, signer: bool = False, writable: bool = False) -> AccountMeta:
    return AccountMeta(key, signer, writable)


def transfer_checked(token_program: Pubkey, source: Pubkey, mint: Pubkey, destination: Pubkey,
                     authority: Pubkey, amount: int, decimals: int) -> Instruction:
    data = struct.pack("<BQB", 12, amount, decimals)
    return Instruction(token_program, data, [_meta(source, writable=True), _meta(mint),
                                             _meta(destination, writable=True), _meta(authority, True)])


def mint_to_checked(token_program: Pubkey, mint: Pubkey, destination: Pubkey, authority: Pubkey,
                    amount: int, decimals: int) -> Instruction:
    data = struct.pack("<BQB", 14, amount, decimals)
    return Instruction(token_program, data, [_meta(mint, writable=True),
                                             _meta(destination, writable=True), _meta(authority, True)])


def close_account(token_program: Pubkey, account: Pubkey, destination: Pubkey,
                  authority: Pubkey) -> Instruction:
    return Instruction(token_program, bytes([9]), [_meta(account, writable=True),
                                                   _meta(destination, writable=True),
                                                   _meta(authority, True)])


def initialize_mint2(token_program: Pubkey, mint: Pubkey, decimals: int,
                     mint_authority: Pubkey) -> Instruction:
    data = bytes([20, decimals]) + bytes(mint_authority) + bytes([0])
    return Instruction(token_program, data, [_meta(mint, writable=True)])


def create_ata_idempotent(funder: Pubkey, ata: Pubkey, owner: Pubkey, mint: Pubkey,
                          token_program: Pubkey) -> Instruction:
    return Instruction(ASSOCIATED_TOKEN_PROGRAM, bytes([1]), [
        _meta(funder, True, True), _meta(ata, writable=True), _meta(owner), _meta(mint),
        _meta(SYSTEM_PROGRAM), _meta(token_program)])


@dataclass(frozen=True)
class MintInfo:
    supply: int
    decimals: int
    is_initialized: bool
    mint_authority: Pubkey | None
    freeze_authority: Pubkey | None


@dataclass(frozen=True)
class TokenAccountInfo:
    mint: Pubkey
    owner: Pubkey
    amount: int
    delegate: Pubkey | None
    state: int
    is_native: int | None
    delegated_amount: int
    close_authority: Pubkey | None


def _option_key(data: bytes, offset: int) -> Pubkey | None:
    tag = int.from_bytes(data[offset:offset + 4], "little")
    return Pubkey(data[offset + 4:offset + 36]) if tag else None


def is_token_owner(owner: Pubkey) -> bool:
    return owner in TOKEN_PROGRAMS


def parse_mint(owner: Pubkey, data: bytes) -> MintInfo | None:
    """A mint's base fields, or None when the bytes are not a mint of a token program."""
    if owner not in TOKEN_PROGRAMS or len(data) < MINT_SIZE:
        return None
    if len(data) != MINT_SIZE and not (owner == TOKEN_2022_PROGRAM and len(data) > ACCOUNT_TYPE_OFFSET
                                       and data[ACCOUNT_TYPE_OFFSET] == _ACCOUNT_TYPE_MINT):
        return None
    return MintInfo(int.from_bytes(data[36:44], "little"), data[44], bool(data[45]),
                    _option_key(data, 0), _option_key(data, 46))


def parse_token_account(owner: Pubkey, data: bytes) -> TokenAccountInfo | None:
    """A token account's base fields, or None when the bytes are not a token account."""
    if owner not in TOKEN_PROGRAMS or len(data) < ACCOUNT_SIZE:
        return None
    if len(data) != ACCOUNT_SIZE and not (owner == TOKEN_2022_PROGRAM
                                          and data[ACCOUNT_TYPE_OFFSET] == _ACCOUNT_TYPE_ACCOUNT):
        return None
    native_tag = int.from_bytes(data[109:113], "little")
    return TokenAccountInfo(
        Pubkey(data[0:32]), Pubkey(data[32:64]), int.from_bytes(data[64:72], "little"),
        _option_key(data, 72), data[108], int.from_bytes(data[113:121], "little") if native_tag else None,
        int.from_bytes(data[121:129], "little"), _option_key(data, 129))


def extension_types(data: bytes) -> list[int] | None:
    """The Token-2022 extension type ids after the account-type byte; None when malformed."""
    position = ACCOUNT_TYPE_OFFSET + 1
    found: list[int] = []
    while position < len(data):
        if len(data) - position < 2:
            return found if not any(data[position:]) else None
        kind = int.from_bytes(data[position:position + 2], "little")
        if kind == 0:
            return found
        if len(data) - position < 4:
            return None
        length = int.from_bytes(data[position + 2:position + 4], "little")
        if position + 4 + length > len(data):
            return None
        found.append(kind)
        position += 4 + length
    return found

