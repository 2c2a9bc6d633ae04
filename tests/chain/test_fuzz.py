"""Invariant: any bytes either parse or raise our own `MalformedError` (nothing else escapes)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mppcli.chain.channel import decode_channel
from mppcli.chain.constants import PROGRAM_ID
from mppcli.chain.ed25519 import parse_ed25519_instruction
from mppcli.chain.events import decode_event
from mppcli.chain.instructions import decode_instruction
from mppcli.chain.splits import parse_splits_preimage
from mppcli.chain.txcodec import decode_transaction
from mppcli.chain.verify import OpenRejected, verify_open_transaction
from mppcli.errors import MalformedError
from tests.chain.helpers import open_case, seeded

ACCOUNTS = [seeded(100 + i).pubkey() for i in range(16)]


def _parses_or_refuses(parse: Callable[[bytes], object], data: bytes) -> None:
    with contextlib.suppress(MalformedError):
        parse(data)


PARSERS: dict[str, Callable[[bytes], object]] = {
    "transaction": decode_transaction,
    "instruction": lambda d: decode_instruction(PROGRAM_ID, d, ACCOUNTS[: (d[-1] % 17) if d else 0]),
    "channel": decode_channel,
    "ed25519": parse_ed25519_instruction,
    "event": decode_event,
    "splits": parse_splits_preimage,
}


@pytest.mark.parametrize("name", list(PARSERS))
@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400))
def test_random_bytes(name: str, data: bytes) -> None:
    _parses_or_refuses(PARSERS[name], data)


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0), value=st.integers(min_value=0, max_value=255))
def test_mutated_open_transactions_are_accepted_only_when_unchanged(position: int, value: int) -> None:
    """Flip one byte of a valid signed open: the verifier either rejects it or it is byte-identical."""
    case = open_case()
    raw = bytearray(bytes(case.signed()))
    index = position % len(raw)
    changed = raw[index] != value
    raw[index] = value
    try:
        verify_open_transaction(bytes(raw), case.expectations())
    except OpenRejected:
        return
    # Byte 0 is the signature count; bytes 1..64 the sponsor's slot, which the server overwrites.
    assert not changed or 1 <= index <= 64, f"an open changed at byte {index} passed verification"
