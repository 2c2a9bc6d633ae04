"""Fixtures for the interop tests: the reference implementation's python and its drivers."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.interop.refkit_runner import RefKit

DEFAULT_REF_PYTHON = Path("/work/ref/bin/python")
REF_VERSION = "0.10.0"


def _ref_python_path() -> Path | None:
    """MPP_REF_PYTHON when set (CI always sets it), else the development machine's venv."""
    configured = os.environ.get("MPP_REF_PYTHON")
    if configured:
        return Path(configured)
    return DEFAULT_REF_PYTHON if DEFAULT_REF_PYTHON.exists() else None


@pytest.fixture(scope="session")
def ref_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a venv holding solana-pay-kit 0.10.0 (skips when none is configured)."""
    path = _ref_python_path()
    if path is None:
        pytest.skip("no reference implementation: set MPP_REF_PYTHON to a python with "
                    f"solana-pay-kit=={REF_VERSION} starlette uvicorn (scripts/test creates .ref/)")
    if not path.exists():
        pytest.fail(f"MPP_REF_PYTHON={path} does not exist")
    probe = subprocess.run(
        [str(path), "-c", "import importlib.metadata as m; print(m.version('solana-pay-kit'))"],
        capture_output=True, text=True, cwd=tmp_path_factory.mktemp("ref-probe"), timeout=60, check=False)
    version = probe.stdout.strip()
    if probe.returncode != 0 or version != REF_VERSION:
        pytest.fail(f"{path} must have solana-pay-kit=={REF_VERSION}; "
                    f"found {version!r} {probe.stderr[-500:]}")
    return path


@pytest.fixture(scope="session")
def refkit(ref_python: Path, tmp_path_factory: pytest.TempPathFactory) -> RefKit:
    """Runs the drivers in tests/interop/refkit under the reference python."""
    return RefKit(ref_python, tmp_path_factory.mktemp("refkit-cwd"))


@pytest.fixture(scope="module")
def ledger() -> Iterator[Any]:
    """Our embedded ledger on a free loopback port, a throwaway chain (module-wide)."""
    from mppcli.ledger.runner import start_ledger

    running = start_ledger(None, 0)
    try:
        yield running
    finally:
        running.stop()
