"""What every payer flow is handed: typed options and the I/O handles (never Typer objects).

`PayOptions` is the parsed command line (amounts still in token units: they are converted with
the mint's decimals once the challenge names the mint). `Client` carries the handles a flow does
I/O through — the channel store, the keystore, the payer, the RPC, the HTTP client — plus the clock,
the event sink and the confirmation callback (None when there is no terminal to ask on).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mppcli.client.events import Event, Sink, discard
from mppcli.client.machine import Budget
from mppcli.errors import InputError, MalformedError

if TYPE_CHECKING:
    from mppcli.client.http import Http
    from mppcli.paths import Paths
    from mppcli.rpc import Rpc
    from mppcli.state.store import ChannelStore
    from mppcli.wallet.keystore import Keystore
    from mppcli.wallet.signer import Payer

CONFIRM_FIRST_OPEN, CONFIRM_ALWAYS, CONFIRM_NEVER = "first-open", "always", "never"
DEFAULT_MAX_GRACE_PERIOD = 86_400  # a day: the longest a non-cooperating server can lock a deposit


@dataclass(frozen=True)
class PayOptions:
    """The payment flags shared by open/request/stream (CLI.md)."""

    deposit: str | None = None
    max_spend: str | None = None
    idle_timeout: int | None = None
    channel: str = "auto"  # auto | new | a channel id/prefix
    signer: str = "session"  # session | payer
    yes: bool = False
    allow_mints: frozenset[str] = frozenset()
    confirm_policy: str = CONFIRM_FIRST_OPEN
    retries: int = 3
    max_grace_period: int = DEFAULT_MAX_GRACE_PERIOD  # seconds (setting `max_grace_period`)


def token_amount(text: str | None, decimals: int, flag: str) -> int | None:
    """A token-unit flag (`0.25`) in base units, exactly; too many decimals is the user's error."""
    if text is None:
        return None
    from mppcli.protocol.amounts import parse_amount

    try:
        return parse_amount(text, decimals, flag)
    except MalformedError as exc:
        raise InputError(f"{flag}: {exc}", hint=f"Give an amount in token units with at most "
                                                f"{decimals} decimal places, e.g. 0.25.") from None


def budget_for(options: PayOptions, decimals: int) -> Budget:
    return Budget(max_spend=token_amount(options.max_spend, decimals, "--max-spend"))


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL (what a server, and its channels, are keyed by)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"not an http(s) URL: {url!r}")
    return f"{parts.scheme}://{parts.netloc.lower()}"


@dataclass
class Client:
    """The handles of one command run (built by the CLI, closed by it)."""

    paths: Paths
    store: ChannelStore
    keystore: Keystore
    http: Http
    rpc_factory: Callable[[str | None], Rpc]  # the network a challenge or record names, if known
    payer_loader: Callable[[], Payer]
    clock: Callable[[], float]
    sink: Sink = discard
    confirm: Callable[[str], Awaitable[bool]] | None = None
    network: str | None = None
    allow_http: bool = False  # send credentials over plain http:// to non-loopback hosts
    # Blockhashes this run's top-ups were built on: the same channel, amount and blockhash make
    # the same transaction, which a cluster (and a server) takes only once (client/topup.py).
    top_up_blockhashes: set[str] = field(default_factory=set)
    _rpc: Rpc | None = field(default=None, repr=False)
    _payer: Payer | None = field(default=None, repr=False)

    def use_network(self, name: str) -> None:
        """The cluster the work is about (picks the RPC when the user named none); first one wins."""
        if self._rpc is None and self.network is None:
            self.network = name

    @property
    def rpc(self) -> Rpc:
        if self._rpc is None:
            self._rpc = self.rpc_factory(self.network)
        return self._rpc

    @property
    def payer(self) -> Payer:
        if self._payer is None:
            self._payer = self.payer_loader()
        return self._payer

    def emit(self, type_: str, **fields: object) -> None:
        self.sink(Event(type_, fields))

    async def aclose(self) -> None:
        if self._rpc is not None:
            close = getattr(self._rpc, "close", None) or getattr(self._rpc, "aclose", None)
            if close is not None:
                await close()
