"""RFC 3339 timestamps for `expires` and receipt `timestamp`: strict parse, fixed emit form.

Parsing fails closed: anything that is not `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` on a real calendar
day is an error, and `is_expired` treats an unreadable expiry as already past, so a malformed
`expires="tomorrow"` can never keep a challenge alive. `T`/`Z` may be lower case (RFC 3339 §5.6
note). A leap second (`:60`) is read as the following second.

Emission follows the reference server byte for byte: `2026-11-27T17:14:41.970Z` (milliseconds,
truncated, literal `Z`).
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta

from mppcli.errors import MalformedError

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def parse_rfc3339(text: str, field: str = "timestamp") -> float:
    """Unix seconds (with the fraction) of an RFC 3339 date-time; MalformedError otherwise."""
    if not isinstance(text, str) or len(text) > 40:
        raise MalformedError(f"{field} must be an RFC 3339 date-time string")
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise MalformedError(f"{field} is not an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SSZ): {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    leap = second == 60
    try:
        moment = datetime(year, month, day, hour, minute, 59 if leap else second, tzinfo=UTC)
    except ValueError as exc:
        raise MalformedError(f"{field} is not a real date and time: {text!r} ({exc})") from None
    if match.group(8) is None:
        moment -= _offset(match.group(9), match.group(10), match.group(11), field, text)
    fraction = int((match.group(7) or "0").ljust(9, "0")) / 1e9
    return moment.timestamp() + (1 if leap else 0) + fraction


def _offset(sign: str, hours: str, minutes: str, field: str, text: str) -> timedelta:
    if int(hours) > 23 or int(minutes) > 59:
        raise MalformedError(f"{field} has an impossible UTC offset: {text!r}")
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    return delta if sign == "+" else -delta


def format_rfc3339(unix: float) -> str:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC, milliseconds truncated."""
    moment = datetime.fromtimestamp(unix, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def is_expired(expires: str | None, now: float) -> bool:
    """True once `now` reaches `expires`; an absent expiry never expires, an unreadable one always has."""
    if expires is None:
        return False
    moment = _expiry(expires) if isinstance(expires, str) else None
    return moment is None or now >= moment


@functools.lru_cache(maxsize=256)
def _expiry(expires: str) -> float | None:
    """The parsed expiry, None when unreadable. Remembered: every voucher of a channel echoes the same
    challenge, and so the same `expires`, checked once per paid request."""
    try:
        return parse_rfc3339(expires, "expires")
    except MalformedError:
        return None
