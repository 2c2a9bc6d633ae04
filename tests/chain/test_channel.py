"""The 256-byte Channel account: bytes at the documented offsets, round trips, refusals."""

from __future__ import annotations

import dataclasses
import struct

import pytest

from mppcli.chain.channel import ChannelAccount, ChannelStatus, decode_channel, encode_channel
from mppcli.errors import MalformedError
from tests.chain.helpers import seeded

KEYS = [seeded(i).pubkey() for i in range(70, 75)]  # payer, payee, signer, mint, rentPayer


def _hand_built(status: int = 2) -> bytes:
    """The layout of research/onchain.md, written out with struct (independent of the IDL)."""
    head = struct.pack("<BBBBQQQQqqI", 1, 1, 254, status, 42, 1_000_000, 400, 300,
                       1_700_000_000, 0, 900)
    body = head + bytes(range(32)) + b"".join(bytes(k) for k in KEYS) + struct.pack("<Q", 352_114_093)
    assert len(body) == 256
    return body


def test_decode_reads_every_field_at_its_offset() -> None:
    account = decode_channel(_hand_built())
    assert account == ChannelAccount(
        discriminator=1, version=1, bump=254, status=ChannelStatus.CLOSING, salt=42, deposit=1_000_000,
        settled=400, payout_watermark=300, closure_started_at=1_700_000_000, payer_withdrawn_at=0,
        grace_period=900, distribution_hash=bytes(range(32)), payer=KEYS[0], payee=KEYS[1],
        authorized_signer=KEYS[2], mint=KEYS[3], rent_payer=KEYS[4], open_slot=352_114_093)
    assert account.refundable == 1_000_000 - 400


def test_encode_is_the_inverse() -> None:
    raw = _hand_built()
    assert encode_channel(decode_channel(raw)) == raw


@pytest.mark.parametrize("status", list(ChannelStatus))
def test_every_status_round_trips(status: ChannelStatus) -> None:
    account = dataclasses.replace(decode_channel(_hand_built()), status=status, payer_withdrawn_at=-5)
    assert decode_channel(encode_channel(account)) == account


@pytest.mark.parametrize(("raw", "message"), [
    (_hand_built()[:255], "a Channel account is 256 bytes, got 255"),
    (b"\x02" + _hand_built()[1:], "account discriminator is 2, a Channel has 1"),
    (b"\x01\x02" + _hand_built()[2:], "Channel layout version 2 is not supported"),
    (_hand_built(status=4), "Channel.status has unknown value 4"),
])
def test_decode_refuses(raw: bytes, message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        decode_channel(raw)


def test_encode_refuses_out_of_range_values() -> None:
    account = dataclasses.replace(decode_channel(_hand_built()), deposit=1 << 64)
    with pytest.raises(MalformedError, match=r"Channel\.deposit is out of range for u64"):
        encode_channel(account)
