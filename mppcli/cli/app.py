"""The `mpp` console entry point: `main()`, with the command tree (`app`) built on first use.

`mpp --version` runs on every shell prompt of some users and in scripts, so `main()` answers it
before Typer is imported (≈ 20 ms instead of the ≈ 120 ms the command tree costs). Everything else
goes to the Typer app in `mppcli.cli.root`; `from mppcli.cli.app import app` still works (module
`__getattr__`, PEP 562).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from mppcli import __version__
from mppcli.cli.completion_var import COMPLETE_VAR
from mppcli.errors import ExitStatus

# The root options that take no value, so `mpp --json -v --version` is still a version request.
_FLAG_OPTIONS = frozenset({"--json", "--verbose", "-v", "-vv", "-vvv", "--no-color", "--debug"})


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: usage errors become E_USAGE (JSON envelope with --json), exit 2."""
    args = sys.argv[1:] if argv is None else argv
    if COMPLETE_VAR not in os.environ and wants_version(args):
        print(f"mpp {__version__}")
        sys.exit(ExitStatus.OK)
    sys.exit(_run_app(args))


def wants_version(args: list[str]) -> bool:
    """True when the root options alone (before any command) include --version."""
    for arg in args:
        if arg == "--version":
            return True
        if arg not in _FLAG_OPTIONS:
            return False
    return False


def _run_app(args: list[str]) -> int:
    import typer

    from mppcli.cli import typer_private as click_exceptions
    from mppcli.cli.env import Env
    from mppcli.cli.output import render_error
    from mppcli.cli.root import app, output_is_json
    from mppcli.errors import UsageError

    if COMPLETE_VAR in os.environ:
        from mppcli.cli.typer_private import completion_init

        completion_init()  # registers bash/zsh/fish/powershell; add_completion=False skips it
    try:
        from typer.main import get_command

        from mppcli.cli.argv import normalise

        command = get_command(app)
        code = command(args=normalise(args, command), prog_name="mpp", standalone_mode=False)
    except click_exceptions.UsageError as exc:
        env = Env.detect(json="--json" in args or output_is_json())
        if not env.json:
            exc.show(file=sys.stderr)
            return ExitStatus.USAGE
        render_error(env, UsageError(exc.format_message()))
        return ExitStatus.USAGE
    except typer.Abort:
        print("Aborted.", file=sys.stderr)
        return ExitStatus.INTERRUPTED
    except typer.Exit as exc:
        return exc.exit_code
    return code if isinstance(code, int) else 0


def __getattr__(name: str) -> Any:
    if name == "app":
        from mppcli.cli.root import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
