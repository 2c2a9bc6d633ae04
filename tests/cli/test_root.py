"""The root command: version, help, usage errors, and the light import graph."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mppcli.cli.app import wants_version
from tests.support import mpp

# What `mpp --help` and `mpp --version` must never load: each costs tens of milliseconds.
HEAVY = ("solana", "solders", "httpx", "httpx2", "keyring", "starlette", "uvicorn", "rich")


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
        "import sys, mppcli.cli.app, mppcli.cli.root\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_version_is_answered_before_typer_is_imported() -> None:
    code = (
        "import sys\n"
        "from mppcli.cli.app import main\n"
        "try:\n    main(['--json', '-v', '--version'])\n"
        "except SystemExit as exc:\n    code = exc.code\n"
        "print(code, ','.join(m for m in ('typer', 'click', 'mppcli.cli.root') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    from mppcli import __version__

    assert out.stdout.splitlines() == [f"mpp {__version__}", "0 "]


@pytest.mark.parametrize(("args", "expected"), [
    (["--version"], True), (["--json", "--version"], True), (["-v", "--no-color", "--version"], True),
    (["config", "--version"], False), (["--url", "--version"], False), ([], False), (["--help"], False),
])
def test_only_root_flags_before_version_take_the_fast_path(args: list[str], expected: bool) -> None:
    assert wants_version(args) is expected


def test_version_after_a_command_is_a_usage_error() -> None:
    run = mpp("--json", "config", "--version")
    assert run.exit_code == 2, run
    assert run.json["error"]["code"] == "E_USAGE"


HELP_WALK = """
import contextlib, io, json, sys
import typer.main
from mppcli.cli.app import main
from mppcli.cli.root import app

def walk(command, prefix):
    yield prefix
    for name, sub in getattr(command, "commands", {}).items():
        yield from walk(sub, [*prefix, name])

results = []
for path in walk(typer.main.get_command(app), []):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main([*path, "--help"])
            code = None
        except SystemExit as exc:
            code = exc.code
    results.append({"path": " ".join(path), "code": code, "usage": out.getvalue().startswith("Usage: mpp"),
                    "heavy": [m for m in HEAVY if m in sys.modules]})
print(json.dumps(results))
"""


def test_help_of_every_group_and_command_loads_no_heavy_library() -> None:
    code = f"HEAVY = {HEAVY!r}\n{HELP_WALK}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    results = json.loads(out.stdout)
    assert {"", "config", "config set", "doctor", "completions"} <= {r["path"] for r in results}
    for result in results:
        assert (result["code"], result["usage"]) == (0, True), result
        assert result["heavy"] == [], f"`mpp {result['path']} --help` loaded {result['heavy']}"
