"""Whether a host name is this machine: the one rule for the payer (credentials go over plain
http:// only to loopback) and the server (a listener on anything else needs TLS)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """`localhost` and its subdomains (RFC 6761 reserves them for loopback), with or without the
    trailing dot, and loopback addresses (IPv6 with or without URL brackets)."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False
