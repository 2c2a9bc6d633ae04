"""The `real_keyring` fixture: tests that need the OS keyring run against the real one.

Inside CI (scripts/with-keyring sets MPP_KEYRING_READY, or PYTHON_KEYRING_BACKEND names the
Secret Service) a keyring that does not work is a failure; elsewhere those tests are skipped
with the command that runs them.
"""

from __future__ import annotations

import os

import pytest

from mppcli.errors import KeyringError
from mppcli.wallet.secret_store import SecretStore

RUN_HINT = "run them with scripts/with-keyring (a private Secret Service)"


def keyring_expected() -> bool:
    return bool(os.environ.get("MPP_KEYRING_READY")) or "SecretService" in os.environ.get(
        "PYTHON_KEYRING_BACKEND", "")


@pytest.fixture
def real_keyring() -> None:
    try:
        SecretStore("mppcli-test-probe", timeout=10).get("probe")
    except KeyringError as exc:
        if keyring_expected():
            pytest.fail(f"the OS keyring should work here but does not: {exc.message}")
        pytest.skip(f"no OS keyring ({exc.message}); {RUN_HINT}")
