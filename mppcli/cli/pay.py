"""The paying commands: `mpp open`, `request`, `stream`, `topup`, `close` (CLI.md "Paying").

Each command parses its flags into `PayOptions`, runs one flow of `mppcli.client` and renders the
result: content on stdout, spend and progress on stderr, `--json` summaries with CLI.md's keys.
Only Typer is imported at module level; the flows load inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mppcli.cli.options import JsonOpt, KeypairOpt, RpcUrlOpt, WalletOpt, YesOpt
from mppcli.cli.output import Outcome
from mppcli.cli.paying import SpendMeter, Who, confirm_now, ndjson_sink, notes_sink, pay_options, run_flow
from mppcli.cli.runtime import run

if TYPE_CHECKING:

    from mppcli.cli.env import Env
    from mppcli.client.close import Closed
    from mppcli.client.context import Client, PayOptions
    from mppcli.client.http import Answer
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
IdleOpt = Annotated[int | None, typer.Option(
    "--idle-timeout", metavar="SECS", help="Idle timeout to choose among the server's options.")]
ChannelOpt = Annotated[str, typer.Option(
    "--channel", metavar="auto|new|ID", help="Reuse the live channel (auto), always open (new), or "
                                             "pay with this channel.")]
SignerOpt = Annotated[str, typer.Option(
    "--signer", metavar="session|payer", help="Sign vouchers with a fresh session key (default) or "
                                              "the payer key.")]
AllowMintOpt = Annotated[list[str] | None, typer.Option(
    "--allow-mint", metavar="MINT", help="Also accept this mint (repeatable).")]
MethodOpt = Annotated[str | None, typer.Option("--request", "-X", metavar="M",
                                               help="HTTP method (default GET, or POST with -d).")]
HeaderOpt = Annotated[list[str] | None, typer.Option("--header", "-H", metavar="'K: V'",
                                                     help="Extra request header (repeatable).")]
DataOpt = Annotated[str | None, typer.Option("--data", "-d", metavar="DATA",
                                             help="Request body; @FILE reads a file, @- stdin.")]
RetriesOpt = Annotated[int, typer.Option("--retries", min=0, max=100,
                                         help="Reconnect a dropped stream this many times.")]


def register(app: typer.Typer) -> None:
    """Add the paying commands."""
    app.command("open")(open_cmd)
    app.command("request")(request_cmd)
    app.command("stream")(stream_cmd)
    app.command("topup")(topup_cmd)
    app.command("close")(close_cmd)


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
             signer: SignerOpt = "session", allow_mint: AllowMintOpt = None, wallet: WalletOpt = None,
             keypair: KeypairOpt = None, rpc: RpcUrlOpt = None, json: JsonOpt = False) -> None:
    """Open a payment channel for the URL's session challenge."""
    def action(env: Env) -> Outcome:
        from mppcli.client.http import request_spec
        from mppcli.client.open import open_for

        who = Who(wallet, keypair, rpc)
        options = _options(env, who, deposit=deposit, max_spend=max_spend, idle_timeout=idle_timeout,
                           yes=yes, signer=signer, allow_mints=allow_mint, channel="new" if new else "auto")
        spec = request_spec(url, None, [], None)
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
    from mppcli.protocol.amounts import format_amount

    return format_amount(amount, record.decimals)


# --- request ----------------------------------------------------------------------------------------

def request_cmd(ctx: typer.Context, url: UrlArg, method: MethodOpt = None, header: HeaderOpt = None,
                data: DataOpt = None, channel: ChannelOpt = "auto", max_spend: MaxSpendOpt = None,
                deposit: DepositOpt = None, idle_timeout: IdleOpt = None,
                output: Annotated[Path | None, typer.Option("--output", "-o", metavar="FILE",
                                                            help="Write the body to FILE.")] = None,
                include: Annotated[bool, typer.Option("--include", "-i",
                                                      help="Print the status line and headers.")] = False,
                yes: YesOpt = False, signer: SignerOpt = "session", allow_mint: AllowMintOpt = None,
                wallet: WalletOpt = None, keypair: KeypairOpt = None, rpc: RpcUrlOpt = None,
                json: JsonOpt = False) -> None:
    """One paid request, curl-like: opens a channel when needed, pays exactly the price."""
    def action(env: Env) -> Outcome | None:
        from mppcli.client.http import request_spec
        from mppcli.client.request import paid_request

        who = Who(wallet, keypair, rpc)
        options = _options(env, who, deposit=deposit, max_spend=max_spend, idle_timeout=idle_timeout,
                           yes=yes, signer=signer, allow_mints=allow_mint, channel=channel)
        spec = request_spec(url, method, header or [], data)
        with SpendMeter(env, enabled=not env.json and env.verbose > 0) as meter:
            result = run_flow(env, who, lambda client: paid_request(client, spec, options), meter)
        return _request_outcome(env, result, output, include)
    run(ctx, json, action)


def _request_outcome(env: Env, result: Any, output: Path | None, include: bool) -> Outcome | None:
    answer: Answer = result.answer
    paid = result.paid
    if output is not None:
        _write(output, answer.body)
    if paid is not None and not env.json:
        record = paid.record
        env.info(f"paid {_display(record, paid.amount)} on channel "
                 f"{record.channel_id} (cumulative {paid.cumulative}, spent {record.spent})")
    if env.json:
        return Outcome(_request_data(answer, paid))
    if include:
        _print_head(env, answer)
    if output is None:
        env.stdout.buffer.write(answer.body) if hasattr(env.stdout, "buffer") else env.stdout.write(
            answer.body.decode("utf-8", "replace"))
        env.stdout.flush()
    return None


