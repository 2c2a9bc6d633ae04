"""Bringing `mpp serve` up: ledger, RPC, cluster pin, keys, mint, store, app, uvicorn, ready line.

Defaults that make the demo work with no flags: the embedded localnet ledger (in this process, on
a free port, its chain kept under the state dir), its test stablecoin, an operator key generated
and kept under the state dir (0600) and funded from the ledger's faucet, a secret generated and
kept likewise, and the database at `<state dir>/server/server.db`.

One cluster per server (spec: Server State Management): the RPC's genesis hash must be the one of
`--network` (mainnet and devnet are known; anything else is localnet), and the database remembers
the genesis hash it was created on and refuses to meter another cluster's channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from mppcli.chain.constants import PROGRAM_ID, TOKEN_PROGRAMS
from mppcli.chain.networks import network, network_for_genesis
from mppcli.chain.txcodec import compile_transaction, partial_sign
from mppcli.errors import ConfigError, InputError, RpcError
from mppcli.paths import Paths, ensure_private_dir
from mppcli.protocol.amounts import parse_amount
from mppcli.server.chainport import ChainPort
from mppcli.server.config import ServerConfig, StreamPolicy, validate_config
from mppcli.server.context import ServerContext
from mppcli.server.routes import RouteTable
from mppcli.server.store import Store, StoreLocked

if TYPE_CHECKING:
    from mppcli.server.events import EventLog
    from mppcli.server.gateway import GatewayConfig

OPERATOR_FUNDING = 10_000_000_000  # 10 SOL on localnet: fees and channel rent
MIN_OPERATOR_BALANCE = 1_000_000_000


@dataclass(frozen=True)
class ServeOptions:
    """`mpp serve`'s flags, unparsed amounts included (they need the mint's decimals)."""

    host: str = "127.0.0.1"
    port: int = 8402
    rpc_url: str | None = None
    network: str | None = None
    operator_keypair: Path | None = None
    operator_voucher_keypair: Path | None = None
    recipient: str | None = None
    recipient_keypair: Path | None = None
    currency: str | None = None
    price: str = "0.01"
    chunk_price: str = "0.001"
    voucher_signer: str = "client"
    idle_timeout_options: tuple[int, ...] | None = (30, 600, 86400)
    default_idle_timeout: int = 600
    grace_period: int = 900
    min_deposit: str | None = "0.1"
    suggested_deposit: str | None = "1"
    splits: tuple[tuple[str, int], ...] = ()
    min_voucher_delta: str | None = None
    db: Path | None = None
    db_sync: str = "full"
    secret_file: Path | None = None
    ledger_dir: Path | None = None
    ephemeral: bool = False
    fee_payer: bool = True
    realm: str | None = None
    allowed_mints: tuple[str, ...] = ()
    stream: StreamPolicy = field(default_factory=StreamPolicy)
    chain_check_ttl: float = 0.0
    idle_check_interval: float = 1.0
    reclaim_interval: float = 30.0
    chain_watch_interval: float = 5.0
    upstream: str | None = None  # the gateway (`mppcli.server.gateway`) when set
    routes: RouteTable = field(default_factory=lambda: RouteTable(()))
    upstream_headers: tuple[str, ...] = ()  # 'Name: value|@file|env:VAR', resolved at start
    upstream_timeout: float = 30.0
    log_json: bool = False  # payment events as JSON lines (`mppcli.server.events`)


@dataclass
class Ready:
    """What the ready line reports."""

    url: str
    rpc_url: str
    network: str
    mint: str
    recipient: str
    operator: str
    endpoints: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "rpcUrl": self.rpc_url,
            "network": self.network,
            "mint": self.mint,
            "recipient": self.recipient,
            "operator": self.operator,
            "endpoints": self.endpoints,
        }


def serve(
    options: ServeOptions, paths: Paths, on_ready: Callable[[Ready], None], log: Callable[[str], None]
) -> None:
    """Run until SIGINT/SIGTERM (blocking)."""
    server_dir = ensure_private_dir(paths.state_dir / "server")
    ledger = _start_ledger(options, server_dir) if options.rpc_url is None else None
    try:
        rpc_url = options.rpc_url if ledger is None else str(ledger.rpc_url)
        assert rpc_url is not None
        asyncio.run(_serve(options, paths, server_dir, rpc_url, ledger, on_ready, log))
    finally:
        if ledger is not None:
            ledger.stop()


def _start_ledger(options: ServeOptions, server_dir: Path) -> Any:
    from mppcli.ledger.runner import start_ledger

    directory = None if options.ephemeral else (options.ledger_dir or server_dir / "ledger")
    return start_ledger(directory, port=0)


async def _serve(
    options: ServeOptions,
    paths: Paths,
    server_dir: Path,
    rpc_url: str,
    ledger: Any,
    on_ready: Callable[[Ready], None],
    log: Callable[[str], None],
) -> None:
    from mppcli.rpc import Rpc

    rpc = Rpc(rpc_url)
    try:
        config, store = await build(options, server_dir, rpc, ledger, log)
        ctx = ServerContext(config, store, ChainPort(rpc, config.program_id, config.confirm_timeout), log=log)
        await _run_http(ctx, options, rpc_url, on_ready, _gateway(options, config.decimals))
    finally:
        await rpc.close()


async def build(
    options: ServeOptions, server_dir: Path, rpc: Any, ledger: Any, log: Callable[[str], None]
) -> tuple[ServerConfig, Store]:
    """Resolve every setting against the cluster; open the store pinned to that cluster."""
    genesis = await rpc.genesis_hash()
    net = _network_for(options.network, genesis, ledger is not None)
    operator = _keypair(options.operator_keypair, server_dir / "operator.json")
    voucher_key = _keypair(options.operator_voucher_keypair, server_dir / "operator-voucher.json")
    if net == "localnet":
        await _fund_operator(rpc, operator.pubkey(), log)
    mint, decimals, token_program = await _mint(options, rpc, net, ledger)
    recipient_signer = _recipient_signer(options, operator)
    config = _config(
        options,
        net,
        rpc.url,
        operator,
        recipient_signer,
        mint,
        decimals,
        token_program,
        _secret(options, server_dir),
        voucher_key,
    )
    try:
        validate_config(config)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    await _ensure_token_accounts(rpc, config, log)
    store = _open_store(options, server_dir, genesis, net)
    store.set_meta("decimals", str(config.decimals))  # `mpp serve channels` shows token units
    return config, store


def _network_for(wanted: str | None, genesis: str, embedded: bool) -> str:
    known = network_for_genesis(genesis)
    found = "localnet" if embedded or known is None else known.name
    if wanted is not None:
        network(wanted)  # a valid name
        if wanted != found:
            raise ConfigError(
                f"--network {wanted} but the RPC serves {found} (genesis hash {genesis})",
                hint="Point -u at a node of that cluster, or drop --network.",
            )
    return found


def _keypair(given: Path | None, path: Path) -> Keypair:
    """A keypair file the user named, else ours under the state dir (created 0600 on first use)."""
    from mppcli.wallet.keypair_file import read_keypair_file, write_keypair_file

    if given is not None:
        return read_keypair_file(given)
    if path.exists():
        return read_keypair_file(path)
    keypair = Keypair()
    write_keypair_file(path, keypair)
    return keypair


def _recipient_signer(options: ServeOptions, operator: Keypair) -> Keypair:
    from mppcli.wallet.keypair_file import read_keypair_file

    if options.recipient_keypair is not None:
        signer = read_keypair_file(options.recipient_keypair)
        if options.recipient is not None and str(signer.pubkey()) != options.recipient:
            raise ConfigError("--recipient-keypair does not hold the --recipient key")
        return signer
    if options.recipient is None or options.recipient == str(operator.pubkey()):
        return operator
    raise ConfigError(
        f"the recipient {options.recipient} must sign settleAndSeal at close",
        hint="Pass --recipient-keypair FILE with its key (or drop --recipient: the operator "
        "then receives the payments).",
    )


def _secret(options: ServeOptions, server_dir: Path) -> bytes:
    if options.secret_file is not None:
        try:
            secret = options.secret_file.read_bytes().strip()
        except OSError as exc:
            raise InputError(f"cannot read --secret-file {options.secret_file}: {exc.strerror}") from None
        if len(secret) < 16:
            raise InputError("the --secret-file must hold at least 16 bytes of secret")
        return secret
    path = server_dir / "secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_bytes().strip()


async def _fund_operator(rpc: Any, operator: Pubkey, log: Callable[[str], None]) -> None:
    if await rpc.balance(operator) >= MIN_OPERATOR_BALANCE:
        return
    signature = await rpc.request_airdrop(operator, OPERATOR_FUNDING)
    await rpc.confirm(signature, 30)
    log(f"funded operator {operator} with {OPERATOR_FUNDING / 1e9:g} SOL from the localnet faucet")


async def _mint(options: ServeOptions, rpc: Any, net: str, ledger: Any) -> tuple[str, int, str]:
    """(mint, decimals, token program), read from the mint account itself."""
    wanted = options.currency
    if wanted is None:
        if ledger is None and net == "localnet":
            info = await rpc.ledger_info()
            wanted = info["mint"] if info else None
        wanted = wanted or (ledger.mint if ledger is not None else "USDC")
    known = network(net).mint(wanted)
    address = str(known.address) if known is not None else wanted
    try:
        key = Pubkey.from_string(address)
    except ValueError:
        raise ConfigError(
            f"--currency {wanted!r} is neither a known symbol on {net} nor a mint address"
        ) from None
    found = await rpc.account(key)
    if found is None or found[0] not in TOKEN_PROGRAMS or len(found[2]) < 82 or not found[2][45]:
        raise ConfigError(f"{address} is not an initialized SPL Token or Token-2022 mint on {net}")
    return address, found[2][44], str(found[0])


def _config(
    options: ServeOptions,
    net: str,
    rpc_url: str,
    operator: Keypair,
    recipient_signer: Keypair,
    mint: str,
    decimals: int,
    token_program: str,
    secret: bytes,
    voucher_key: Keypair,
) -> ServerConfig:
    def amount(text: str | None, flag: str) -> int | None:
        if text is None:
            return None
        try:
            return parse_amount(text, decimals, flag)
        except ValueError as exc:
            raise ConfigError(f"{flag}: {exc}") from None

    return ServerConfig(
        network=net,
        rpc_url=rpc_url,
        program_id=str(PROGRAM_ID),
        operator=operator,
        recipient=str(recipient_signer.pubkey()),
        recipient_signer=recipient_signer,
        mint=mint,
        decimals=decimals,
        token_program=token_program,
        secret=secret,
        voucher_key=voucher_key,
        price=amount(options.price, "--price") or 0,
        chunk_price=amount(options.chunk_price, "--chunk-price") or 0,
        fee_payer=options.fee_payer,
        voucher_signer=options.voucher_signer,
        idle_timeout_options=options.idle_timeout_options,
        default_idle_timeout=options.default_idle_timeout,
        grace_period=options.grace_period,
        min_deposit=amount(options.min_deposit, "--min-deposit"),
        suggested_deposit=amount(options.suggested_deposit, "--suggested-deposit"),
        splits=options.splits,
        min_voucher_delta=amount(options.min_voucher_delta, "--min-voucher-delta"),
        realm=options.realm or _default_realm(),
        allowed_mints=frozenset(options.allowed_mints),
        stream=options.stream,
        chain_check_ttl=options.chain_check_ttl,
        idle_check_interval=options.idle_check_interval,
        reclaim_interval=options.reclaim_interval,
        chain_watch_interval=options.chain_watch_interval,
    )


def _default_realm() -> str:
    return os.environ.get("MPP_REALM") or "localhost"


async def _ensure_token_accounts(rpc: Any, config: ServerConfig, log: Callable[[str], None]) -> None:
    """Payouts to a missing token account are forfeited to the treasury (spec: Payout Forfeiture):
    create the recipient's and every split recipient's before any channel opens."""
    from solders.hash import Hash
    from spl.token.instructions import create_idempotent_associated_token_account

    from mppcli.chain.pda import associated_token_address

    mint, program = Pubkey.from_string(config.mint), Pubkey.from_string(config.token_program)
    owners = [Pubkey.from_string(config.recipient), *(Pubkey.from_string(r) for r, _ in config.splits)]
    missing = [o for o in owners if await rpc.account(associated_token_address(o, mint, program)) is None]
    if not missing:
        return
    payer = config.operator.pubkey()
    calls = [create_idempotent_associated_token_account(payer, o, mint, program) for o in missing]
    blockhash, _ = await rpc.latest_blockhash()
    tx = partial_sign(compile_transaction(calls, payer, Hash.from_string(str(blockhash))), [config.operator])
    try:
        await rpc.confirm(await rpc.send_transaction(bytes(tx)), 30)
    except RpcError as exc:
        raise ConfigError(
            f"cannot create the payout token accounts: {exc.message}",
            hint="The operator needs SOL for fees and rent.",
        ) from None
    log(f"created {len(missing)} payout token account(s)")


def _open_store(options: ServeOptions, server_dir: Path, genesis: str, net: str) -> Store:
    if options.ephemeral and options.db is None:
        return Store.open(None)  # a throwaway chain's channels die with it
    path = options.db or server_dir / "server.db"
    try:
        store = Store.open(path, options.db_sync.upper())
    except StoreLocked as exc:
        raise ConfigError(str(exc), hint="Stop the other `mpp serve`, or pass --db PATH.") from None
    pinned = store.meta("genesis_hash")
    if pinned is None:
        store.set_meta("genesis_hash", genesis)
        store.set_meta("network", net)
    elif pinned != genesis:
        store.close()
        raise ConfigError(
            f"the database {path} meters channels of another cluster (genesis {pinned}); "
            f"this RPC serves {genesis}",
            hint="One cluster per server: use another --db for this cluster.",
        )
    return store


def _gateway(options: ServeOptions, decimals: int) -> GatewayConfig | None:
    from mppcli.server.gateway import from_options

    if options.upstream is None:
        if options.routes.rules or options.upstream_headers:
            raise ConfigError("--route and --upstream-header need --upstream URL")
        return None
    if not options.routes.rules:
        raise ConfigError(
            "--upstream needs at least one --route (or [[serve.routes]] in config.toml)",
            hint="For example: --route 'POST /v1/*=0.01'.",
        )
    try:
        return from_options(
            options.upstream, options.routes, options.upstream_headers, options.upstream_timeout, decimals
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


async def _run_http(
    ctx: ServerContext,
    options: ServeOptions,
    rpc_url: str,
    on_ready: Callable[[Ready], None],
    gateway: GatewayConfig | None = None,
) -> None:
    import uvicorn

    from mppcli.server.app import create_app
    from mppcli.server.watchdog import Watchdog

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        watchdog = Watchdog(ctx)
        watchdog.start()
        try:
            yield
        finally:
            await watchdog.stop()

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # ours below: a clean exit 0 on SIGINT/SIGTERM
            yield

    sock = _bind(options.host, options.port)
    config = uvicorn.Config(
        create_app(ctx, lifespan, gateway, _event_log(ctx, options.log_json)),
        log_level="warning",
        access_log=False,
        h11_max_incomplete_event_size=64 * 1024,
        timeout_graceful_shutdown=3,
    )
    server = Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.handle_exit, sig, None)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if server.started:
        host, port = sock.getsockname()[:2]
        url = f"http://{host}:{port}"
        c = ctx.config
        on_ready(
            Ready(
                url,
                rpc_url,
                c.network,
                c.mint,
                c.recipient,
                c.operator_key,
                _endpoints(url, gateway),
            )
        )
    try:
        await task
    finally:
        ctx.store.close()
        ctx.log("stopped")


def _event_log(ctx: ServerContext, as_json: bool) -> EventLog:
    from mppcli.server.events import EventLog

    c = ctx.config
    if as_json:
        return EventLog(c.decimals, c.symbol, True, lambda line: print(line, file=sys.stderr, flush=True))
    return EventLog(c.decimals, c.symbol, False, ctx.log)


def _endpoints(url: str, gateway: GatewayConfig | None) -> list[str]:
    if gateway is None:
        return [f"{url}/paid", f"{url}/stream", f"{url}/health"]
    return [f"{r.label} -> {gateway.upstream}" for r in gateway.routes.rules] + [f"{url}/health"]


def _bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket's proto says TCP; with proto 0 every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(
        socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            hint="Pick another --port (0 picks a free one).",
        ) from None
    sock.listen(128)
    return sock


def stderr_log(line: str) -> None:
    print(f"mpp serve: {line}", file=sys.stderr, flush=True)
