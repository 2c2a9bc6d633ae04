"""`mpp serve`: the session server method on paid demo endpoints (see `mppcli.server.app`).

Settings come from flags, then `MPP_SERVE_<FLAG>` environment variables (e.g. `MPP_SERVE_PRICE`),
then the `[serve]` table of config.toml (keys are the flag names: `price = "0.02"`), then the
defaults. Starlette, uvicorn, solders and the ledger are imported only when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mppcli.cli.options import JsonOpt
from mppcli.cli.output import dumps
from mppcli.cli.runtime import run

if TYPE_CHECKING:
    from mppcli.cli.env import Env
    from mppcli.server.runner import Ready, ServeOptions


def _opt(*names: str, help: str, env: str | None = None, **extra: Any) -> Any:
    envvar = env or "MPP_SERVE_" + names[0].lstrip("-").replace("-", "_").upper()
    return typer.Option(*names, help=help, envvar=envvar, show_envvar=False, **extra)


def register(app: typer.Typer) -> None:
    """Add `mpp serve`."""
    app.command("serve")(serve_command)


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, _opt("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, _opt("--port", help="TCP port (0 picks a free one).")] = 8402,
    url: Annotated[
        str | None,
        _opt(
            "--url",
            "-u",
            "--rpc-url",
            env="MPP_SERVE_RPC_URL",
            help="Solana RPC URL or moniker; default: the embedded localnet ledger.",
        ),
    ] = None,
    network: Annotated[
        str | None,
        _opt("--network", help="localnet, devnet or mainnet (checked against the RPC's genesis hash)."),
    ] = None,
    operator_keypair: Annotated[
        Path | None,
        _opt(
            "--operator-keypair",
            help="Operator key (fee payer, rent payer); default: generated and kept under the state dir.",
        ),
    ] = None,
    operator_voucher_keypair: Annotated[
        Path | None,
        _opt(
            "--operator-voucher-keypair",
            help="Key signing the "
            "vouchers of operator-signed channels; default: "
            "generated and kept under the state dir.",
        ),
    ] = None,
    recipient: Annotated[
        str | None, _opt("--recipient", help="Payee public key (default: the operator).")
    ] = None,
    recipient_keypair: Annotated[
        Path | None,
        _opt(
            "--recipient-keypair",
            help="The payee's key, needed to sign settleAndSeal when the payee is not the operator.",
        ),
    ] = None,
    currency: Annotated[
        str | None,
        _opt(
            "--currency",
            help="Mint symbol or address (default: the localnet test stablecoin, USDC elsewhere).",
        ),
    ] = None,
    price: Annotated[str, _opt("--price", help="Price of one /paid request, in token units.")] = "0.01",
    chunk_price: Annotated[
        str, _opt("--chunk-price", help="Price of one /stream chunk, in token units.")
    ] = "0.001",
    voucher_signer: Annotated[str, _opt("--voucher-signer", help="client or operator.")] = "client",
    idle_timeout_options: Annotated[
        str,
        _opt(
            "--idle-timeout-options",
            help="Offered idle timeouts in seconds, comma-separated ('none' offers no choice).",
        ),
    ] = "30,600,86400",
    idle_timeout: Annotated[
        int, _opt("--idle-timeout", help="Idle timeout used when the client picks none.")
    ] = 600,
    grace_period: Annotated[int, _opt("--grace-period", help="Forced-close grace period in seconds.")] = 900,
    min_deposit: Annotated[
        str, _opt("--min-deposit", help="Smallest deposit accepted, in token units ('none' for no floor).")
    ] = "0.1",
    suggested_deposit: Annotated[
        str,
        _opt("--suggested-deposit", help="Deposit suggested to clients, in token units ('none' to omit)."),
    ] = "1",
    split: Annotated[
        list[str] | None, _opt("--split", help="Co-recipient share PUBKEY:BPS (repeatable).")
    ] = None,
    min_voucher_delta: Annotated[
        str | None, _opt("--min-voucher-delta", help="Smallest voucher increment, in token units.")
    ] = None,
    allow_mint: Annotated[
        list[str] | None, _opt("--allow-mint", help="Another mint to allow-list (repeatable).")
    ] = None,
    db: Annotated[
        Path | None, _opt("--db", help="SQLite database (default: <state dir>/server/server.db).")
    ] = None,
    db_sync: Annotated[
        str,
        _opt(
            "--db-sync",
            help="full: every commit survives a machine crash (fsync); "
            "normal: survives a process crash, faster.",
        ),
    ] = "full",
    secret_file: Annotated[
        Path | None,
        _opt(
            "--secret-file", help="Challenge HMAC secret (default: generated and kept under the state dir)."
        ),
    ] = None,
    ledger_dir: Annotated[
        Path | None, _opt("--ledger-dir", help="Embedded ledger's chain directory.")
    ] = None,
    ephemeral: Annotated[
        bool, _opt("--ephemeral", help="Throwaway embedded chain (and, without --db, a throwaway database).")
    ] = False,
    no_fee_payer: Annotated[
        bool, _opt("--no-fee-payer", help="Do not sponsor fees and rent (payers pay).")
    ] = False,
    realm: Annotated[
        str | None, _opt("--realm", help="Challenge realm (default: MPP_REALM or localhost).")
    ] = None,
    stream_credit: Annotated[
        int, _opt("--stream-credit", help="Metered chunks sent ahead of their commits.")
    ] = 1,
    stream_pause: Annotated[
        float, _opt("--stream-pause", help="Seconds a stream waits for a commit or top-up before ending.")
    ] = 20.0,
    stream_interval: Annotated[float, _opt("--stream-interval", help="Seconds between chunks.")] = 0.0,
    chain_check_ttl: Annotated[
        float,
        _opt(
            "--chain-check-ttl",
            help="Seconds an on-chain channel read may be "
            "reused for voucher checks 6-7 (0: read on every voucher).",
        ),
    ] = 0.0,
    reclaim_interval: Annotated[
        float, _opt("--reclaim-interval", help="Seconds between reclaim sweeps.", hidden=True)
    ] = 30.0,
    chain_watch_interval: Annotated[
        float,
        _opt(
            "--chain-watch-interval", help="Seconds between re-reads of open channels on chain.", hidden=True
        ),
    ] = 5.0,
    json: JsonOpt = False,
) -> None:
    """Run the session server method on paid demo endpoints (/paid, /stream, /health)."""
    values = _with_config_file(ctx, dict(locals()))

    def action(env: Env) -> None:
        from mppcli.server.runner import serve, stderr_log

        options = _options(values)
        serve(options, env.paths, lambda ready: _print_ready(env, ready), stderr_log)

    run(ctx, json, action)


def _with_config_file(ctx: typer.Context, values: dict[str, Any]) -> dict[str, Any]:
    """Fill options still at their default from config.toml's `[serve]` table."""
    from mppcli.cli.runtime import current_env
    from mppcli.cli.typer_private import ParameterSource

    table = _serve_table(current_env(ctx).paths.config_file)
    for name in list(values):
        key = name.replace("_", "-")
        if key in table and ctx.get_parameter_source(name) is ParameterSource.DEFAULT:
            values[name] = table[key]
    return values