def _request_data(answer: Answer, paid: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"status": answer.status, "channelId": None, "cumulative": None, "spent": None,
                            "receipt": None, "body": answer.body.decode("utf-8", "replace")}
    if paid is not None:
        data.update(channelId=paid.record.channel_id, cumulative=str(paid.cumulative),
                    spent=str(paid.record.spent), receipt=paid.receipt.to_json())
    return data


def _print_head(env: Env, answer: Answer) -> None:
    lines = [f"{answer.http_version} {answer.status} {answer.reason}".rstrip()]
    lines += [f"{name}: {value}" for name, values in answer.headers.items() for value in values]
    print("\r\n".join(lines) + "\r\n\r\n", end="", file=env.stdout, flush=True)


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
               yes: YesOpt = False, signer: SignerOpt = "session",
               allow_mint: AllowMintOpt = None, wallet: WalletOpt = None, keypair: KeypairOpt = None,
               rpc: RpcUrlOpt = None, json: JsonOpt = False) -> None:
    """Consume a metered SSE stream, committing vouchers as the server meters."""
    def action(env: Env) -> Outcome | None:
        from mppcli.client.events import Event
        from mppcli.client.http import request_spec
        from mppcli.client.stream import stream
        from mppcli.errors import Interrupted, MppError

        who = Who(wallet, keypair, rpc)
        options = _options(env, who, deposit=deposit, max_spend=max_spend, idle_timeout=idle_timeout,
                           yes=yes, signer=signer, allow_mints=allow_mint, channel=channel, retries=retries)
        spec = request_spec(url, method, header or [], data)
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
              channel: Annotated[str, typer.Argument(metavar="CHANNEL", help="Channel id, prefix or URL.")],
              amount: Annotated[str, typer.Argument(metavar="AMOUNT", help="Amount in token units.")],
              yes: YesOpt = False, wallet: WalletOpt = None, keypair: KeypairOpt = None,
              rpc: RpcUrlOpt = None, json: JsonOpt = False) -> None:
    """Add to a channel's deposit."""
    def action(env: Env) -> Outcome:
        from mppcli.client.context import token_amount
        from mppcli.client.topup import top_up

        who = Who(wallet, keypair, rpc)
        options = _options(env, who, yes=yes)
        record = _store(env).find(channel)
        base = token_amount(amount, record.decimals, "AMOUNT")
        assert base is not None
        confirm_now(env, f"Add {_display(record, base)} to channel {record.channel_id}?", yes)

        async def flow(client: Client) -> TopUpResult:
            with client.store.lock(record.channel_id, purpose="topping up"):
                return await top_up(client, client.store.get(record.channel_id), base, options)

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
              channel: Annotated[str | None, typer.Argument(metavar="[CHANNEL]",
                                                            help="Channel id, prefix or URL.")] = None,
              all_: Annotated[bool, typer.Option("--all", help="Close every open channel.")] = False,
              force: Annotated[bool, typer.Option("--force", help="Payer escape route: requestClose "
                                                                  "on chain.")] = False,
              finalize: Annotated[bool, typer.Option("--finalize", help="After the grace period: seal "
                                                                        "and withdraw.")] = False,
              yes: YesOpt = False, wallet: WalletOpt = None, keypair: KeypairOpt = None,
              rpc: RpcUrlOpt = None, json: JsonOpt = False) -> None:
    """Close a channel: cooperatively through the server, or on chain (--force, then --finalize)."""
    def action(env: Env) -> Outcome:
        from mppcli.errors import UsageError

        if force and finalize:
            raise UsageError("--force and --finalize are two steps; run them one after the other")
        who = Who(wallet, keypair, rpc)
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


def _cooperative(env: Env, who: Who, targets: list[ChannelRecord], all_: bool, yes: bool) -> Outcome:
    from mppcli.client.close import close

    options = _options(env, who, yes=yes)

    async def flow(client: Client) -> list[Closed]:
        return [await close(client, record, options) for record in targets]

    results = run_flow(env, who, flow)
    lines = [f"closed {r.record.channel_id}: settled {r.record.settled}, refunded {r.record.refunded}"
             for r in results]
    if all_ or len(results) != 1:
        return Outcome({"channels": [r.to_json() for r in results]}, "\n".join(lines) or "nothing to close")
    return Outcome(results[0].to_json(), lines[0])


def _force(env: Env, who: Who, record: ChannelRecord, yes: bool) -> Outcome:
    from mppcli.client.close import force_close

    confirm_now(env, f"Force-close channel {record.channel_id} on chain (you pay the fee; the server "
                     f"has {record.grace_period_seconds} s to settle)?", yes)
    result = run_flow(env, who, lambda client: force_close(client, record))
    return Outcome(result.to_json(), f"requestClose landed for {record.channel_id}; finalize after "
                                     f"{result.grace_ends_at} (`mpp close {record.channel_id} --finalize`)")


def _finalize(env: Env, who: Who, record: ChannelRecord) -> Outcome:
    from mppcli.client.close import finalize

    result = run_flow(env, who, lambda client: finalize(client, record))
    return Outcome(result.to_json(), f"channel {record.channel_id} {result.record.status.value}: "
                                     f"refunded {result.record.refunded}")

