"""The root `mpp` command: global options, the Env, and the command groups.

Each command module exposes `register(app)` and imports only Typer at module level; heavy
libraries (solana, solders, httpx, keyring, starlette) are imported inside the commands, so
`mpp --help` and `mpp --version` stay fast.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from typer._click import exceptions as click_exceptions  # Typer bundles its own click

from mppcli import __version__
from mppcli.cli import (
    channels,
    completions,
    config_cmd,
    doctor,
    inspect_cmd,
    ledger_cmd,
    pay,
    serve,
    voucher,
    wallet,
)
from mppcli.cli.env import Env
from mppcli.cli.output import render_error
from mppcli.errors import UsageError

app = typer.Typer(
    name="mpp",
    help="Pay for, and sell, metered HTTP APIs with Solana payment channels (MPP session intent).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"mpp {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    json: Annotated[bool, typer.Option("--json", help="JSON output for any command.")] = False,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More detail on stderr (-vv: debug).")
    ] = 0,
    no_color: Annotated[bool, typer.Option("--no-color", help="Never use colour.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of unexpected errors.")] = False,
) -> None:
    """Global options, then a command."""
    ctx.obj = Env.detect(json=json, verbose=verbose, debug=debug, no_color=no_color)


for _module in (wallet, inspect_cmd, pay, channels, voucher, serve, ledger_cmd, doctor,
                completions, config_cmd):
    _module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: usage errors become E_USAGE (JSON envelope with --json), exit 2."""
    args = sys.argv[1:] if argv is None else argv
    try:
        code = app(args=args, prog_name="mpp", standalone_mode=False)
    except click_exceptions.UsageError as exc:
        env = Env.detect(json="--json" in args)
        if not env.json:
            exc.show(file=sys.stderr)
            sys.exit(2)
        render_error(env, UsageError(exc.format_message()))
        sys.exit(2)
    except click_exceptions.Abort:
        print("Aborted.", file=sys.stderr)
        sys.exit(130)
    except click_exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
