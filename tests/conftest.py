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

# Knobs of the test runner itself (scripts/test, scripts/with-keyring, the crash tests), kept.
RUNNER_KNOBS = frozenset({"MPP_REF_PYTHON", "MPP_KEYRING_READY", "MPP_CRASH_ROUNDS", "MPP_CRASH_SEED",
                          "MPP_TEST_SHARED"})
# Variables outside MPP_* that change what the CLI prints (colour, width, prompting).
OUTPUT_VARIABLES = ("NO_COLOR", "FORCE_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "COLUMNS", "LINES", "CI")


def leaked_variables(environ: dict[str, str] | os._Environ[str]) -> list[str]:
    """The developer's own settings that would change what `mpp` does under test."""
    return sorted(name for name in environ
                  if (name.startswith(("MPP_", "_MPP_")) and name not in RUNNER_KNOBS)
                  or name in OUTPUT_VARIABLES or (name == "TERM" and environ[name] == "dumb"))


# Read before `pytest_configure` clears `CI` (which `mpp` itself reads to decide on prompting).
UNDER_CI = os.environ.get("CI", "").lower() == "true"


def pytest_configure(config: pytest.Config) -> None:
    """Before any fixture or subprocess: a developer's `MPP_OUTPUT=json` (etc.) must not leak in."""
    for name in leaked_variables(os.environ):
        del os.environ[name]


@pytest.fixture
def mpp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh MPP_HOME for this test (config, state, data and the keyring namespace)."""
    home = tmp_path / "mpp-home"
    home.mkdir()
    monkeypatch.setenv("MPP_HOME", str(home))
    yield home


def pytest_sessionstart(session: pytest.Session) -> None:
    from tests.support import REFERENCE

    if UNDER_CI and not REFERENCE.is_dir():
        raise pytest.UsageError(f"CI=true but {REFERENCE} is missing: the tests that need the shared "
                                "reference vectors would be skipped. Check out ../shared next to the "
                                "repository (or point MPP_TEST_SHARED at it).")