def _serve_table(path: Path) -> dict[str, Any]:
    import tomllib

    from mppcli.errors import ConfigError

    if not path.exists():
        return {}
    try:
        table = tomllib.loads(path.read_text()).get("serve", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return table if isinstance(table, dict) else {}


def _options(v: dict[str, Any]) -> ServeOptions:
    from mppcli.config import resolve_rpc_url
    from mppcli.errors import UsageError
    from mppcli.protocol.session import VOUCHER_SIGNERS
    from mppcli.server.config import StreamPolicy
    from mppcli.server.runner import ServeOptions

    try:
        rpc_url = resolve_rpc_url(v["url"]) if v["url"] else None
        return ServeOptions(
            host=v["host"],
            port=int(v["port"]),
            rpc_url=rpc_url,
            network=v["network"],
            operator_keypair=_path(v["operator_keypair"]),
            recipient=v["recipient"],
            operator_voucher_keypair=_path(v["operator_voucher_keypair"]),
            recipient_keypair=_path(v["recipient_keypair"]),
            currency=v["currency"],
            price=str(v["price"]),
            chunk_price=str(v["chunk_price"]),
            voucher_signer=_choice(str(v["voucher_signer"]), VOUCHER_SIGNERS, "--voucher-signer"),
            idle_timeout_options=_idle_options(str(v["idle_timeout_options"])),
            default_idle_timeout=int(v["idle_timeout"]),
            grace_period=int(v["grace_period"]),
            min_deposit=_none(v["min_deposit"]),
            suggested_deposit=_none(v["suggested_deposit"]),
            splits=tuple(_split(s) for s in v["split"] or ()),
            min_voucher_delta=_none(v["min_voucher_delta"]),
            db=_path(v["db"]),
            db_sync=_choice(str(v["db_sync"]), ("full", "normal"), "--db-sync"),
            secret_file=_path(v["secret_file"]),
            ledger_dir=_path(v["ledger_dir"]),
            ephemeral=bool(v["ephemeral"]),
            fee_payer=not v["no_fee_payer"],
            realm=v["realm"],
            allowed_mints=tuple(v["allow_mint"] or ()),
            stream=StreamPolicy(
                credit=int(v["stream_credit"]),
                pause_seconds=float(v["stream_pause"]),
                interval=float(v["stream_interval"]),
            ),
            reclaim_interval=float(v["reclaim_interval"]),
            chain_watch_interval=float(v["chain_watch_interval"]),
            chain_check_ttl=float(v["chain_check_ttl"]),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _choice(value: str, choices: tuple[str, ...], flag: str) -> str:
    if value.lower() not in choices:
        raise ValueError(f"{flag} must be one of {', '.join(choices)}, got {value!r}")
    return value.lower()


def _path(value: Any) -> Path | None:
    return None if value in (None, "") else Path(value).expanduser()


def _none(value: Any) -> str | None:
    return None if value is None or str(value).strip().lower() in ("", "none") else str(value)


def _idle_options(text: str) -> tuple[int, ...] | None:
    if text.strip().lower() in ("", "none"):
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"--idle-timeout-options takes comma-separated seconds, got {text!r}") from None


def _split(text: str) -> tuple[str, int]:
    key, sep, bps = text.rpartition(":")
    if not sep or not bps.isdigit():
        raise ValueError(f"--split takes PUBKEY:BPS, got {text!r}")
    return key, int(bps)


def _print_ready(env: Env, ready: Ready) -> None:
    if env.json:
        print(dumps(ready.to_json()), file=env.stdout, flush=True)
        return
    print(
        f"mpp serve ready at {ready.url} ({ready.network}, mint {ready.mint}, recipient {ready.recipient}; "
        f"RPC {ready.rpc_url}); endpoints: {' '.join(ready.endpoints)}",
        file=env.stdout,
        flush=True,
    )
