"""#14 item 22: ../shared-dependent tests skip outside CI, and a missing reference fails a CI run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import REPO

TARGET = "tests/protocol/test_jcs.py::test_shared_canonical_bytes_vectors"


def _pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "CI"}
    full.update(env, MPP_TEST_SHARED=str(tmp_path / "absent"))
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TARGET], cwd=REPO,
                          env=full, capture_output=True, text=True, timeout=120, check=False)


def test_without_ci_a_missing_shared_dir_skips(tmp_path: Path) -> None:
    run = _pytest(tmp_path)
    assert run.returncode == 0 and "1 skipped" in run.stdout, run.stdout + run.stderr


def test_under_ci_a_missing_reference_fails_the_run(tmp_path: Path) -> None:
    run = _pytest(tmp_path, CI="true")
    assert run.returncode != 0, run.stdout + run.stderr
    assert "CI=true but" in run.stdout + run.stderr and "reference is missing" in run.stdout + run.stderr
