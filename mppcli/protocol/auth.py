"""The `Payment` HTTP authentication scheme (draft-httpauth-payment-00): challenges and credentials.

Challenge parsing is order-free, takes several challenges per header value and several values,
folds the scheme and parameter names to lower case, ignores unknown parameters (even malformed
ones) and other schemes, and rejects a `Payment` challenge that repeats a parameter, lacks or
empties a required one (`id realm method intent request`), has a non-lowercase `method`, a
`request` that is not base64url JSON (at most 16384 characters), an unreadable `expires`, or an
`opaque` that is not a base64url JSON object of strings.

Emission writes the parameters in the reference server's order (`id, realm, method, intent,
request, description, digest, expires, opaque`), all quoted, so headers are byte-identical to it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mppcli.errors import MalformedError
from mppcli.protocol.authparams import RawChallenge, split_challenges
from mppcli.protocol.encoding import b64url_decode, b64url_encode, canonical_json, loads_json
from mppcli.protocol.fields import as_object, get_str, need_object
from mppcli.protocol.problem import PROBLEM_BASE, Problem, parse_problem, problem
from mppcli.protocol.rfc3339 import format_rfc3339, is_expired, parse_rfc3339

__all__ = [
    "MAX_TOKEN_LENGTH",
    "PROBLEM_BASE",
    "Challenge",
    "Credential",
    "Problem",
    "compute_challenge_id",
    "format_authorization",
    "format_rfc3339",
    "format_www_authenticate",
    "is_expired",
    "new_challenge",
    "parse_authorization",
    "parse_problem",
    "parse_rfc3339",
    "parse_www_authenticate",
    "problem",
    "verify_challenge_id",
]

MAX_TOKEN_LENGTH = 16384
SCHEME = "payment"
REQUIRED = ("id", "realm", "method", "intent", "request")
OPTIONAL = ("description", "digest", "expires", "opaque")
_METHOD = re.compile(r"[a-z]+", re.ASCII)
_INTENT = re.compile(r"[A-Za-z0-9-]+", re.ASCII)
_HEADER_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class Challenge:
    """One `Payment` challenge; `request` is the base64url text exactly as it travelled."""

    id: str
    realm: str
    method: str
    intent: str
    request: str
    expires: str | None = None
    description: str | None = None
    digest: str | None = None
    opaque: str | None = None

    def decoded_request(self) -> dict[str, Any]:
        """The request JSON object (validated when the challenge was parsed)."""
        return _decode_json_object(self.request, "request")

    def to_json(self) -> dict[str, str]:
        """The parameters as a JSON object (the credential echo uses this shape)."""
        data = {"id": self.id, "realm": self.realm, "method": self.method, "intent": self.intent,
                "request": self.request}
        for name in OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data


def parse_www_authenticate(header: str | Iterable[str]) -> list[Challenge]:
    """Every `Payment` challenge in one header value or in several; MalformedError if none or any bad."""
    values = [header] if isinstance(header, str) else list(header)
    challenges = []
    for value in values:
        if not isinstance(value, str):
            raise MalformedError("WWW-Authenticate value must be a string")
        for raw in split_challenges(value):
            if raw.scheme.lower() == SCHEME:
                challenges.append(_challenge_from_raw(raw))
    if not challenges:
        raise MalformedError("WWW-Authenticate carries no Payment challenge")
    return challenges


def _challenge_from_raw(raw: RawChallenge) -> Challenge:
    if raw.duplicates:
        raise MalformedError(f"Payment challenge repeats parameter {sorted(raw.duplicates)[0]!r}")
    for name in (*REQUIRED, *OPTIONAL):
        if name in raw.malformed:
            raise MalformedError(f"Payment challenge parameter {name!r} has a malformed value")
    return validate_challenge({name: raw.params[name] for name in (*REQUIRED, *OPTIONAL)
                               if name in raw.params}, "Payment challenge parameter")


def validate_challenge(params: dict[str, Any], where: str) -> Challenge:
    """Build a Challenge from named string values, checking every rule of the core scheme.

    Remembered (the last 256, least recently used first out; refusals are not remembered): a
    payer echoes the same challenge with every voucher, and checking it again (three base64url
    JSON decodes and a timestamp) was a third of what parsing a paid request cost `mpp serve`.
    The result depends only on the values, and a Challenge is immutable. Anyone can send
    well-formed challenges, so the memory stays bounded and churning it only costs time."""
    try:
        key = tuple(sorted(params.items()))
        hash(key)
    except TypeError:  # a value that is not hashable, so not a string: refused below
        return _validate_challenge(params, where)
    return _remembered(key, where)


@functools.lru_cache(maxsize=256)
def _remembered(key: tuple[tuple[str, Any], ...], where: str) -> Challenge:
    return _validate_challenge(dict(key), where)


def _validate_challenge(params: dict[str, Any], where: str) -> Challenge:
    for name in REQUIRED:
        if name not in params:
            raise MalformedError(f"{where} {name!r} is missing")
        if not isinstance(params[name], str) or not params[name]:
            raise MalformedError(f"{where} {name!r} must be a non-empty string")
    for name in OPTIONAL:
        if name in params and not isinstance(params[name], str):
            raise MalformedError(f"{where} {name!r} must be a string")
    if not _METHOD.fullmatch(params["method"]):
        raise MalformedError(f"{where} 'method' must be lowercase ASCII letters: {params['method'][:40]!r}")
    if not _INTENT.fullmatch(params["intent"]):
        raise MalformedError(f"{where} 'intent' must be letters, digits or '-': {params['intent'][:40]!r}")
    _decode_json_object(params["request"], "request")
    if params.get("expires") is not None:
        parse_rfc3339(params["expires"], "expires")
    if params.get("opaque") is not None:
        _check_opaque(params["opaque"])
    optional = {name: (params.get(name) or None) for name in OPTIONAL}
    return Challenge(*(params[name] for name in REQUIRED), **optional)  # type: ignore[arg-type]


def _decode_json_object(text: str, name: str) -> dict[str, Any]:
    if len(text) > MAX_TOKEN_LENGTH:
        raise MalformedError(f"{name} is longer than {MAX_TOKEN_LENGTH} characters")
    return as_object(loads_json(b64url_decode(text, name), name), name)


def _check_opaque(text: str) -> None:
    opaque = _decode_json_object(text, "opaque")
    if any(not isinstance(value, str) for value in opaque.values()):
        raise MalformedError("opaque must decode to a JSON object whose values are all strings")


def format_www_authenticate(challenge: Challenge) -> str:
    """The header value for one challenge, in the reference server's parameter order."""
    order = ("id", "realm", "method", "intent", "request", "description", "digest", "expires", "opaque")
    parts = []
    for name in order:
        value = getattr(challenge, name)
        if value:
            parts.append(f'{name}="{_quote(value, name)}"')
    return "Payment " + ", ".join(parts)


