"""RFC 8785 JSON Canonicalization Scheme (JCS): the bytes that challenge ids and signatures cover.

Three places where Python's `json.dumps(sort_keys=True)` is not JCS, and why each matters here:
- keys sort by UTF-16 code unit (RFC 8785 §3.2.3), not by code point: an astral key (U+1F600,
  surrogates D83D DE00) sorts *before* U+FB03;
- numbers print as ECMAScript's Number::toString (§3.2.2.3): `1.0` -> `1`, `1e21` -> `1e+21`,
  `1e-7` -> `1e-7`, `0.000001` -> `0.000001`;
- strings escape only `"`, `\\` and C0 controls (§3.2.2.2); U+2028/U+2029 and all non-ASCII stay
  literal UTF-8; lone surrogates are an error.

Integers are IEEE-754 doubles in JCS. An int above 2^53 is emitted only when its double prints back
as the same digits (42211375549265940 does; 2^53+1 and 2^60 do not) and refused otherwise, rather
than silently changed: every u64 on this wire is a decimal *string*, so a big JSON number is a bug.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping

from mppcli.errors import MalformedError

_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_ESCAPES = {chr(c): f"\\u{c:04x}" for c in range(0x20)} | _SHORT_ESCAPES
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')  # one C-level scan instead of a lookup per character


def canonical_json(value: object) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value (dict, list, str, int, float, bool, None).

    Most values on this wire (credentials, receipts, directives) hold only ASCII keys, strings,
    small integers, booleans and null. For those, the C encoder of `json.dumps(sort_keys=True,
    ensure_ascii=False)` writes exactly JCS (it escapes `"`, `\\` and C0 controls as §3.2.2.2
    does, lower-case hex included, and code-point order is UTF-16 order for ASCII keys) at a
    third of the cost of the emitter below, which handles everything else."""
    if _plain(value, 0):
        try:
            return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        except UnicodeEncodeError:
            pass  # a lone surrogate: the emitter says so
    parts: list[str] = []
    _emit(value, parts, depth=0)
    return "".join(parts).encode("utf-8")


MAX_DEPTH = 256  # each level costs the emitter two frames: a deeper limit met RecursionError first
_PLAIN_DEPTH = 32  # deeper values take the emitter: this check spends two frames a level


def _plain(value: object, depth: int) -> bool:
    """Whether `json.dumps` writes `value` exactly as JCS does (see `canonical_json`)."""
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return True
    if kind is int:
        return -(2**53) <= value <= 2**53  # type: ignore[operator]
    if depth >= _PLAIN_DEPTH:
        return False
    if kind is dict:
        return all(type(key) is str and key.isascii() and _plain(item, depth + 1)
                   for key, item in value.items())  # type: ignore[attr-defined]
    if kind is list or kind is tuple:
        return all(_plain(item, depth + 1) for item in value)  # type: ignore[attr-defined]
    return False


def _emit(value: object, out: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise MalformedError(f"JSON value is nested deeper than {MAX_DEPTH} levels")
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        out.append(_integer(value))
    elif isinstance(value, float):
        out.append(format_number(value))
    elif isinstance(value, Mapping):
        _emit_object(value, out, depth)
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _emit(item, out, depth + 1)
        out.append("]")
    else:
        raise MalformedError(f"a {type(value).__name__} is not a JSON value")


def _emit_object(value: Mapping[object, object], out: list[str], depth: int) -> None:
    for key in value:
        if not isinstance(key, str):
            raise MalformedError(f"JSON object keys must be strings, got {type(key).__name__}")
    out.append("{")
    for index, key in enumerate(sorted(value, key=_utf16_order)):  # type: ignore[arg-type]
        if index:
            out.append(",")
        out.append(_string(key))  # type: ignore[arg-type]
        out.append(":")
        _emit(value[key], out, depth + 1)
    out.append("}")


def _utf16_order(key: str) -> bytes:
    """Big-endian UTF-16 bytes compare exactly as the sequence of UTF-16 code units does."""
    return key.encode("utf-16-be", "surrogatepass")


def _string(text: str) -> str:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedError("JSON string contains a lone surrogate (RFC 8785 §3.2.2.2)") from None
    return '"' + _NEEDS_ESCAPE.sub(lambda found: _ESCAPES[found.group()], text) + '"'


def _integer(value: int) -> str:
    """Exact below 2^53; above, only when the double's canonical text reads back as this integer."""
    text = str(value)
    if abs(value) <= 2**53:
        return text
    if abs(value) >= 2**1024 or format_number(float(value)) != text:
        raise MalformedError(f"integer {value} does not survive as an IEEE-754 double; send it as a string")
    return text


def format_number(value: float) -> str:
    """ECMAScript Number::toString of a double, as RFC 8785 §3.2.2.3 requires."""
    if math.isnan(value) or math.isinf(value):
        raise MalformedError("NaN and Infinity are not JSON numbers")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    digits, point = _shortest_digits(abs(value))
    return sign + _place_point(digits, point)


def _shortest_digits(value: float) -> tuple[str, int]:
    """Shortest round-trip digits (Python's repr, like ECMAScript) and the decimal point position.

    The value is 0.DIGITS × 10^point, e.g. 123.4 -> ("1234", 3), 0.05 -> ("5", -1).
    """
    mantissa, _, exponent = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    return stripped.rstrip("0"), point


def _place_point(digits: str, point: int) -> str:
    count = len(digits)
    if count <= point <= 21:
        return digits + "0" * (point - count)
    if 0 < point <= 21:
        return digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return "0." + "0" * -point + digits
    exponent = point - 1
    mantissa = digits if count == 1 else digits[0] + "." + digits[1:]
    return f"{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent)}"
