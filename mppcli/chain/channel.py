"""The 256-byte `Channel` account: decode what an RPC returns, encode what the ledger stores.

Offsets and types come from the IDL's `accounts.channel`; this module only maps them onto a frozen
dataclass. Timestamps are unix seconds (0 = unset); amounts are base units.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Any

from solders.pubkey import Pubkey

from mppcli.chain import borsh
from mppcli.chain.idl import AccountLayout, load_idl
from mppcli.errors import MalformedError


class ChannelStatus(enum.IntEnum):
    """On-chain status values (v2): Open -> Closing -> Sealed -> Distributed."""

    OPEN = 0
    SEALED = 1
    CLOSING = 2
    DISTRIBUTED = 3


@dataclass(frozen=True)
class ChannelAccount:
    """Every field of the account, in layout order."""

    discriminator: int
    version: int
    bump: int
    status: ChannelStatus
    salt: int
    deposit: int
    settled: int
    payout_watermark: int
    closure_started_at: int
    payer_withdrawn_at: int
    grace_period: int
    distribution_hash: bytes
    payer: Pubkey
    payee: Pubkey
    authorized_signer: Pubkey
    mint: Pubkey
    rent_payer: Pubkey
    open_slot: int

    @property
    def refundable(self) -> int:
        """What the payer gets back at close (unless already withdrawn)."""
        return 0 if self.payer_withdrawn_at else self.deposit - self.settled


def _layout() -> AccountLayout:
    return load_idl().accounts["channel"]


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def _check_layout_matches_dataclass() -> None:
    names = [_snake(f.name) for f in _layout().fields]
    if names != [f.name for f in fields(ChannelAccount)]:
        raise RuntimeError("ChannelAccount fields differ from the IDL's Channel layout")
    statuses = {s.name.lower(): s.value for s in ChannelStatus}
    if statuses != dict(load_idl().enum("channelStatus").variants):
        raise RuntimeError("ChannelStatus differs from the IDL's channelStatus enum")


_check_layout_matches_dataclass()


def decode_channel(data: bytes) -> ChannelAccount:
    """Parse account data; anything but a 256-byte v1 `Channel` with a known status is refused."""
    layout = _layout()
    if len(data) != layout.size:
        raise MalformedError(f"a Channel account is {layout.size} bytes, got {len(data)}")
    if data[0] != layout.discriminator:
        raise MalformedError(f"account discriminator is {data[0]}, a Channel has {layout.discriminator}")
    values: dict[str, Any] = {}
    for field in layout.fields:
        values[_snake(field.name)], _ = borsh.decode(load_idl(), field.type, data, field.offset,
                                                     f"Channel.{field.name}")
    if values["version"] != layout.version:
        raise MalformedError(f"Channel layout version {values['version']} is not supported")
    values["status"] = ChannelStatus[str(values["status"]).upper()]
    return ChannelAccount(**values)


def encode_channel(account: ChannelAccount) -> bytes:
    """The 256 bytes of `account` (the inverse of `decode_channel`)."""
    layout = _layout()
    buffer = bytearray(layout.size)
    for field in layout.fields:
        value = getattr(account, _snake(field.name))
        if field.name == "status":
            value = ChannelStatus(value).name.lower()
        chunk = borsh.encode(load_idl(), field.type, value, f"Channel.{field.name}")
        buffer[field.offset:field.offset + len(chunk)] = chunk
    return bytes(buffer)