def _quote(value: str, name: str) -> str:
    if _HEADER_UNSAFE.search(value):
        raise MalformedError(f"challenge {name} contains a control character (CR, LF...) and cannot be sent")
    return value.replace("\\", "\\\\").replace('"', '\\"')


def compute_challenge_id(secret: bytes, realm: str, method: str, intent: str, request: str,
                         expires: str | None = None, digest: str | None = None,
                         opaque: str | None = None) -> str:
    """HMAC-SHA256 over `realm|method|intent|request|expires|digest|opaque`, base64url without padding."""
    slots = [realm, method, intent, request, expires or "", digest or "", opaque or ""]
    mac = hmac.new(secret, "|".join(slots).encode("utf-8"), hashlib.sha256).digest()
    return b64url_encode(mac)


def verify_challenge_id(secret: bytes, challenge: Challenge) -> bool:
    """True when the challenge's id is the HMAC this secret gives its parameters (constant time)."""
    expected = compute_challenge_id(secret, challenge.realm, challenge.method, challenge.intent,
                                    challenge.request, challenge.expires, challenge.digest, challenge.opaque)
    return hmac.compare_digest(expected.encode(), challenge.id.encode())


def new_challenge(secret: bytes, *, realm: str, method: str, intent: str, request: dict[str, Any],
                  expires: str | None = None, description: str | None = None, digest: str | None = None,
                  opaque: dict[str, str] | None = None) -> Challenge:
    """A server's fresh challenge: JCS + base64url the request (and opaque), bind the id by HMAC."""
    request_text = b64url_encode(canonical_json(request))
    opaque_text = b64url_encode(canonical_json(opaque)) if opaque is not None else None
    challenge_id = compute_challenge_id(secret, realm, method, intent, request_text, expires, digest,
                                        opaque_text)
    params = {"id": challenge_id, "realm": realm, "method": method, "intent": intent, "request": request_text,
              "expires": expires, "description": description, "digest": digest, "opaque": opaque_text}
    return validate_challenge({k: v for k, v in params.items() if v is not None}, "challenge")


@dataclass(frozen=True)
class Credential:
    """An `Authorization: Payment` credential: the echoed challenge, the method payload, the payer id."""

    challenge: Challenge
    payload: dict[str, Any]
    source: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"challenge": self.challenge.to_json(), "payload": self.payload}
        if self.source is not None:
            data["source"] = self.source
        return data


def parse_authorization(header: str, *, lenient: bool = False) -> Credential:
    """Parse `Payment <base64url JSON>`; `lenient` accepts `+/` and padding like the reference server."""
    if not isinstance(header, str):
        raise MalformedError("Authorization must be a string")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != SCHEME:
        raise MalformedError("Authorization does not use the Payment scheme")
    token = token.strip(" \t")
    if not token:
        raise MalformedError("Authorization: Payment carries no credential")
    if len(token) > MAX_TOKEN_LENGTH:
        raise MalformedError(f"credential is longer than {MAX_TOKEN_LENGTH} characters")
    raw = b64url_decode(token, "credential", lenient=lenient)
    data = as_object(loads_json(raw, "credential"), "credential")
    challenge = validate_challenge(need_object(data, "challenge"), "credential challenge field")
    return Credential(challenge, need_object(data, "payload"), get_str(data, "source", required=False))


def format_authorization(credential: Credential) -> str:
    """`Payment ` + base64url(JCS(credential)); the echo carries every parameter the challenge had."""
    token = b64url_encode(canonical_json(credential.to_json()))
    if len(token) > MAX_TOKEN_LENGTH:
        raise MalformedError(f"credential would be {len(token)} characters, above {MAX_TOKEN_LENGTH}")
    return "Payment " + token
