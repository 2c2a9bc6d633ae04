"""The paying commands: `mpp open`, `request`, `stream`, `topup`, `close` (CLI.md "Paying").

Each command parses its flags into `PayOptions`, runs one flow of `mppcli.client` and renders the
result: content on stdout, spend and progress on stderr, `--json` summaries with CLI.md's keys.
Only Typer is imported at module level; the flows load inside the commands.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mppcli.cli.options import (
    JsonOpt,
    KeypairOpt,
    RpcUrlOpt,
    WalletOpt,
    YesOpt,
    complete_channel,
    complete_signer,
)
from mppcli.cli.output import Outcome
from mppcli.cli.paying import SpendMeter, Who, confirm_now, ndjson_sink, notes_sink, pay_options, run_flow
from mppcli.cli.runtime import run

if TYPE_CHECKING:

    from mppcli.cli.env import Env
    from mppcli.client.answer import Answer
    from mppcli.client.close import Closed
    from mppcli.client.context import Client, PayOptions
    from mppcli.client.topup import TopUpResult
    from mppcli.state.record import ChannelRecord
    from mppcli.state.store import ChannelStore

UrlArg = Annotated[str, typer.Argument(help="The paid resource (http or https URL).")]
DepositOpt = Annotated[str | None, typer.Option(
    "--deposit", metavar="AMT", help="Most to deposit when opening, in token units (the server's "
                                     "suggestion applies when lower).")]
MaxSpendOpt = Annotated[str | None, typer.Option(
    "--max-spend", metavar="AMT", help="Most this command may pay, and may deposit, in token units "
                                       "(default: MPP_MAX_SPEND / config).")]
AllowHttpOpt = Annotated[bool, typer.Option(
    "--allow-http", help="Send payment credentials over plain http:// to a non-loopback host "
                         "(default: MPP_ALLOW_HTTP / config allow_http; they are bearer tokens).")]
IdleOpt = Annotated[int | None, typer.Option(
    "--idle-timeout", metavar="SECS", help="Idle timeout to choose among the server's options.")]
def _complete_channel_choice(incomplete: str) -> list[str]:
    from mppcli.cli.options import complete_channel

    return [c for c in ("auto", "new") if c.startswith(incomplete)] + complete_channel(incomplete)


ChannelOpt = Annotated[str, typer.Option(
    "--channel", metavar="auto|new|ID", autocompletion=_complete_channel_choice,
    help="Reuse the live channel (auto), always open (new), or "
                                             "pay with this channel.")]
SignerOpt = Annotated[str, typer.Option(
    "--signer", metavar="session|payer", autocompletion=complete_signer,
    help="Sign vouchers with a fresh session key (default) or "
                                              "the payer key.")]
AllowMintOpt = Annotated[list[str] | None, typer.Option(
    "--allow-mint", metavar="MINT", help="Also accept this mint (repeatable).")]
MethodOpt = Annotated[str | None, typer.Option("--request", "-X", metavar="M",
                                               help="HTTP method (default GET, or POST with -d).")]
HeaderOpt = Annotated[list[str] | None, typer.Option("--header", "-H", metavar="'K: V'",
                                                     help="Extra request header (repeatable).")]
DataOpt = Annotated[str | None, typer.Option("--data", "-d", metavar="DATA",
                                             help="Request body; @FILE reads a file, @- stdin.")]
DryRunOpt = Annotated[bool, typer.Option(
    "--dry-run", help="Show what it would cost and deposit (from the challenge); pay and sign nothing.")]
WaitOpt = Annotated[float, typer.Option(
    "--wait", metavar="SECS", min=0, help="When another mpp holds the channel, wait up to SECS for it "
                                          "(default: exit 6 at once).")]
RetriesOpt = Annotated[int, typer.Option("--retries", min=0, max=100,
                                         help="Reconnect a dropped stream this many times.")]


def register(app: typer.Typer) -> None:
    """Add the paying commands."""
    app.command("open")(open_cmd)
    app.command("request")(request_cmd)
    app.command("stream")(stream_cmd)
    app.command("topup")(topup_cmd)
    app.command("close")(close_cmd)


LOST_CHANNEL = "not known to this server"
BudgetFileOpt = Annotated[Path | None, typer.Option(
    "--budget-file", metavar="FILE", help='A spend budget for a run of commands: FILE holds {"limit": "2"} '
                                          '(token units) and mpp keeps "spent" in it; exhausted: exit 5.')]


@contextmanager
def budgeted(env: Env, who: Who, budget_file: Path | None, max_spend: str | None) -> Iterator[str | None]:
    """Run a paying command within the spend budget (`budget` setting or --budget-file): refuse it
    when exhausted, reserve its --max-spend (at most what is left after the commands still running),
    and settle what it signed (#14 item 14)."""
    from decimal import ROUND_DOWN, Decimal

    from mppcli.cli import budget as b
    from mppcli.cli.paying import settings

    rule = b.active(env, budget_file)
    if rule is None:
        yield max_spend
        return
    given = settings(env, who, max_spend).max_spend.value
    before = b.signed_total(env)
    wanted = None if given is None else Decimal(given)
    held = b.reserve(rule, wanted, env.clock(), before)
    try:
        yield format(held.amount.quantize(Decimal("0.000001"), rounding=ROUND_DOWN).normalize(), "f")
    finally:
        b.settle(rule, held, b.signed_total(env) - before, env.clock())


def lost_channel_hint(exc: Exception) -> None:
    """A server that lost its state refuses every voucher of the channel, and a cooperative close
    cannot work either: point at the two ways that do (#14 item 8)."""
    from mppcli.errors import PaymentRejected

    if isinstance(exc, PaymentRejected) and LOST_CHANNEL in exc.message:
        cid = exc.channel_id or "CHANNEL"
        exc.hint = (f"The server no longer knows channel {cid} (it lost its state), so it cannot be "
                    f"paid or closed through the server. Recover the deposit on chain with "
                    f"`mpp close {cid} --force` (then `--finalize` after the grace period), and pay "
                    f"with a fresh channel: `--channel new`.")


def _options(env: Env, who: Who, **given: Any) -> PayOptions:
    from mppcli.errors import UsageError

    if given.get("signer", "session") not in ("session", "payer"):
        raise UsageError("--signer must be session or payer")
    given["allow_mints"] = frozenset(given.get("allow_mints") or ())
    return pay_options(env, who, **given)


# --- open -------------------------------------------------------------------------------------------

def open_cmd(ctx: typer.Context, url: UrlArg, deposit: DepositOpt = None, max_spend: MaxSpendOpt = None,
             idle_timeout: IdleOpt = None, yes: YesOpt = False, new: Annotated[bool, typer.Option(
                 "--new", help="Open another channel even if one is live.")] = False,
             signer: SignerOpt = "session", allow_mint: AllowMintOpt = None, dry_run: DryRunOpt = False,
             wait: WaitOpt = 0.0, wallet: WalletOpt = None, keypair: KeypairOpt = None, rpc: RpcUrlOpt = None,
             json: JsonOpt = False, allow_http: AllowHttpOpt = False) -> None:
    """Open a payment channel for the URL's session challenge."""
    def action(env: Env) -> Outcome:
        from mppcli.client.http import request_spec
        from mppcli.client.resolve import open_for

        who = Who(wallet, keypair, rpc, allow_http, wait)
        options = _options(env, who, deposit=deposit, max_spend=max_spend, idle_timeout=idle_timeout,
                           yes=yes, signer=signer, allow_mints=allow_mint, channel="new" if new else "auto")
        spec = request_spec(url, None, [], None)
        if dry_run:
            return _dry_run(env, who, spec, options, None, opening=True)
        record, existing = run_flow(env, who, lambda client: open_for(client, spec, options))
        data = _open_data(record, existing)
        verb = "using the open channel" if existing else "opened channel"
        return Outcome(data, f"{verb} {record.channel_id} (deposit {data['depositDisplay']})")
    run(ctx, json, action)


def _open_data(record: ChannelRecord, existing: bool) -> dict[str, Any]:
    return {"channelId": record.channel_id, "url": record.url, "network": record.network,
            "payer": record.payer, "payee": record.payee, "mint": record.mint,
            "authorizedSigner": record.authorized_signer, "deposit": str(record.deposit),
            "depositDisplay": _display(record, record.deposit), "openSlot": record.open_slot,
            "reference": record.channel_id, "status": record.status.value, "existing": existing}


def _display(record: ChannelRecord, amount: int) -> str:
    """Token units with the token's symbol (`0.25 USDC`)."""
    from mppcli.cli.units import record_amount

    return record_amount(record, amount)


# --- request ----------------------------------------------------------------------------------------

REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
JSON_TYPE = "application/json"


def request_cmd(ctx: typer.Context, url: UrlArg, method: MethodOpt = None, header: HeaderOpt = None,
                data: DataOpt = None,
                json_body: Annotated[str | None, typer.Option(
                    "--json-body", metavar="JSON", help="Send JSON (@FILE, @- for stdin) as the body, with "
                    "Content-Type and Accept application/json; POST unless -X (curl's --json).")] = None,
                channel: ChannelOpt = "auto", max_spend: MaxSpendOpt = None,
                deposit: DepositOpt = None, idle_timeout: IdleOpt = None,
                output: Annotated[Path | None, typer.Option("--output", "-o", metavar="FILE",
                                                            help="Write the body to FILE.")] = None,
                include: Annotated[bool, typer.Option("--include", "-i",
                                                      help="Print the status line and headers.")] = False,
                dump_header: Annotated[Path | None, typer.Option(
                    "--dump-header", "-D", metavar="FILE",
                    help="Write the status line and headers to FILE (- for stdout).")] = None,
                fail: Annotated[bool, typer.Option(
                    "--fail", "-f", help="An HTTP error status (400 and up) exits 4 (E_HTTP_STATUS), body "
                    "not printed.")] = False,
                location: Annotated[bool, typer.Option(
                    "--location", "-L", help="Follow redirects (paying the new URL if it asks).")] = False,
                max_time: Annotated[float | None, typer.Option(
                    "--max-time", "-m", metavar="SECS", min=0.001,
                    help="Give up (exit 3) when the whole operation takes longer.")] = None,
                silent: Annotated[bool, typer.Option(
                    "--silent", "-s", help="No progress or spend lines on stderr (errors show).")] = False,
                dry_run: DryRunOpt = False, budget_file: BudgetFileOpt = None,
                yes: YesOpt = False, signer: SignerOpt = "session", allow_mint: AllowMintOpt = None,
                wait: WaitOpt = 0.0, wallet: WalletOpt = None, keypair: KeypairOpt = None,
                rpc: RpcUrlOpt = None,
                json: JsonOpt = False, allow_http: AllowHttpOpt = False) -> None:
    """One paid request, curl-like: opens a channel when needed, pays exactly the price."""
    def action(env: Env) -> Outcome | None:
        from dataclasses import replace

        from mppcli.client.http import request_spec
        from mppcli.errors import UsageError

        if silent:
            env = replace(env, verbose=0, silent=True)
        if json_body is not None and data is not None:
            raise UsageError("-d/--data and --json-body both set the body; pass one")
        who = Who(wallet, keypair, rpc, allow_http, wait)
        with budgeted(env, who, budget_file, max_spend) as cap:
            options = _options(env, who, deposit=deposit, max_spend=cap, idle_timeout=idle_timeout,
                               yes=yes, signer=signer, allow_mints=allow_mint, channel=channel)
            spec = request_spec(url, method, header or [], data if json_body is None else json_body)
            if json_body is not None:
                spec = spec.with_header("Content-Type", JSON_TYPE).with_header("Accept", JSON_TYPE)
            _warn_own_authorization(env, header)
            if dry_run:
                return _dry_run(env, who, spec, options, max_time)
            return _paid_request(env, who, spec, options, location, max_time, output, include, dump_header,
                                 fail, url)
    run(ctx, json, action)


def _paid_request(env: Env, who: Who, spec: Any, options: PayOptions, location: bool,
                  max_time: float | None, output: Path | None, include: bool, dump_header: Path | None,
                  fail: bool, url: str) -> Outcome | None:
    from mppcli.errors import MppError

    with SpendMeter(env, enabled=not env.json and env.verbose > 0) as meter:
        try:
            result = run_flow(env, who, lambda client: _follow(client, spec, options, location), meter,
                              max_time=max_time)
        except MppError as exc:
            lost_channel_hint(exc)
            raise
    return _request_outcome(env, result, output, include, dump_header, fail, url)


def _warn_own_authorization(env: Env, headers: list[str] | None) -> None:
    """The payment travels in `Authorization`: a user's own value there cannot reach a paid API."""
    if any(h.partition(":")[0].strip().lower() == "authorization" for h in headers or ()):
        env.warn("your -H 'Authorization: ...' is replaced by the payment credential on paid requests; "
                 "send your API key in another header, or have the seller inject it "
                 "(mpp serve --upstream-header)")


async def _follow(client: Client, spec: Any, options: PayOptions, location: bool) -> Any:
    """The paid request, and with -L each redirect after it (every hop pays if it asks to)."""
    from dataclasses import replace
    from urllib.parse import urljoin

    from mppcli.client.request import paid_request
    from mppcli.errors import NetworkError

    result = await paid_request(client, spec, options)
    hops = 0
    while location and result.answer.status in REDIRECTS and result.answer.header("location"):
        hops += 1
        if hops > MAX_REDIRECTS:
            raise NetworkError(f"more than {MAX_REDIRECTS} redirects", hint="Check the URL.")
        target = urljoin(spec.url, str(result.answer.header("location")))
        if result.answer.status == 303 or (result.answer.status in (301, 302) and spec.method == "POST"):
            spec = replace(spec, method="GET", body=None)
        spec = replace(spec, url=target)
        client.emit("info", message=f"following a {result.answer.status} redirect to {target}")
        previous = result.paid
        result = await paid_request(client, spec, options)
        if result.paid is None and previous is not None:
            result = replace(result, paid=previous)
    return result


def _dry_run(env: Env, who: Who, spec: Any, options: PayOptions, max_time: float | None,
             opening: bool = False) -> Outcome:
    from mppcli.client.dryrun import Quote, quote

    result: Quote = run_flow(env, who, lambda client: quote(client, spec, options), max_time=max_time)
    return Outcome(result.to_json(), _quote_text(result, opening))


def _quote_text(q: Any, opening: bool) -> str:
    from mppcli.cli.units import token_text

    if q.status != 402:
        return f"dry run: {q.url} answered {q.status} without asking for payment; nothing to pay"

    def amount(value: int) -> str:
        return token_text(value, q.decimals or 0, q.network or "", q.mint or "")

    per = f"{amount(q.price)} per {q.unit or 'request'}"
    if q.channel_id is not None:
        head = (f"dry run: would use the open channel {q.channel_id}" if opening else
                f"dry run: would pay {per} on the open channel {q.channel_id}")
    else:
        minimum = f" (server minimum {amount(q.minimum_deposit)})" if q.minimum_deposit is not None else ""
        head = (f"dry run: would open a channel depositing {amount(q.deposit or 0)}{minimum} "
                f"with {q.recipient} on {q.network}" + ("" if opening else f", then pay {per}"))
    return head + "; nothing was signed or paid"


def _request_outcome(env: Env, result: Any, output: Path | None, include: bool,
                     dump_header: Path | None = None, fail: bool = False, url: str = "") -> Outcome | None:
    from mppcli.errors import HttpStatusError

    answer: Answer = result.answer
    paid = result.paid
    if paid is not None and not env.json:
        record = paid.record
        env.info(f"paid {_display(record, paid.amount)} on channel {record.channel_id} "
                 f"(cumulative {_display(record, paid.cumulative)}, spent {_display(record, record.spent)})")
    uncharged = getattr(result, "uncharged", None)
    if uncharged is not None and not fail and not env.json:
        env.warn(f"{uncharged.message}. {uncharged.hint}")
    if dump_header is not None:
        _dump_head(env, answer, dump_header)
    if fail and uncharged is not None:
        raise uncharged  # E_HTTP_STATUS, with what the server said and that it did not charge
    if fail and answer.status >= 400:
        raise HttpStatusError(f"{url} answered HTTP {answer.status} {answer.reason}".rstrip())
    if output is not None:
        _write(output, answer.body)
    if env.json:
        return Outcome(_request_data(answer, paid))
    if include:
        _print_head(env, answer)
    if output is None:
        env.stdout.buffer.write(answer.body) if hasattr(env.stdout, "buffer") else env.stdout.write(
            answer.body.decode("utf-8", "replace"))
        env.stdout.flush()
    return None


def _head_text(answer: Answer) -> str:
    lines = [f"{answer.http_version} {answer.status} {answer.reason}".rstrip()]
    lines += [f"{name}: {value}" for name, values in answer.headers.items() for value in values]
    return "\r\n".join(lines) + "\r\n\r\n"


def _dump_head(env: Env, answer: Answer, path: Path) -> None:
    if str(path) == "-":
        print(_head_text(answer), end="", file=env.stdout, flush=True)
        return
    _write(path, _head_text(answer).encode("utf-8"))


def _request_data(answer: Answer, paid: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"status": answer.status, "channelId": None, "cumulative": None, "spent": None,
                            "receipt": None, "paid": "0", "body": answer.body.decode("utf-8", "replace")}
    if paid is not None:  # `paid`: what this call paid, in base units (the others are cumulative)
        data.update(channelId=paid.record.channel_id, cumulative=str(paid.cumulative),
                    spent=str(paid.record.spent), receipt=paid.receipt.to_json(), paid=str(paid.amount),
                    paidDisplay=_display(paid.record, paid.amount))
    return data


def _print_head(env: Env, answer: Answer) -> None:
    print(_head_text(answer), end="", file=env.stdout, flush=True)


def _write(path: Path, body: bytes) -> None:
    from mppcli.errors import InputError

    try:
        path.expanduser().write_bytes(body)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None


# --- stream -----------------------------------------------------------------------------------------

def stream_cmd(ctx: typer.Context, url: UrlArg, method: MethodOpt = None, header: HeaderOpt = None,
               data: DataOpt = None, channel: ChannelOpt = "auto", max_spend: MaxSpendOpt = None,
               deposit: DepositOpt = None, idle_timeout: IdleOpt = None,
               ndjson: Annotated[bool, typer.Option("--ndjson", help="One JSON object per event.")] = False,
               retries: RetriesOpt = 3,
               read_timeout: Annotated[float, typer.Option(
                   "--read-timeout", metavar="SECS", min=0.001,
                   help="End the stream (exit 3) after this long without a data or metering event; "
                        "keep-alive comments do not count.")] = 60.0,
               dry_run: DryRunOpt = False, yes: YesOpt = False, signer: SignerOpt = "session",
               allow_mint: AllowMintOpt = None, budget_file: BudgetFileOpt = None, wait: WaitOpt = 0.0,
               wallet: WalletOpt = None, keypair: KeypairOpt = None, rpc: RpcUrlOpt = None,
               json: JsonOpt = False, allow_http: AllowHttpOpt = False) -> None:
    """Consume a metered SSE stream, committing vouchers as the server meters."""
    def action(env: Env) -> Outcome | None:
        who = Who(wallet, keypair, rpc, allow_http, wait)
        with budgeted(env, who, budget_file, max_spend) as cap:
            return streaming(env, who, cap)

    def streaming(env: Env, who: Who, cap: str | None) -> Outcome | None:
        from mppcli.client.events import Event
        from mppcli.client.http import request_spec
        from mppcli.client.stream import stream
        from mppcli.errors import Interrupted, MppError

        options = _options(env, who, deposit=deposit, max_spend=cap, idle_timeout=idle_timeout,
                           yes=yes, signer=signer, allow_mints=allow_mint, channel=channel, retries=retries)
        spec = request_spec(url, method, header or [], data)
        _warn_own_authorization(env, header)
        if dry_run:
            return _dry_run(env, who, spec, options, None)
        quiet = env.json or ndjson
        with SpendMeter(env, enabled=not quiet or env.verbose > 0) as meter:
            sink = ndjson_sink(env) if ndjson else meter
            on_data = _discard if quiet else meter.data
            try:
                try:
                    result = run_flow(env, who, lambda client: stream(client, spec, options, on_data,
                                                                      read_timeout), sink)
                except KeyboardInterrupt:
                    raise Interrupted("interrupted", hint=STREAM_RERUN) from None
            except MppError as exc:
                lost_channel_hint(exc)
                if ndjson and not env.json:  # CLI.md: the NDJSON stream ends with an `error` event
                    sink(Event("error", exc.to_json()))
                raise
        if ndjson and not env.json:
            return None
        return Outcome(result.to_json(), "" if not env.json else None)
    run(ctx, json, action)


STREAM_RERUN = ("What arrived was paid for and is saved. Running the command again starts the stream "
                "over from its first chunk, and pays for each chunk it receives again.")


def _discard(_text: str) -> None:
    return None


# --- topup ------------------------------------------------------------------------------------------

def topup_cmd(ctx: typer.Context,
              channel: Annotated[str, typer.Argument(metavar="CHANNEL", help="Channel id, prefix or URL.",
                                                     autocompletion=complete_channel)],
              amount: Annotated[str, typer.Argument(metavar="AMOUNT", help="Amount in token units.")],
              max_spend: MaxSpendOpt = None,
              yes: YesOpt = False, wait: WaitOpt = 0.0, wallet: WalletOpt = None, keypair: KeypairOpt = None,
              rpc: RpcUrlOpt = None, json: JsonOpt = False,
              allow_http: AllowHttpOpt = False) -> None:
    """Add to a channel's deposit (within --max-spend / max_spend, like every paying command)."""
    def action(env: Env) -> Outcome:
        from mppcli.client.context import token_amount
        from mppcli.client.topup import requested_top_up

        who = Who(wallet, keypair, rpc, allow_http, wait)
        options = _options(env, who, yes=yes, max_spend=max_spend)
        record = _store(env).find(channel)
        base = token_amount(amount, record.decimals, "AMOUNT")
        assert base is not None
        confirm_now(env, f"Add {_display(record, base)} to channel {record.channel_id}?", yes)

        async def flow(client: Client) -> TopUpResult:
            with client.store.lock(record.channel_id, purpose="topping up"):
                return await requested_top_up(client, client.store.get(record.channel_id), base, options)

        result = run_flow(env, who, flow, notes_sink(env))
        data = {"channelId": result.record.channel_id, "deposit": str(result.record.deposit),
                "reference": result.receipt.reference, "amount": str(base), "sponsored": result.sponsored}
        return Outcome(data, f"channel {record.channel_id}: deposit now "
                             f"{_display(result.record, result.record.deposit)}")
    run(ctx, json, action)


def _store(env: Env) -> ChannelStore:
    from mppcli.state.store import ChannelStore

    return ChannelStore(env.paths, warn=env.warn)


# --- close ------------------------------------------------------------------------------------------

def close_cmd(ctx: typer.Context,
              channel: Annotated[str | None, typer.Argument(
                  metavar="[CHANNEL]", autocompletion=complete_channel,
                  help="Channel id, prefix or URL.")] = None,
              all_: Annotated[bool, typer.Option("--all", help="Close every open channel.")] = False,
              force: Annotated[bool, typer.Option("--force", help="Payer escape route: requestClose "
                                                                  "on chain.")] = False,
              finalize: Annotated[bool, typer.Option("--finalize", help="After the grace period: seal "
                                                                        "and withdraw.")] = False,
              yes: YesOpt = False, wait: WaitOpt = 0.0, wallet: WalletOpt = None, keypair: KeypairOpt = None,
              rpc: RpcUrlOpt = None, json: JsonOpt = False,
              allow_http: AllowHttpOpt = False) -> None:
    """Close a channel: cooperatively through the server, or on chain (--force, then --finalize)."""
    def action(env: Env) -> Outcome | None:
        from mppcli.errors import UsageError

        if force and finalize:
            raise UsageError("--force and --finalize are two steps; run them one after the other")
        who = Who(wallet, keypair, rpc, allow_http, wait)
        targets = _close_targets(env, channel, all_, force or finalize)
        if force:
            return _force(env, who, targets[0], yes)
        if finalize:
            return _finalize(env, who, targets[0])
        return _cooperative(env, who, targets, all_, yes)
    run(ctx, json, action)


def _close_targets(env: Env, channel: str | None, all_: bool, single: bool) -> list[ChannelRecord]:
    from mppcli.errors import InputError, UsageError
    from mppcli.state.record import ChannelStatus

    store = _store(env)
    if channel is not None and all_:
        raise UsageError("give a CHANNEL or --all, not both")
    if channel is not None:
        return [store.find(channel)]
    if single:
        raise UsageError("--force and --finalize need a CHANNEL")
    live = [r for r in store.list(include_closed=False).records
            if r.status in (ChannelStatus.OPEN, ChannelStatus.CLOSING)]
    if all_ or len(live) == 1:
        return live
    if not live:
        raise InputError("no open channel to close", hint="`mpp channels list --all` shows every channel.")
    raise InputError(f"{len(live)} channels are open: name one, or pass --all",
                     hint="Open channels: " + ", ".join(r.channel_id for r in live))


def _cooperative(env: Env, who: Who, targets: list[ChannelRecord], all_: bool, yes: bool) -> Outcome | None:
    """Close each target; with several, one that fails (server gone, refusal) does not stop the
    others: every channel is reported, and the exit status is the first failure's (#14 item 18)."""
    from mppcli.client.close import close
    from mppcli.errors import MppError

    options = _options(env, who, yes=yes)

    async def flow(client: Client) -> list[Closed | MppError]:
        results: list[Closed | MppError] = []
        for record in targets:
            try:
                results.append(await close(client, record, options))
            except MppError as exc:
                if len(targets) == 1:
                    raise
                if exc.channel_id is None:
                    exc.channel_id = record.channel_id
                lost_channel_hint(exc)
                results.append(exc)
        return results

    results = run_flow(env, who, flow)
    closed = [r for r in results if not isinstance(r, MppError)]
    failed = [r for r in results if isinstance(r, MppError)]
    lines = [f"closed {r.record.channel_id}: settled {_display(r.record, r.record.settled)}, "
             f"refunded {_display(r.record, r.record.refunded)}" for r in closed]
    for error in failed:
        lines.append(f"not closed {error.channel_id}: error[{error.code}]: {error.message}")
        lines += [f"  hint: {error.hint}"] if error.hint else []
    if not all_ and len(results) == 1 and closed:
        return Outcome(closed[0].to_json(), lines[0])
    entries = [r.to_json() if not isinstance(r, MppError) else
               {"channelId": r.channel_id, "status": "failed", "error": r.to_json()} for r in results]
    outcome = Outcome({"channels": entries}, "\n".join(lines) or "nothing to close")
    if not failed:
        return outcome
    from mppcli.cli.output import render_outcome

    render_outcome(env, outcome)
    raise typer.Exit(failed[0].exit_code)


def _force(env: Env, who: Who, record: ChannelRecord, yes: bool) -> Outcome:
    from mppcli.client.close import force_close

    confirm_now(env, f"Force-close channel {record.channel_id} on chain (you pay the fee; the server "
                     f"has {record.grace_period_seconds} s to settle)?", yes)
    result = run_flow(env, who, lambda client: force_close(client, record))
    from mppcli.cli.units import local_time

    return Outcome(result.to_json(), f"requestClose landed for {record.channel_id}; finalize after "
                                     f"{local_time(result.grace_ends_at)} "
                                     f"(`mpp close {record.channel_id} --finalize`)")


def _finalize(env: Env, who: Who, record: ChannelRecord) -> Outcome:
    from mppcli.client.close import finalize

    result = run_flow(env, who, lambda client: finalize(client, record))
    return Outcome(result.to_json(), f"channel {record.channel_id} {result.record.status.value}: "
                                     f"refunded {_display(result.record, result.record.refunded)}")

