"""`mppcli.hosts.is_loopback`: the payer's and the server's one rule for "this machine"."""

from __future__ import annotations

import pytest

from mppcli.hosts import is_loopback


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "localhost.", "api.localhost", "127.0.0.1",
                                  "127.8.9.10", "::1", "[::1]"])
def test_this_machine(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["", "example.com", "localhost.example.com", "mylocalhost", "0.0.0.0",
                                  "192.0.2.10", "::", "[2001:db8::1]", "10.0.0.1"])
def test_not_this_machine(host: str) -> None:
    assert not is_loopback(host)
