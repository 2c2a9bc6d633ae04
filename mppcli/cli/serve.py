"""`mpp serve`: the session server method on paid demo endpoints (see `mppcli.server.app`).

Settings come from flags, then `MPP_SERVE_<FLAG>` environment variables (e.g. `MPP_SERVE_PRICE`),
then the `[serve]` table of config.toml (keys are the flag names, `-` or `_`: `price = "0.02"`), then the
defaults. Starlette, uvicorn, solders and the ledger are imported only when the command runs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mppcli.cli.jsontext import dumps
from mppcli.cli.options import JsonOpt
from mppcli.cli.output import Outcome
from mppcli.cli.runtime import run

if TYPE_CHECKING:
    from mppcli.cli.env import Env
    from mppcli.server.ledger_view import ServerChannels
    from mppcli.server.routes import RouteTable
    from mppcli.server.runner import Ready, ServeOptions


def _opt(*names: str, help: str, env: str | None = None, **extra: Any) -> Any:
    envvar = env or "MPP_SERVE_" + names[0].lstrip("-").replace("-", "_").upper()
    return typer.Option(*names, help=help, envvar=envvar, show_envvar=False, **extra)


def register(app: typer.Typer) -> None:
    """Add `mpp serve` (and `mpp serve channels`)."""
    serve_app = typer.Typer(name="serve", invoke_without_command=True)
    serve_app.callback()(serve_command)
    serve_app.command("channels")(channels_command)
    app.add_typer(serve_app)


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, _opt("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, _opt("--port", help="TCP port (0 picks a free one).")] = 8402,
    tls_cert: Annotated[
        Path | None, _opt("--tls-cert", help="Serve HTTPS with this PEM certificate.")
    ] = None,
    tls_key: Annotated[Path | None, _opt("--tls-key", help="The PEM private key of --tls-cert.")] = None,
    allow_insecure_http: Annotated[
        bool,
        _opt("--allow-insecure-http", help="Allow plain HTTP on a non-loopback --host (warns)."),
    ] = False,
    rpc_port: Annotated[
        int,
        _opt(
            "--rpc-port",
            help="The embedded ledger's RPC port on 127.0.0.1 (the localnet default payers use); "
            "when it is taken, a free port is used and said so. 0: a free port.",
        ),
    ] = 8899,
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
        str,
        _opt(
            "--stream-credit",
            help="Credit window of a metered stream: most delivered ahead of its vouchers, "
            "in token units, or Nx for N chunks.",
        ),
    ] = "512x",
    stream_pause: Annotated[
        float, _opt("--stream-pause", help="Seconds a stream waits for a commit or top-up before ending.")
    ] = 20.0,
    stream_interval: Annotated[float, _opt("--stream-interval", help="Seconds between chunks.")] = 0.0,
    clock_skew: Annotated[
        int, _opt("--clock-skew", help="Seconds of clock skew tolerated when checking voucher expiry.")
    ] = 30,
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
    upstream: Annotated[
        str | None, _opt("--upstream", help="Sell this HTTP API: forward paid --route requests to URL.")
    ] = None,
    route: Annotated[
        list[str] | None,
        _opt("--route", help="Sold route 'METHOD PATH=PRICE[/event]' (repeatable; PATH may end in *)."),
    ] = None,
    upstream_header: Annotated[
        list[str] | None,
        _opt("--upstream-header", help="'Name: value|@FILE|env:VAR' added upstream (repeatable)."),
    ] = None,
    upstream_timeout: Annotated[
        float, _opt("--upstream-timeout", help="Seconds to wait for the upstream (then 504, not charged).")
    ] = 30.0,
    log_json: Annotated[
        bool, _opt("--log-json", help="Payment events on stderr as JSON lines instead of text.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Run the session server method on paid demo endpoints (/paid, /stream, /health), or with
    --upstream in front of your own HTTP API."""
    if ctx.invoked_subcommand is not None:
        return
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
    values["config_routes"] = table.get("routes")
    for name in list(values):
        key = next((k for k in (name.replace("_", "-"), name) if k in table), None)
        if key is not None and ctx.get_parameter_source(name) is ParameterSource.DEFAULT:
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
        # The default currency (the test stablecoin, or USDC) has 6 decimals: check exactly now.
        decimals = 6 if v["currency"] is None else 9
        for flag in ("price", "chunk_price", "min_deposit", "suggested_deposit", "min_voucher_delta"):
            _amount_syntax(v[flag], "--" + flag.replace("_", "-"), decimals)
        return ServeOptions(
            host=v["host"],
            port=_port(v["port"], "--port"),
            rpc_port=_port(v["rpc_port"], "--rpc-port"),
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
                credit=str(v["stream_credit"]),
                pause_seconds=float(v["stream_pause"]),
                interval=float(v["stream_interval"]),
            ),
            reclaim_interval=float(v["reclaim_interval"]),
            chain_watch_interval=float(v["chain_watch_interval"]),
            chain_check_ttl=float(v["chain_check_ttl"]),
            clock_skew=int(v["clock_skew"]),
            tls_cert=_path(v["tls_cert"]),
            tls_key=_path(v["tls_key"]),
            allow_insecure_http=bool(v["allow_insecure_http"]),
            upstream=v["upstream"],
            routes=_routes(v["route"], v.get("config_routes")),
            upstream_headers=tuple(v["upstream_header"] or ()),
            upstream_timeout=float(v["upstream_timeout"]),
            log_json=bool(v["log_json"]),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _port(value: Any, flag: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{flag} takes a TCP port number, got {value!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{flag} {port} is not a TCP port: use 1-65535, or 0 for a free one")
    return port


def _amount_syntax(value: Any, flag: str, decimals: int) -> None:
    """A token amount must at least be a plain decimal; its decimal places are checked against
    the mint once it is known (still before anything is funded)."""
    from mppcli.errors import MalformedError
    from mppcli.protocol.amounts import parse_amount

    if _none(value) is None:
        return
    try:
        parse_amount(str(value).strip(), decimals, flag)
    except MalformedError as exc:
        raise ValueError(str(exc)) from None


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


def _routes(flags: list[str] | None, table: Any) -> RouteTable:
    """--route flags, else config.toml's `[[serve.routes]]` (flags replace the file's table)."""
    from mppcli.server.routes import RouteTable, parse_route, rule_from_table

    if flags:
        return RouteTable.of(parse_route(text) for text in flags)
    if table is None:
        return RouteTable(())
    if not isinstance(table, list):
        raise ValueError("[serve] routes must be an array of tables: [[serve.routes]]")
    return RouteTable.of(rule_from_table(entry) for entry in table)


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


def channels_command(
    ctx: typer.Context,
    db: Annotated[
        Path | None, typer.Option("--db", help="Server database (default: <state dir>/server/server.db).")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """List the server's channels from its database (works while `mpp serve` runs)."""

    def action(env: Env) -> Outcome:
        from mppcli.errors import InputError
        from mppcli.server.ledger_view import entry, read_channels

        path = db.expanduser() if db is not None else env.paths.state_dir / "server" / "server.db"
        try:
            found = read_channels(path)
        except ValueError as exc:
            raise InputError(str(exc), hint="Pass --db PATH (what `mpp serve --db` was given).") from None
        listed = [entry(c) for c in found.channels]
        data = {"database": str(path), "network": found.network, "channels": listed}
        return Outcome(data, _channels_text(found))

    run(ctx, json, action)


def _channels_text(found: ServerChannels) -> str:
    from mppcli.protocol.amounts import format_amount
    from mppcli.server.ledger_view import idle_deadline

    if not found.channels:
        return "no channels"

    def units(value: int) -> str:
        return format_amount(value, found.decimals) if found.decimals is not None else str(value)

    rows = [("CHANNEL", "STATUS", "DEPOSIT", "ACCEPTED", "SPENT", "SETTLED", "IDLE DEADLINE")]
    for c in found.channels:
        deadline = idle_deadline(c)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(deadline)) if deadline is not None else "-"
        amounts = (units(c.deposit), units(c.accepted), units(c.spent), units(c.settled))
        rows.append((c.channel_id, c.status.value, *amounts, when))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)
    return "\n".join(lines)
