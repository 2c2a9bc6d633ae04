"""`mpp inspect URL`: fetch a resource and decode its 402 payment challenges, paying nothing.

Exit codes: 0 with the decoded challenges (or an empty list when the answer is not a 402);
4 (E_PROTOCOL) when a 402 carries no Payment challenge, a malformed one, or a solana/session
challenge whose request breaks the spec; 3 (E_NETWORK) when the server cannot be reached;
2 for a bad URL, header or data file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mppcli.cli.options import JsonOpt
from mppcli.cli.output import Outcome
from mppcli.cli.runtime import run

if TYPE_CHECKING:
    from mppcli.cli.env import Env
    from mppcli.client.answer import Answer
    from mppcli.client.http import RequestSpec
    from mppcli.protocol.auth import Challenge


def register(app: typer.Typer) -> None:
    """Add `mpp inspect`."""
    app.command("inspect")(inspect_cmd)


def inspect_cmd(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="The paid resource.")],
    method: Annotated[str | None, typer.Option("--request", "-X", metavar="M",
                                               help="HTTP method (default GET, or POST with -d).")] = None,
    header: Annotated[list[str] | None, typer.Option("--header", "-H", metavar="'K: V'",
                                                     help="Extra request header (repeatable).")] = None,
    data: Annotated[str | None, typer.Option("--data", "-d", metavar="DATA",
                                             help="Request body; @FILE reads a file.")] = None,
    json: JsonOpt = False,
) -> None:
    """Show the payment challenge(s) a URL answers with; pays nothing."""
    def action(env: Env) -> Outcome:
        spec = _request(url, method, header or [], data)
        answer = _fetch(env, spec)
        challenges = _challenges(answer) if answer.status == 402 else []
        entries = [_entry(challenge, env.clock()) for challenge in challenges]
        result: dict[str, Any] = {"url": url, "status": answer.status, "challenges": entries}
        return Outcome(result, _human(url, answer.status, entries))
    run(ctx, json, action)


def _request(url: str, method: str | None, headers: list[str], data: str | None) -> RequestSpec:
    import httpx

    from mppcli.client.http import RequestSpec, parse_header_option
    from mppcli.errors import InputError

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InputError(f"bad URL {url!r}: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InputError(f"bad URL {url!r}: expected http(s)://host/path")
    body = None if data is None else _body(data)
    verb = (method or ("POST" if body is not None else "GET")).upper()
    return RequestSpec(verb, url, tuple(parse_header_option(h) for h in headers), body)


def _body(data: str) -> bytes:
    from mppcli.errors import InputError

    if not data.startswith("@"):
        return data.encode("utf-8")
    path = Path(data[1:]).expanduser()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def _fetch(env: Env, spec: RequestSpec) -> Answer:
    import asyncio

    from mppcli.client.http import Http

    async def fetch() -> Answer:
        async with Http(debug=env.debug_log) as http:
            return await http.send(spec)

    return asyncio.run(fetch())


def _challenges(answer: Answer) -> list[Challenge]:
    from mppcli.errors import MalformedError, ProtocolViolation
    from mppcli.protocol.auth import parse_www_authenticate

    values = answer.all("www-authenticate")
    if not values:
        raise ProtocolViolation("the server answered 402 without a WWW-Authenticate: Payment challenge")
    try:
        challenges = parse_www_authenticate(values)
    except MalformedError as exc:
        raise ProtocolViolation(f"malformed payment challenge: {exc}") from None
    for challenge in challenges:
        _check_session(challenge)
    return challenges


def _check_session(challenge: Challenge) -> None:
    """A solana/session request must satisfy the spec; other methods are shown as they are."""
    from mppcli.errors import MalformedError, ProtocolViolation
    from mppcli.protocol.session import parse_session_request

    if (challenge.method, challenge.intent) != ("solana", "session"):
        return
    try:
        parse_session_request(challenge.decoded_request())
    except MalformedError as exc:
        raise ProtocolViolation(f"challenge {challenge.id}: {exc}") from None


def _entry(challenge: Challenge, now: float) -> dict[str, Any]:
    from mppcli.protocol.auth import is_expired

    return {"id": challenge.id, "realm": challenge.realm, "method": challenge.method,
            "intent": challenge.intent, "expires": challenge.expires, "description": challenge.description,
            "request": challenge.decoded_request(), "expired": is_expired(challenge.expires, now)}


def _human(url: str, status: int, entries: list[dict[str, Any]]) -> str:
    if status != 402:
        return f"HTTP {status} from {url}: no payment challenge"
    lines = [f"HTTP 402 from {url}: {len(entries)} payment challenge{'s' if len(entries) != 1 else ''}"]
    for number, entry in enumerate(entries, 1):
        lines.extend(_entry_lines(number, entry))
    return "\n".join(lines)


def _entry_lines(number: int, entry: dict[str, Any]) -> list[str]:
    expiry = entry["expires"] or "never"
    if entry["expired"]:
        expiry += " (EXPIRED)"
    lines = [f"[{number}] {entry['method']}/{entry['intent']}  id={entry['id']}  realm={entry['realm']}",
             f"    expires      {expiry}"]
    if entry["description"]:
        lines.append(f"    description  {entry['description']}")
    if (entry["method"], entry["intent"]) == ("solana", "session"):
        return lines + _session_lines(entry["request"])
    import json

    return [*lines, f"    request      {json.dumps(entry['request'], sort_keys=True)}"]


def _session_lines(request: dict[str, Any]) -> list[str]:
    from mppcli.protocol.amounts import format_amount
    from mppcli.protocol.session import parse_session_request

    parsed = parse_session_request(request)
    details = parsed.method_details
    unit = parsed.unit_type or "unit"

    from mppcli.cli.units import symbol_of

    symbol = symbol_of(details.network, parsed.currency) if details.network else None

    def amount(value: int) -> str:
        if details.decimals is None:
            return f"{value} base units"
        return f"{format_amount(value, details.decimals, symbol)} ({value} base units)"

    lines = [f"    price        {amount(parsed.amount)} per {unit}",
             f"    currency     {parsed.currency}",
             f"    recipient    {parsed.recipient}",
             f"    network      {details.network}  program {details.channel_program}",
             f"    vouchers     signed by the {details.effective_voucher_signer}"]
    if parsed.suggested_deposit is not None or parsed.minimum_deposit is not None:
        deposits = [f"{label} {amount(value)}" for label, value in
                    (("suggested", parsed.suggested_deposit), ("minimum", parsed.minimum_deposit))
                    if value is not None]
        lines.append(f"    deposit      {', '.join(deposits)}")
    if details.grace_period_seconds is not None:
        lines.append(f"    grace        {details.grace_period_seconds} s")
    if details.idle_timeout_options_seconds:
        options = ", ".join(map(str, details.idle_timeout_options_seconds))
        lines.append(f"    idle close   {options} s (choices)")
    if details.channel_id:
        lines.append(f"    resumes      {details.channel_id} (idle close {details.idle_timeout_seconds} s)")
    lines.extend(f"    split        {split.recipient} {split.share_bps} bps" for split in details.splits)
    return lines
