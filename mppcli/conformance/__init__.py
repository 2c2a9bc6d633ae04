"""The conformance runner: one `{"mode", "input"}` object in, one `{"ok", "output"|"error"}` out.

A thin dispatcher over the public functions of `protocol/` (and `chain/`, whose modes live in
`chain_modes.py` when that module exists): no logic of its own, no network, no clock. A rejected
input answers `ok: false` with the library's own message; only a bug in the runner raises.
See the project's CONFORMANCE.md for the modes and their fields.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Callable
from typing import Any

from mppcli.errors import MalformedError
from mppcli.protocol import actions, auth, bearer, encoding, session, voucher
from mppcli.protocol.fields import as_object, get_str, need_object, need_str

Mode = Callable[[dict[str, Any]], dict[str, Any]]
_SAFE_INTEGER = 2**53


def _jcs(data: dict[str, Any]) -> dict[str, Any]:
    if "value" not in data:
        raise MalformedError("input.value is required")
    canonical = encoding.canonical_json(_as_doubles(data["value"]))
    return {"canonicalJson": canonical.decode("utf-8"), "base64Url": encoding.b64url_encode(canonical)}


def _as_doubles(value: Any) -> Any:
    """JSON numbers are doubles in RFC 8785: an integer past 2^53 becomes its nearest double, as in JS."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) > _SAFE_INTEGER:
        return float(value) if abs(value) < 2**1024 else value
    if isinstance(value, list):
        return [_as_doubles(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_doubles(item) for key, item in value.items()}
    return value


def _challenge_id(data: dict[str, Any]) -> dict[str, Any]:
    def optional(key: str) -> str | None:
        return get_str(data, key, "input", required=False, nonempty=False)

    secret = need_str(data, "secretKey", "input").encode("utf-8")
    realm, method, intent, request = (need_str(data, key, "input", nonempty=False)
                                      for key in ("realm", "method", "intent", "request"))
    challenge_id = auth.compute_challenge_id(secret, realm, method, intent, request, optional("expires"),
                                             optional("digest"), optional("opaque"))
    return {"id": challenge_id}


def _www_authenticate(data: dict[str, Any]) -> dict[str, Any]:
    header = data.get("header")
    if not isinstance(header, str | list):
        raise MalformedError("input.header must be a string (or a list of header values)")
    return {"challenges": [challenge.to_json() for challenge in auth.parse_www_authenticate(header)]}


def _authorization(data: dict[str, Any]) -> dict[str, Any]:
    return {"credential": auth.parse_authorization(need_str(data, "header", "input")).to_json()}


def _session_request(data: dict[str, Any]) -> dict[str, Any]:
    return {"request": session.parse_session_request(need_object(data, "request", "input")).to_json()}


def _session_credential(data: dict[str, Any]) -> dict[str, Any]:
    mode = get_str(data, "voucherSigner", "input", required=False)
    action = actions.parse_action(need_object(data, "payload", "input"), mode)
    return {"action": action.action, "payload": action.to_json()}


def _voucher_message(data: dict[str, Any]) -> dict[str, Any]:
    return {"hex": voucher.voucher_message(voucher.parse_voucher(data, "input")).hex()}


def _voucher_sign(data: dict[str, Any]) -> dict[str, Any]:
    keypair = keypair_from_secret(need_str(data, "secretKey", "input"))
    signed = voucher.sign_voucher(keypair, voucher.parse_voucher(data, "input"))
    return {"signedVoucher": signed.to_json()}


def _voucher_verify(data: dict[str, Any]) -> dict[str, Any]:
    signed = voucher.parse_signed_voucher(need_object(data, "signedVoucher", "input"), "signedVoucher")
    return {"valid": voucher.verify_signed_voucher(signed)}


def _bearer_message(data: dict[str, Any]) -> dict[str, Any]:
    message = bearer.bearer_message(need_str(data, "channelId", "input"), need_str(data, "payer", "input"),
                                    need_str(data, "sessionChallengeId", "input"))
    return {"utf8": message.decode("utf-8")}


def _bearer_verify(data: dict[str, Any]) -> dict[str, Any]:
    proof = bearer.parse_authentication(need_object(data, "authentication", "input"))
    return {"valid": bearer.verify_bearer(need_str(data, "channelId", "input"), proof)}


def keypair_from_secret(text: str) -> Any:
    """A solders Keypair from the base58 of the 64-byte solana keypair (seed ‖ public key)."""
    from solders.keypair import Keypair

    raw = encoding.b58decode(text, "input.secretKey")
    if len(raw) != 64:
        raise MalformedError(f"input.secretKey must be 64 bytes (seed and public key), got {len(raw)}")
    try:
        return Keypair.from_bytes(raw)
    except ValueError:
        raise MalformedError("input.secretKey: the public key half does not match the seed") from None


PROTOCOL_MODES: dict[str, Mode] = {
    "jcs": _jcs,
    "challenge.id": _challenge_id,
    "www-authenticate.parse": _www_authenticate,
    "authorization.parse": _authorization,
    "session.request.parse": _session_request,
    "session.credential.parse": _session_credential,
    "voucher.message": _voucher_message,
    "voucher.sign": _voucher_sign,
    "voucher.verify": _voucher_verify,
    "bearer.message": _bearer_message,
    "bearer.verify": _bearer_verify,
}


def load_modes() -> dict[str, Mode]:
    """The protocol modes plus the chain modes of `chain_modes.py` when that module exists."""
    modes = dict(PROTOCOL_MODES)
    if importlib.util.find_spec("mppcli.conformance.chain_modes") is not None:
        chain = importlib.import_module("mppcli.conformance.chain_modes")
        modes.update(chain.MODES)
    return modes


def run(request: object, modes: dict[str, Mode]) -> dict[str, Any]:
    """Answer one decoded request object."""
    try:
        envelope = as_object(request, "request")
        name = need_str(envelope, "mode")
        mode = modes.get(name)
        if mode is None:
            raise MalformedError(f"unknown mode {name[:60]!r}")
        output = mode(need_object(envelope, "input"))
    except (MalformedError, ValueError) as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "output": output}


def run_text(text: bytes | str, modes: dict[str, Mode]) -> str:
    """Answer one JSON text (UTF-8 bytes or str) with one JSON line (without the newline)."""
    try:
        request = encoding.loads_json(text, "input line")
    except MalformedError as exc:
        answer: dict[str, Any] = {"ok": False, "error": str(exc)}
    else:
        answer = run(request, modes)
    # ASCII-only: U+2028/U+2029 inside a value would otherwise split the line for some line readers.
    return json.dumps(answer, ensure_ascii=True, separators=(",", ":"))
