"""Start the worker processes of tests/state/workers.py from the repository root."""

from __future__ import annotations

import subprocess
import sys

from tests.support import REPO


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.state.workers", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_line(proc: subprocess.Popen[str], expected: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line == expected, f"worker said {line!r}; stderr: {proc.stderr.read() if proc.stderr else ''}"
