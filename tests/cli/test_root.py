"""The root command: version, help, usage errors, and the light import graph."""

from __future__ import annotations

import subprocess
import sys

from tests.support import mpp


def test_version_prints_the_package_version() -> None:
    from mppcli import __version__

    run = mpp("--version")
    assert run.exit_code == 0, run
    assert run.stdout.strip() == f"mpp {__version__}"


def test_usage_error_exits_2_and_json_envelope() -> None:
    run = mpp("--json", "no-such-command")
    assert run.exit_code == 2, run
    assert run.json["ok"] is False
    assert run.json["error"]["code"] == "E_USAGE"


def test_importing_the_cli_loads_no_heavy_library() -> None:
    code = (
        "import sys, mppcli.cli.app\n"
        "heavy = [m for m in ('solana', 'solders', 'keyring', 'starlette', 'httpx', 'uvicorn')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
