"""Splits: canonical preimage and hash, the open rules, and the distribution arithmetic."""

from __future__ import annotations

import hashlib
import struct

import pytest

from mppcli.chain.splits import (
    Distribution,
    Split,
    distribution,
    parse_splits_preimage,
    payee_share_bps,
    residual_dust,
    splits_hash,
    splits_preimage,
    validate_splits,
)
from mppcli.errors import MalformedError
from tests.chain.helpers import seeded

A, B, C = (seeded(i).pubkey() for i in (80, 81, 82))


def test_empty_preimage_and_hash() -> None:
    assert splits_preimage([]) == bytes(4)
    assert splits_hash([]).hex() == hashlib.sha256(bytes(4)).hexdigest()
    assert splits_hash([]).hex() == "df3f619804a92fdb4057192dc43dd748ea778adc52bc498ce80524c014b81119"


def test_preimage_layout_written_by_hand() -> None:
    splits = [Split(A, 250), Split(B, 10)]
    expected = struct.pack("<I", 2) + bytes(A) + struct.pack("<H", 250) + bytes(B) + struct.pack("<H", 10)
    assert splits_preimage(splits) == expected
    assert splits_hash(splits) == hashlib.sha256(expected).digest()
    assert parse_splits_preimage(expected) == tuple(splits)


def test_order_matters() -> None:
    assert splits_hash([Split(A, 1), Split(B, 2)]) != splits_hash([Split(B, 2), Split(A, 1)])


def test_parse_refuses_trailing_bytes() -> None:
    with pytest.raises(MalformedError, match="1 trailing bytes"):
        parse_splits_preimage(splits_preimage([Split(A, 1)]) + b"\x00")


def test_valid_splits_pass() -> None:
    validate_splits([])
    validate_splits([Split(A, 10_000)])
    validate_splits([Split(seeded(100 + i).pubkey(), 1) for i in range(32)])


@pytest.mark.parametrize(("splits", "message"), [
    ([Split(A, 0)], r"distributionSplits\[0\].shareBps must be an integer from 1 to 10000"),
    ([Split(A, 10_001)], "from 1 to 10000"),
    ([Split(A, 5000), Split(B, 5001)], "shares sum to 10001 bps"),
    ([Split(A, 1), Split(A, 2)], r"distributionSplits\[1\].recipient .* is listed twice"),
    ([Split(seeded(100 + i).pubkey(), 1) for i in range(33)], "has 33 entries; at most 32"),
    ([Split(C, 1)], "is the channel itself"),
])
def test_open_rules(splits: list[Split], message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        validate_splits(splits, channel=C)


def test_distribution_with_implicit_remainder_and_dust() -> None:
    splits = [Split(A, 2500), Split(B, 3333)]
    assert payee_share_bps(splits) == 4167
    # floor(1001*2500/1e4)=250, floor(1001*3333/1e4)=333, payee floor(1001*4167/1e4)=417; 1 unit of dust
    assert distribution(1001, splits) == distribution_expected((250, 333), 417, 1)
    assert residual_dust(1001, splits) == 1


def distribution_expected(recipients: tuple[int, ...], payee: int, dust: int) -> Distribution:
    return Distribution(recipients, payee, dust)


def test_distribution_from_a_watermark_pays_cumulative_floor_deltas() -> None:
    splits = [Split(A, 3333)]
    first = distribution(3, splits)  # A floor(0.9999)=0, payee floor(2.0001)=2, dust 1
    assert first == distribution_expected((0,), 2, 1)
    later = distribution(4, splits, payout_watermark=3)  # A 1-0, payee floor(2.6668)=2 - 2 = 0
    assert later == distribution_expected((1,), 0, 0)
    # paying in two steps equals paying once, and dust never goes negative overall
    once = distribution(4, splits)
    assert sum(first.recipients) + sum(later.recipients) == sum(once.recipients)
    assert first.payee + later.payee == once.payee
    assert first.dust + later.dust == once.dust


def test_a_later_distribution_can_pay_out_earlier_dust() -> None:
    halves = [Split(A, 5000)]
    assert distribution(1, halves) == distribution_expected((0,), 0, 1)
    assert distribution(2, halves, payout_watermark=1) == distribution_expected((1,), 1, -1)
    assert residual_dust(2, halves) == 0


def test_no_splits_pays_the_payee_everything() -> None:
    assert distribution(12_345, []) == distribution_expected((), 12_345, 0)


def test_watermark_must_not_exceed_settled() -> None:
    with pytest.raises(MalformedError, match="payout watermark"):
        distribution(5, [], payout_watermark=6)
