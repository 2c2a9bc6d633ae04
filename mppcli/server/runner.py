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
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from mppcli.chain.constants import PROGRAM_ID, TOKEN_PROGRAMS
from mppcli.chain.endpoints import LOCALNET_RPC_PORT
from mppcli.chain.networks import network, network_for_genesis
from mppcli.chain.txcodec import compile_transaction, partial_sign
from mppcli.errors import ConfigError, InputError, RpcError, UsageError
from mppcli.paths import Paths, ensure_private_dir
from mppcli.protocol.amounts import parse_amount
from mppcli.server.chainport import ChainPort
from mppcli.server.clock import server_clock
from mppcli.server.config import DEFAULT_CLOCK_SKEW, ServerConfig, StreamPolicy, validate_config
from mppcli.server.context import ServerContext
from mppcli.server.events import EventLog, stderr_line
from mppcli.server.routes import RouteTable
from mppcli.server.store import Store, StoreLocked
from mppcli.server.transport import Transport, choose_transport

if TYPE_CHECKING:
    from mppcli.server.gateway import GatewayConfig

OPERATOR_FUNDING = 10_000_000_000  # 10 SOL on localnet: fees and channel rent
MIN_OPERATOR_BALANCE = 1_000_000_000
SERVE_FLAG_HINT = ("Fix the flag it names (or its MPP_SERVE_<FLAG> variable, or the [serve] table of "
                   "config.toml); `mpp serve --help` lists them.")


@dataclass(frozen=True)
class ServeOptions:
    """`mpp serve`'s flags, unparsed amounts included (they need the mint's decimals)."""

    host: str = "127.0.0.1"
    port: int = 8402
    rpc_url: str | None = None
    rpc_port: int = LOCALNET_RPC_PORT  # the embedded ledger's; a free one when this is taken
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
    clock_skew: int = DEFAULT_CLOCK_SKEW
    tls_cert: Path | None = None
    tls_key: Path | None = None
    allow_insecure_http: bool = False
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
    """Run until SIGINT/SIGTERM (blocking).

    The transport is chosen and the HTTP port bound first, so bad TLS flags or a busy port fail
    before any side effect (no ledger started, no operator funded)."""
    transport = choose_transport(options.host, options.tls_cert, options.tls_key, options.allow_insecure_http)
    if transport.warning:
        log(transport.warning)
    sock = _bind(options.host, options.port)
    try:
        server_dir = ensure_private_dir(paths.state_dir / "server")
        ledger = _start_ledger(options, server_dir, log) if options.rpc_url is None else None
    except BaseException:
        sock.close()
        raise
    try:
        rpc_url = options.rpc_url if ledger is None else str(ledger.rpc_url)
        assert rpc_url is not None
        asyncio.run(_serve(options, paths, server_dir, rpc_url, ledger, on_ready, log, transport, sock))
    finally:
        if ledger is not None:
            ledger.stop()


def _start_ledger(options: ServeOptions, server_dir: Path, log: Callable[[str], None]) -> Any:
    from mppcli.ledger.runner import start_ledger

    directory = None if options.ephemeral else (options.ledger_dir or server_dir / "ledger")
    port = options.rpc_port
    # The ledger listens on `port` (JSON-RPC) and `port + 1` (its websocket, Solana's convention).
    if port and not (port_is_free("127.0.0.1", port) and port_is_free("127.0.0.1", port + 1)):
        log(f"port {port} or {port + 1} is taken, so the embedded ledger's RPC uses free ports instead; "
            f"payers then need `-u` with the rpcUrl of the ready line (localnet's default is port {port})")
        port = 0
    return start_ledger(directory, port=port)


def port_is_free(host: str, port: int) -> bool:
    """Whether `host:port` can be bound right now (the ledger binds it a moment later)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((host, port))
    except OSError:
        return False
    finally:
        probe.close()
    return True


async def _serve(
    options: ServeOptions,
    paths: Paths,
    server_dir: Path,
    rpc_url: str,
    ledger: Any,
    on_ready: Callable[[Ready], None],
    log: Callable[[str], None],
    transport: Transport,
    sock: socket.socket | None = None,
) -> None:
    from mppcli.rpc import Rpc, websocket_url
    from mppcli.server.chainwatch import ChannelWatch

    rpc = Rpc(rpc_url)
    chain: ChainPort | None = None
    try:
        config, store = await build(options, server_dir, rpc, ledger, log)
        watch = ChannelWatch(websocket_url(rpc_url), log)
        store.enable_group_commit()  # durable before any response (DurableResponses) or transaction
        chain = ChainPort(
            rpc, config.program_id, config.confirm_timeout, watch=watch, before_send=store.durable
        )
        ctx = ServerContext(config, store, chain, clock=server_clock(os.environ, ledger, log), log=log)
        await _run_http(ctx, options, rpc_url, on_ready, transport, sock, _gateway(options, config.decimals))
    finally:
        if chain is not None:
            await chain.close()
        await rpc.close()


async def build(
    options: ServeOptions, server_dir: Path, rpc: Any, ledger: Any, log: Callable[[str], None]
) -> tuple[ServerConfig, Store]:
    """Resolve every setting against the cluster; open the store pinned to that cluster."""
    genesis = await rpc.genesis_hash()
    net = _network_for(options.network, genesis, ledger is not None)
    operator = _keypair(options.operator_keypair, server_dir / "operator.json")
    voucher_key = _keypair(options.operator_voucher_keypair, server_dir / "operator-voucher.json")
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
        raise UsageError(str(exc), hint=SERVE_FLAG_HINT) from None
    if net == "localnet":  # only once every setting checked out: a bad flag spends nothing
        await _fund_operator(rpc, operator.pubkey(), log)
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
    mint = found.mint() if found is not None and found.owner in TOKEN_PROGRAMS else None
    if found is None or mint is None:
        raise ConfigError(f"{address} is not an initialized SPL Token or Token-2022 mint on {net}")
    return address, mint.decimals, str(found.owner)


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
            hint = f"{flag} takes an amount in token units with at most {decimals} decimal places."
            raise UsageError(f"{flag}: {exc}", hint=hint) from None

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
        clock_skew=options.clock_skew,
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
    # Eight creations per transaction keep each within one 1232-byte packet (32 would not fit).
    for batch in (calls[i:i + 8] for i in range(0, len(calls), 8)):
        blockhash, _ = await rpc.latest_blockhash()
        message = compile_transaction(batch, payer, Hash.from_string(str(blockhash)))
        tx = partial_sign(message, [config.operator])
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
    transport: Transport,
    sock: socket.socket | None = None,
    gateway: GatewayConfig | None = None,
) -> None:
    import uvicorn

    from mppcli.server.app import create_app
    from mppcli.server.durable import DurableResponses
    from mppcli.server.httpwire import MAX_HEADER_BYTES, ProblemH11Protocol
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

    sock = sock or _bind(options.host, options.port)
    config = uvicorn.Config(
        DurableResponses(
            create_app(ctx, lifespan, gateway, _event_log(ctx, options.log_json)), ctx.store
        ),
        log_level="warning",
        access_log=False,
        http=ProblemH11Protocol,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        timeout_graceful_shutdown=3,
        ssl_certfile=None if transport.cert is None else str(transport.cert),
        ssl_keyfile=None if transport.key is None else str(transport.key),
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
        url = f"{transport.scheme}://{host}:{port}"
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
    c = ctx.config
    if as_json:
        return EventLog(c.decimals, c.symbol, True)
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
    stderr_line(f"mpp serve: {line}")
