"""`mpp localnet`: only the embedded ledger's JSON-RPC, on loopback, until Ctrl-C.

The chain lives in a directory (default: `ledger/` under the state dir; `--ledger-dir DIR`), so
a restart continues it; `--ephemeral` runs a throwaway chain. `--port 0` picks a free port. With
`--json` the ready line is `{"rpcUrl", "network", "genesisHash", "mint", "decimals",
"tokenProgram", "symbol", "ledgerDir"}`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mppcli.cli.options import JsonOpt
from mppcli.cli.runtime import run

if TYPE_CHECKING:
    from mppcli.cli.env import Env
    from mppcli.cli.output import Outcome
    from mppcli.ledger.core import LedgerInfo

HOST = "127.0.0.1"
MAX_SPEED = 10_000.0

PortOpt = Annotated[int, typer.Option("--port", "-p", min=0, max=65535,
                                      help="TCP port on 127.0.0.1 (0 picks a free one).")]
LedgerDirOpt = Annotated[Path | None, typer.Option(
    "--ledger-dir", help="Directory holding the chain (default: ledger/ under the state dir).")]
EphemeralOpt = Annotated[bool, typer.Option("--ephemeral", help="A throwaway chain, kept in memory only.")]
SpeedOpt = Annotated[float, typer.Option(
    "--speed", help="Run chain time this many times faster than the wall clock (for tests).")]


def register(app: typer.Typer) -> None:
    """Add `mpp localnet`."""
    app.command("localnet")(localnet_cmd)


def ledger_directory(env: Env, ledger_dir: Path | None, ephemeral: bool) -> Path | None:
    """Where the chain lives: `--ledger-dir`, else `ledger/` under the state dir; None if ephemeral."""
    from mppcli.errors import UsageError
    from mppcli.paths import ensure_private_dir

    if ephemeral and ledger_dir is not None:
        raise UsageError("--ledger-dir and --ephemeral exclude each other")
    if ephemeral:
        return None
    return ensure_private_dir(ledger_dir.expanduser() if ledger_dir else env.paths.state_dir / "ledger")


def ready_data(rpc_url: str, info: LedgerInfo, directory: Path | None) -> dict[str, object]:
    data: dict[str, object] = {"rpcUrl": rpc_url, **info.to_json()}
    data["ledgerDir"] = str(directory) if directory else None
    return data


def localnet_cmd(ctx: typer.Context, port: PortOpt = 8899, ledger_dir: LedgerDirOpt = None,
                 ephemeral: EphemeralOpt = False, speed: SpeedOpt = 1.0, json: JsonOpt = False) -> None:
    """Run the embedded localnet ledger (JSON-RPC on 127.0.0.1) until Ctrl-C."""
    def action(env: Env) -> Outcome | None:
        from mppcli.cli.jsontext import dumps
        from mppcli.cli.output import human_lines
        from mppcli.errors import UsageError
        from mppcli.ledger.runner import serve_foreground

        if not 0 < speed <= MAX_SPEED:
            raise UsageError(f"--speed must be above 0 and at most {MAX_SPEED:g}")
        directory = ledger_directory(env, ledger_dir, ephemeral)

        def ready(rpc_url: str, info: LedgerInfo) -> None:
            data = ready_data(rpc_url, info, directory)
            print(dumps(data) if env.json else human_lines(data), file=env.stdout, flush=True)
            env.info("localnet ledger running; Ctrl-C stops it")

        serve_foreground(directory, port, HOST, speed, ready)
        env.info("localnet ledger stopped")
        return None
    run(ctx, json, action)
