"""The test run starts from a clean environment: nothing of the developer's `mpp` setup leaks in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import leaked_variables


def test_no_mpp_setting_of_the_developer_reaches_the_tests() -> None:
    assert leaked_variables(os.environ) == []


def test_a_developers_mpp_output_json_is_cleared_before_the_tests_run(tmp_path: Path) -> None:
    """Run a tiny pytest session with MPP_OUTPUT=json and NO_COLOR set, as a developer might."""
    probe = tmp_path / "test_probe.py"
    probe.write_text("import os\n\ndef test_probe():\n"
                     "    assert 'MPP_OUTPUT' not in os.environ and 'NO_COLOR' not in os.environ\n")
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "MPP_OUTPUT": "json", "NO_COLOR": "1", "MPP_WALLET": "mine"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
         "--rootdir", str(tmp_path), "-c", "/dev/null", str(probe)],
        env=env, cwd=root, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
