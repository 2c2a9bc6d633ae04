"""Token units (what people type, `0.25`) <-> base units (what the wire and the chain carry, 250000).

Exact decimal arithmetic only: the text is split into digits, never passed through a float, and a
value with more decimal places than the mint has is an error rather than silently rounded.
"""

from __future__ import annotations

import re

from mppcli.errors import MalformedError
from mppcli.protocol.encoding import U64_MAX

# Digits, optionally a point and more digits. No sign, exponent, blank, `_` or thousands separator.
_AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]+))?", re.ASCII)
MAX_DECIMALS = 9


def parse_amount(text: str, decimals: int, field: str = "amount") -> int:
    """`'0.25'` with 6 decimals -> 250000. Too many decimal places, signs or junk are errors."""
    _check_decimals(decimals)
    if not isinstance(text, str) or len(text) > 64:
        raise MalformedError(f"{field} must be a decimal number such as 0.25")
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise MalformedError(f"{field} must be a plain decimal number such as 0.25, got {text!r}")
    whole, fraction = match.group(1), (match.group(2) or "")
    significant = fraction.rstrip("0")
    if len(significant) > decimals:
        raise MalformedError(
            f"{field} {text} has {len(significant)} decimal places; this token has only {decimals}"
        )
    base_units: int = int(whole) * 10**decimals + int(significant.ljust(decimals, "0") or "0")
    if base_units > U64_MAX:
        raise MalformedError(f"{field} {text} is too large (above the u64 maximum in base units)")
    return base_units


def format_amount(base_units: int, decimals: int, symbol: str | None = None) -> str:
    """250000 with 6 decimals -> `0.25` (or `0.25 USDC`): exact, trailing zeros dropped."""
    _check_decimals(decimals)
    if isinstance(base_units, bool) or not isinstance(base_units, int) or base_units < 0:
        raise MalformedError(f"{base_units!r} is not a base-unit amount")
    whole, fraction = divmod(base_units, 10**decimals)
    text = str(whole)
    digits = str(fraction).rjust(decimals, "0").rstrip("0") if decimals else ""
    if digits:
        text += "." + digits
    return f"{text} {symbol}" if symbol else text


def _check_decimals(decimals: int) -> None:
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= MAX_DECIMALS:
        raise MalformedError(f"decimals must be an integer from 0 to {MAX_DECIMALS}, got {decimals!r}")
