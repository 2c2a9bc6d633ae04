"""Token amounts (exact, Decimal-free string arithmetic) and RFC 3339 timestamps."""

from __future__ import annotations

import pytest

from mppcli.errors import MalformedError
from mppcli.protocol.amounts import format_amount, parse_amount
from mppcli.protocol.rfc3339 import format_rfc3339, is_expired, parse_rfc3339


@pytest.mark.parametrize(
    ("text", "decimals", "base"),
    [
        ("0.25", 6, 250_000),
        ("1", 6, 1_000_000),
        ("0", 6, 0),
        ("1.000000", 6, 1_000_000),
        ("0.000001", 6, 1),
        ("1.50", 2, 150),
        ("7", 0, 7),
        ("18446744073709.551615", 6, 2**64 - 1),
        ("0.123456789", 9, 123_456_789),
        ("0.10000000", 1, 1),
    ],
)
def test_parse_amount(text: str, decimals: int, base: int) -> None:
    assert parse_amount(text, decimals) == base


@pytest.mark.parametrize(
    ("text", "decimals", "why"),
    [
        ("0.0000001", 6, "has 7 decimal places; this token has only 6"),
        ("1.5", 0, "only 0"),
        ("-1", 6, "plain decimal"),
        ("+1", 6, "plain decimal"),
        ("1e3", 6, "plain decimal"),
        (" 1", 6, "plain decimal"),
        ("1,000", 6, "plain decimal"),
        ("1_000", 6, "plain decimal"),
        (".5", 6, "plain decimal"),
        ("1.", 6, "plain decimal"),
        ("", 6, "plain decimal"),
        ("18446744073709.551616", 6, "too large"),
        ("1", 10, "decimals must be"),
        ("1", -1, "decimals must be"),
    ],
)
def test_parse_amount_refuses(text: str, decimals: int, why: str) -> None:
    with pytest.raises(MalformedError, match=why):
        parse_amount(text, decimals, "--deposit")


@pytest.mark.parametrize(
    ("base", "decimals", "symbol", "text"),
    [
        (250_000, 6, None, "0.25"),
        (1_000_000, 6, "USDC", "1 USDC"),
        (0, 6, None, "0"),
        (1, 6, None, "0.000001"),
        (123, 0, None, "123"),
        (2**64 - 1, 6, None, "18446744073709.551615"),
        (1_050, 3, "X", "1.05 X"),
    ],
)
def test_format_amount(base: int, decimals: int, symbol: str | None, text: str) -> None:
    assert format_amount(base, decimals, symbol) == text
    assert parse_amount(text.split()[0], decimals) == base


def test_format_amount_refuses_non_amounts() -> None:
    for bad in (-1, 1.5, True):
        with pytest.raises(MalformedError):
            format_amount(bad, 6)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "unix"),
    [
        ("1970-01-01T00:00:00Z", 0.0),
        ("2026-01-29T12:05:00Z", 1769688300.0),
        ("2026-01-29T12:05:00.500Z", 1769688300.5),
        ("2026-01-29t12:05:00z", 1769688300.0),
        ("2026-01-29T14:05:00+02:00", 1769688300.0),
        ("2026-01-29T07:35:00-04:30", 1769688300.0),
        ("2016-12-31T23:59:60Z", 1483228800.0),
    ],
)
def test_parse_rfc3339(text: str, unix: float) -> None:
    assert parse_rfc3339(text) == pytest.approx(unix, abs=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-29 12:05:00Z",
        "2026-01-29T12:05:00",
        "2026-1-29T12:05:00Z",
        "2026-02-30T12:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-01-29T24:00:00Z",
        "2026-01-29T12:05:00+24:00",
        "Jan 29 2026 12:00",
        "tomorrow",
        "",
        "2026-01-29T12:05:00.Z",
        "２０２６-01-29T12:05:00Z",
        "2026-01-29T12:05:00Z" + " " * 30,
    ],
)
def test_parse_rfc3339_fails_closed(text: str) -> None:
    with pytest.raises(MalformedError, match="expires"):
        parse_rfc3339(text, "expires")


def test_format_rfc3339_is_the_reference_form() -> None:
    assert format_rfc3339(1769688300) == "2026-01-29T12:05:00.000Z"
    assert format_rfc3339(1769688300.9709) == "2026-01-29T12:05:00.970Z"
    assert parse_rfc3339(format_rfc3339(1769688300.25)) == 1769688300.25


def test_is_expired_fails_closed() -> None:
    expires = "2026-01-29T12:05:00Z"
    assert is_expired(expires, 1769688299.9) is False
    assert is_expired(expires, 1769688300.0) is True
    assert is_expired(None, 10**12) is False
    assert is_expired("tomorrow", 0) is True
