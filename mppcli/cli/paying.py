"""What the paying commands share: settings → `Client`, the event sinks, running a flow.

Kept out of `cli/pay.py` so that module stays a list of commands. Imports here are light; the
flows (solders, httpx, keyring) load inside `run_flow`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mppcli.cli.env import Env

if TYPE_CHECKING:
    from mppcli.client.context import Client, PayOptions
    from mppcli.client.events import Event
    from mppcli.config import Settings
    from mppcli.rpc import Rpc
    from mppcli.wallet.signer import Payer

T = TypeVar("T")


@dataclass(frozen=True)
class Who:
    """The payer and cluster flags of a paying command."""

    wallet: str | None = None
    keypair: Path | None = None
    url: str | None = None
    allow_http: bool = False  # --allow-http (else the `allow_http` setting)
    wait: float = 0.0  # `--wait SECS`: wait for a channel another mpp holds instead of exit 6


def settings(env: Env, who: Who, max_spend: str | None = None) -> Settings:
    from mppcli.config import load_settings

    flags = {"wallet": who.wallet, "rpc_url": who.url, "max_spend": max_spend}
    return load_settings(env.paths, env.environ, {k: v for k, v in flags.items() if v is not None})


def pay_options(env: Env, who: Who, **given: Any) -> PayOptions:
    """The flags, with --max-spend and the confirmation policy falling back to MPP_* / config.toml."""
    from mppcli.client.context import PayOptions

    resolved = settings(env, who, given.pop("max_spend", None))
    return PayOptions(max_spend=resolved.max_spend.value,
                      confirm_policy=resolved.confirm.value or "first-open",
                      max_grace_period=int(resolved.max_grace_period.value or 0), **given)


def run_flow(env: Env, who: Who, flow: Callable[[Client], Awaitable[T]],
             sink: Callable[[Event], None] | None = None, max_time: float | None = None) -> T:
    """Build the Client, run `flow` in one event loop, and close everything on every path.

    `max_time` (curl's -m) bounds the whole run; the flows keep their records consistent when
    cancelled, as they do for Ctrl-C."""
    from mppcli.errors import KeyringError, NetworkError

    try:
        if max_time is None:
            return asyncio.run(_run(env, who, flow, sink))
        return asyncio.run(asyncio.wait_for(_run(env, who, flow, sink), max_time))
    except TimeoutError:
        raise NetworkError(f"the operation did not finish within {max_time:g} s (--max-time)",
                           hint="Allow more time with -m/--max-time SECS.") from None
    except KeyringError as exc:
        if who.keypair is not None:  # -k was given: recommending -k again would not help (#14 item 19)
            exc.hint = ("With -k FILE and no usable OS keyring, add `--signer payer`: vouchers are then "
                        "signed by that file's key and no session key needs storing. Or make a keyring "
                        "available (`mpp doctor` checks it).")
        raise


async def _run(env: Env, who: Who, flow: Callable[[Client], Awaitable[T]],
               sink: Callable[[Event], None] | None) -> T:
    from mppcli.client.context import Client
    from mppcli.client.events import discard
    from mppcli.client.http import Http
    from mppcli.state.store import ChannelStore
    from mppcli.wallet.keystore import Keystore

    resolved = settings(env, who)
    async with Http(debug=env.debug_log) as http:
        client = Client(
            paths=env.paths, store=ChannelStore(env.paths, warn=env.warn, lock_wait=who.wait),
            keystore=Keystore(env.paths),
            http=http,
            rpc_factory=lambda network: _rpc(env, resolved.rpc_url, network),
            payer_loader=lambda: _payer(env, who), clock=env.clock, sink=sink or discard,
            confirm=_asker(env) if env.can_prompt else None,
            allow_http=who.allow_http or resolved.allow_http.value == "true")
        try:
            return await flow(client)
        finally:
            await client.aclose()


def _rpc(env: Env, setting: Any, network: str | None) -> Rpc:
    """The user's RPC; with none given, the public endpoint of the cluster the server names."""
    from mppcli.rpc import Rpc

    url = setting.value
    if setting.source == "default" and network is not None:
        from mppcli.chain.networks import NETWORKS

        url = NETWORKS[network].rpc_url if network in NETWORKS else url
    env.debug_log(f"rpc: {url} ({setting.source if url == setting.value else 'from the network'})")
    return Rpc(url)


def _payer(env: Env, who: Who) -> Payer:
    from mppcli.payer import resolve_payer

    payer = resolve_payer(env.paths, who.wallet, who.keypair, environ=env.environ)
    for warning in payer.warnings:
        env.warn(warning)
    env.debug_log(f"payer: {payer.pubkey} from {payer.source}")
    return payer


def _asker(env: Env) -> Callable[[str], Awaitable[bool]]:
    from mppcli.cli.units import with_symbols

    async def ask(question: str) -> bool:
        print(f"{with_symbols(question)} [y/N]: ", end="", file=env.stderr, flush=True)
        answer = await asyncio.to_thread(sys.stdin.readline)
        return answer.strip().lower() in ("y", "yes")

    return ask


def confirm_now(env: Env, question: str, yes: bool) -> None:
    """A synchronous confirmation for commands that ask before any work (topup, --force)."""
    from mppcli.errors import ConfirmationRequired, PolicyError

    if yes:
        return
    if not env.can_prompt:
        raise ConfirmationRequired(f"{question} Confirmation is needed and there is no terminal to ask on.")
    print(f"{question} [y/N]: ", end="", file=env.stderr, flush=True)
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise PolicyError("cancelled: not confirmed", hint="Nothing was signed.")


# --- sinks ----------------------------------------------------------------------------------------

def ndjson_sink(env: Env) -> Callable[[Event], None]:
    """One JSON object per event on stdout (`--ndjson`)."""
    def emit(event: Event) -> None:
        print(json.dumps(event.to_json(), ensure_ascii=False, separators=(",", ":")), file=env.stdout,
              flush=True)

    return emit


def notes_sink(env: Env) -> Callable[[Event], None]:
    """`info` events as warnings on stderr (for commands without a progress line, e.g. `topup`)."""
    def emit(event: Event) -> None:
        if event.type == "info":
            env.warn(str(event.fields.get("message", "")))

    return emit


AMOUNT_FIELDS = frozenset(("amount", "deposit", "cumulative"))  # base units in the client's events


class SpendMeter:
    """Spend and progress on stderr: a live line on a terminal (redrawn in place at most
    `REDRAW_EVERY` seconds apart), plain lines every few seconds otherwise; silent in JSON modes
    unless -v. The live line is erased before anything else is written, data on stdout included
    (`data`): on a terminal both streams share the screen, and data never shares a line with it."""

    PLAIN_EVERY = 2.0
    REDRAW_EVERY = 0.1
    ERASE = "\r\x1b[2K"  # carriage return, then erase the whole line

    def __init__(self, env: Env, enabled: bool):
        self.env, self.enabled = env, enabled
        self.events = self.vouchers = 0
        self.cumulative = "0"
        self.channel = ""
        self._shown_as: dict[str, Callable[[int], str]] = {}  # channel -> its token's human amount
        self._last = 0.0
        self._live = False  # draw a live line (a terminal)
        self._shown = False  # the live line is on the screen now

    def __enter__(self) -> SpendMeter:
        self._live = self.enabled and self.env.stderr_is_tty and not self.env.no_color
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live:
            if self.events or self.vouchers:
                self._draw(force=True)
            if self._shown:
                self.env.stderr.write("\n")
                self.env.stderr.flush()
                self._shown = False
        elif self.enabled and (self.events or self.vouchers):
            self._plain(force=True)

    def __call__(self, event: Event) -> None:
        fields = event.fields
        if event.type == "data":
            self.events += 1
        elif event.type == "voucher":
            self.vouchers += 1
            self.cumulative = str(fields.get("cumulative", self.cumulative))
            self.channel = str(fields.get("channelId", self.channel))
        elif event.type in ("topup", "retry", "open", "info", "payment-required") and self.enabled:
            self._note(event)
        if self._live:
            self._draw()
        elif self.enabled:
            self._plain()

    def data(self, text: str) -> None:
        """Write one line of content to stdout, never on the meter's line."""
        self.erase()
        print(text, file=self.env.stdout, flush=True)

    def erase(self) -> None:
        if self._shown:
            self.env.stderr.write(self.ERASE)
            self.env.stderr.flush()
            self._shown = False

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= self.REDRAW_EVERY:
            self._last = now
            self.env.stderr.write(self.ERASE + self._line())
            self.env.stderr.flush()
            self._shown = True

    def _line(self) -> str:
        counts = f"mpp: {self.events} data events, {self.vouchers} vouchers"
        where = f" on {self.channel[:8]}…" if self.channel else ""
        return f"{counts}, cumulative {self._cumulative()}{where}"

    def _cumulative(self) -> str:
        """The cumulative in token units with the symbol (the voucher event names only the channel)."""
        return self._amount(self.channel, self.cumulative)

    def _amount(self, channel_id: str, value: object) -> str:
        """A base-unit amount in the channel's token units with its symbol, read from the channel's
        record once; as given when there is no channel or its record cannot be read."""
        show = self._shown_as.get(channel_id) if channel_id else None
        if channel_id and show is None:
            show = self._shown_as[channel_id] = self._token_of(channel_id)
        try:
            return show(int(str(value))) if show is not None else str(value)
        except ValueError:
            return str(value)

    def _token_of(self, channel_id: str) -> Callable[[int], str]:
        from mppcli.cli.units import record_amount
        from mppcli.errors import MppError
        from mppcli.state.store import ChannelStore

        try:
            record = ChannelStore(self.env.paths, warn=lambda _problem: None).load(channel_id)
        except MppError:
            record = None
        if record is None:
            return str
        return lambda amount: record_amount(record, amount)

    def _plain(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last >= self.PLAIN_EVERY:
            self._last = now
            print(self._line(), file=self.env.stderr, flush=True)

    def _note(self, event: Event) -> None:
        channel = str(event.fields.get("channelId", ""))
        details = " ".join(f"{k}={self._amount(channel, v) if k in AMOUNT_FIELDS else v}"
                           for k, v in event.fields.items() if k != "data")
        self.erase()
        print(f"mpp: {event.type} {details}", file=self.env.stderr, flush=True)
