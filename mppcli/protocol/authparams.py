"""Split `WWW-Authenticate` values into challenges (RFC 9110 §11): one linear scan, no regex.

    WWW-Authenticate = #challenge
    challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-param       = token BWS "=" BWS ( token / quoted-string )

A token followed by `=` is a parameter of the current challenge; a token followed by anything else
starts a new challenge. The scanner never backtracks and caches the position of the next `"`, so a
16 KiB hostile value (thousands of backslashes, no closing quote) costs one pass.

This layer never raises: it records what it saw, including parameters whose value was malformed
and names given twice, and `auth.py` decides what is fatal for a `Payment` challenge (other
schemes are skipped whatever they contain). Text after a complete value and before the next comma
is ignored, as the shared vectors expect (`description="a "b" c"` yields `a `).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_SPACE = " \t"
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass
class RawChallenge:
    """One challenge as scanned: lower-cased parameter names, unescaped values, and what was wrong."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    malformed: set[str] = field(default_factory=set)
    duplicates: set[str] = field(default_factory=set)

    def add(self, name: str, value: str | None) -> None:
        if name in self.params or name in self.malformed:
            self.duplicates.add(name)
        if value is None:
            self.malformed.add(name)
        else:
            self.params[name] = value


def split_challenges(text: str) -> list[RawChallenge]:
    """All challenges in one header value, in order."""
    return _Scanner(text).run()


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.next_quote = -2  # cached index of the next '"' at or after pos (-1: none left)
        self.challenges: list[RawChallenge] = []

    def run(self) -> list[RawChallenge]:
        while self._skip(_SPACE + ","):
            start = self.pos
            self._scan_token()
            if self.pos == start:
                self._skip_junk()
                continue
            name = self.text[start:self.pos]
            self._skip(_SPACE)
            if self._at("="):
                self._parameter(name.lower())
            else:
                self.challenges.append(RawChallenge(name))
        return self.challenges

    def _parameter(self, name: str) -> None:
        self.pos += 1
        self._skip(_SPACE)
        value = self._value()
        self._skip(_SPACE)
        if not self._at(","):
            self._skip_junk()
        if self.challenges:
            self.challenges[-1].add(name, value)

    def _value(self) -> str | None:
        if self._at('"'):
            return self._quoted()
        start = self.pos
        self._scan_token()
        return self.text[start:self.pos] if self.pos > start else None

    def _quoted(self) -> str | None:
        """A quoted-string's unescaped content, or None when unterminated or holding a control."""
        text, parts = self.text, []
        pos = self.pos + 1
        while True:
            quote = self._quote_from(pos)
            slash = text.find("\\", pos, quote if quote >= 0 else len(text))
            if slash >= 0:
                parts.append(text[pos:slash])
                if slash + 1 >= len(text):
                    self.pos = len(text)
                    return None
                parts.append(text[slash + 1])
                pos = slash + 2
                continue
            if quote < 0:
                self.pos = len(text)
                return None
            parts.append(text[pos:quote])
            self.pos = quote + 1
            value = "".join(parts)
            return None if _CONTROL.search(value) else value

    def _quote_from(self, pos: int) -> int:
        if self.next_quote == -2 or 0 <= self.next_quote < pos:
            self.next_quote = self.text.find('"', pos)
        return self.next_quote

    def _skip_junk(self) -> None:
        """Skip to the next comma outside a quoted-string (text the grammar has no place for)."""
        text = self.text
        while self.pos < len(text) and text[self.pos] != ",":
            if text[self.pos] == '"':
                self._quoted()
            else:
                self.pos += 1

    def _scan_token(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _TCHAR:
            pos += 1
        self.pos = pos

    def _skip(self, chars: str) -> bool:
        """Advance past `chars`; True if anything is left."""
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in chars:
            pos += 1
        self.pos = pos
        return pos < len(text)

    def _at(self, ch: str) -> bool:
        return self.pos < len(self.text) and self.text[self.pos] == ch
