"""The HTTP seam of the payer: one httpx client, foreign errors mapped once, secrets redacted.

Flows never import httpx errors: everything that can go wrong on the wire becomes `NetworkError`
(exit 3) here (STYLE item 6). Debug logs show headers with `Authorization` and `Payment-*`
credentials cut down to their scheme, because `-vv` output ends up in bug reports (NOTES).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mppcli.client.answer import Answer, header_map
from mppcli.errors import InputError, NetworkError

if TYPE_CHECKING:
    import httpx

    from mppcli.client.keepalive import KeepAlivePoster

DEFAULT_TIMEOUT = 60.0
CONNECT_TIMEOUT = 10.0
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


@dataclass(frozen=True)
class RequestSpec:
    """A request as the user described it (curl-like), re-sent unchanged with each credential."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None

    def with_header(self, name: str, value: str) -> RequestSpec:
        kept = tuple((k, v) for k, v in self.headers if k.lower() != name.lower())
        return replace(self, headers=(*kept, (name, value)))


def redact(name: str, value: str) -> str:
    """A header value safe for logs: credentials keep only their scheme."""
    if name.lower() in SECRET_HEADERS:
        scheme = value.split(" ", 1)[0] if " " in value else ""
        return f"{scheme} <redacted>".strip()
    return value


def parse_header_option(text: str) -> tuple[str, str]:
    """`-H 'Name: value'` as curl takes it."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name or not _is_token(name):
        raise InputError(f"bad header {text!r}", hint="Write headers as -H 'Name: value'.")
    if not all(c == "\t" or " " <= c <= "~" for c in value):
        # HTTP/1.1 sends header bytes as-is and httpx encodes them as ASCII: anything else would
        # fail deep in the send (or smuggle a line break), so it is the user's to fix here
        raise InputError(f"header {name} has a value that is not printable ASCII: {redact(name, value)!r}",
                         hint=f"Encode it first (e.g. percent-encode it): -H '{name}: <ascii value>'.")
    return name, value


_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _is_token(name: str) -> bool:
    """An RFC 9110 field name (a token): what a server can read as one header."""
    return all(c in _TOKEN_CHARS for c in name)


def collect_headers(response: httpx.Response) -> dict[str, tuple[str, ...]]:
    return header_map(response.headers.multi_items())


class Http:
    """The payer's HTTP client (async). Use as `async with Http(...) as http:`."""

    def __init__(self, *, debug: Callable[[str], None] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, timeout: float = DEFAULT_TIMEOUT):
        import httpx

        self._debug = debug or (lambda _message: None)
        self._client = httpx.AsyncClient(
            transport=transport, follow_redirects=False,
            timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT),
            headers={"user-agent": _user_agent()})
        self._injected = transport is not None
        self._timeout = timeout
        self._commits: KeepAlivePoster | None = None  # made at the first commit

    async def __aenter__(self) -> Http:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._commits is not None:
            await self._commits.aclose()
        await self._client.aclose()

    @property
    def client(self) -> httpx.AsyncClient:
        return self._client

    async def send(self, spec: RequestSpec) -> Answer:
        """Send `spec` and read the whole answer; any transport failure is NetworkError."""
        async with self.stream(spec) as response:
            body = await _read(response)
            return Answer(response.status_code, collect_headers(response), body,
                          response.http_version, response.reason_phrase)

    async def post_json(self, url: str, payload: object) -> Answer:
        import json

        body = json.dumps(payload, separators=(",", ":")).encode()
        return await self.send(RequestSpec("POST", url, (("content-type", "application/json"),), body))

    async def post_commit(self, url: str, payload: object) -> Answer:
        """`post_json` for a metered stream's commits: over a kept-open connection
        (`mppcli.client.keepalive`, a fifth of httpx's CPU per POST), unless a proxy is configured
        in the environment or a transport was injected, where httpx goes as it would."""
        import json

        if self._injected or _proxy_configured():
            return await self.post_json(url, payload)
        if self._commits is None:
            from mppcli.client.keepalive import KeepAlivePoster

            self._commits = KeepAlivePoster(_user_agent(), self._debug, self._timeout, CONNECT_TIMEOUT)
        return await self._commits.post(url, json.dumps(payload, separators=(",", ":")).encode())

    @asynccontextmanager
    async def stream(self, spec: RequestSpec, *, read_timeout: float | None = DEFAULT_TIMEOUT
                     ) -> AsyncIterator[httpx.Response]:
        """An open streaming response (SSE passes read_timeout=None: a quiet stream is not dead)."""
        import httpx

        self._log(spec)
        timeout = httpx.Timeout(DEFAULT_TIMEOUT, connect=CONNECT_TIMEOUT, read=read_timeout)
        request = self._client.build_request(spec.method, spec.url, headers=list(spec.headers),
                                             content=spec.body, timeout=timeout)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise _network_error(spec.url, exc) from exc
        try:
            self._debug(f"< {response.status_code} {response.reason_phrase}")
            yield response
        except httpx.HTTPError as exc:
            raise _network_error(spec.url, exc) from exc
        finally:
            await response.aclose()

    def _log(self, spec: RequestSpec) -> None:
        self._debug(f"> {spec.method} {spec.url}")
        for name, value in spec.headers:
            self._debug(f"> {name}: {redact(name, value)}")


async def _read(response: httpx.Response) -> bytes:
    import httpx

    try:
        return await response.aread()
    except httpx.HTTPError as exc:
        raise _network_error(str(response.request.url), exc) from exc


def _network_error(url: str, exc: Exception) -> NetworkError:
    kind = type(exc).__name__
    detail = str(exc) or kind
    return NetworkError(f"{url}: {detail} ({kind})")


def _proxy_configured() -> bool:
    """Whether httpx (which trusts the environment) would look for a proxy: any `*_proxy` set."""
    import os

    return any(os.environ.get(name) for name in PROXY_VARIABLES)


def _user_agent() -> str:
    from mppcli import __version__

    return f"mpp/{__version__}"


def request_spec(url: str, method: str | None, headers: list[str], data: str | None,
                 stdin: Callable[[], bytes] | None = None) -> RequestSpec:
    """curl's request options: `-X`, `-H 'K: V'`, `-d DATA` / `-d @FILE` / `-d @-` (POST by default)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"bad URL {url!r}: expected http(s)://host/path")
    body = None if data is None else _body(data, stdin)
    verb = (method or ("POST" if body is not None else "GET")).upper()
    return RequestSpec(verb, url, tuple(parse_header_option(h) for h in headers), body)


def _body(data: str, stdin: Callable[[], bytes] | None) -> bytes:
    from pathlib import Path

    if not data.startswith("@"):
        return data.encode("utf-8")
    if data == "@-":
        import sys

        return stdin() if stdin is not None else sys.stdin.buffer.read()
    path = Path(data[1:]).expanduser()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
