"""How `mpp serve` is reached: plain HTTP on loopback, TLS anywhere, plain HTTP elsewhere only when
asked for.

A Payment credential is a bearer token (a voucher or a bearer proof anyone can replay until it is
used), so listening on a non-loopback interface without TLS exposes every payer's credentials to
the network. `--tls-cert/--tls-key` serve HTTPS; `--allow-insecure-http` accepts plain HTTP on a
public interface (behind a TLS-terminating proxy, say) and the server warns about it at start.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from mppcli.errors import ConfigError, UsageError
from mppcli.hosts import is_loopback


@dataclass(frozen=True)
class Transport:
    """The checked choice: TLS files (both or neither) and a warning to print, if any."""

    cert: Path | None
    key: Path | None
    warning: str | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.cert is not None else "http"


def choose_transport(host: str, cert: Path | None, key: Path | None, allow_insecure_http: bool) -> Transport:
    """Refuse an unsafe or half-configured listener before anything starts."""
    if (cert is None) != (key is None):
        raise UsageError("--tls-cert and --tls-key go together: pass both, or neither")
    if cert is not None and key is not None:
        _check_pair(cert, key)
        return Transport(cert, key)
    if is_loopback(host):
        return Transport(None, None)
    if not allow_insecure_http:
        raise UsageError(
            f"--host {host} is not a loopback address and no TLS is configured: payment credentials "
            "are bearer tokens and would cross the network in the clear",
            hint="Pass --tls-cert FILE --tls-key FILE, or --allow-insecure-http when a TLS proxy fronts "
            "this server.",
        )
    return Transport(
        None,
        None,
        f"WARNING: serving plain HTTP on {host}: payment credentials cross the network in the clear "
        "(--allow-insecure-http)",
    )


def _check_pair(cert: Path, key: Path) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot use --tls-cert {cert} with --tls-key {key}: {exc}") from None
