"""Fixtures for every test: an isolated MPP_HOME, and a clean mpp environment.

Tests that need ../shared (the reference vectors) skip quietly when it is absent, as in a user's
checkout; under CI (`CI=true`) a missing ../shared/reference fails the run instead, so a broken
CI checkout cannot pass by skipping them all.
"""

from __future__ import annotations

import os
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


def pytest_sessionstart(session: pytest.Session) -> None:
    from tests.support import REFERENCE

    if os.environ.get("CI", "").lower() == "true" and not REFERENCE.is_dir():
        raise pytest.UsageError(f"CI=true but {REFERENCE} is missing: the tests that need the shared "
                                "reference vectors would be skipped. Check out ../shared next to the "
                                "repository (or point MPP_TEST_SHARED at it).")
