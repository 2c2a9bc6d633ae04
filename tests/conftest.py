"""Fixtures for every test: an isolated MPP_HOME, and a clean mpp environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def mpp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh MPP_HOME for this test (config, state, data and the keyring namespace)."""
    home = tmp_path / "mpp-home"
    home.mkdir()
    monkeypatch.setenv("MPP_HOME", str(home))
    for name in ("MPP_WALLET", "MPP_RPC_URL", "MPP_MAX_SPEND"):
        monkeypatch.delenv(name, raising=False)
    yield home
