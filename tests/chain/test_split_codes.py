"""chain's split validation names the program error each broken rule returns, in the program's order.

The ledger's model raises these same codes from this same function (tests/ledger/test_split_codes.py).
"""

from __future__ import annotations

import pytest
from solders.pubkey import Pubkey

from mppcli.chain.program_errors import code_of
from mppcli.chain.splits import Split, SplitRejected, validate_splits
from mppcli.errors import MalformedError

A, B, C = (Pubkey.from_bytes(bytes([n]) * 32) for n in (1, 2, 3))
MANY = [Split(Pubkey.from_bytes(bytes([n, 7]) + bytes(30)), 1) for n in range(33)]


@pytest.mark.parametrize(("splits", "error", "code"), [
    (MANY, "invalidRecipientCount", 260),
    ([Split(A, 0)], "invalidSplitConfig", 261),
    ([Split(A, 10_001)], "invalidSplitConfig", 261),
    ([Split(A, 5000), Split(B, 5001)], "invalidSplitConfig", 261),
    ([Split(A, 1), Split(A, 2)], "duplicateRecipient", 263),
    ([Split(C, 1)], "invalidSplitConfig", 261),
], ids=["count", "zero", "one-share-too-big", "sum", "duplicate", "channel-itself"])
def test_each_rule_carries_its_program_error(splits: list[Split], error: str, code: int) -> None:
    with pytest.raises(SplitRejected) as raised:
        validate_splits(splits, channel=C)
    assert raised.value.error == error
    assert code_of(raised.value.error) == code
    assert isinstance(raised.value, MalformedError)  # callers that catch MalformedError still do


def test_a_duplicate_is_reported_before_an_oversized_share() -> None:
    # The program checks duplicates entry by entry and the total only afterwards.
    with pytest.raises(SplitRejected) as raised:
        validate_splits([Split(A, 20_000), Split(A, 1)])
    assert raised.value.error == "duplicateRecipient"


def test_the_channel_check_comes_after_the_instruction_data_checks() -> None:
    with pytest.raises(SplitRejected) as raised:
        validate_splits([Split(C, 1), Split(C, 1)], channel=C)
    assert raised.value.error == "duplicateRecipient"
    with pytest.raises(SplitRejected, match=r"distributionSplits\[1\].recipient is the channel itself"):
        validate_splits([Split(A, 1), Split(C, 1)], channel=C)


def test_the_channel_may_be_a_recipient_when_no_channel_is_given() -> None:
    validate_splits([Split(C, 10_000)])
