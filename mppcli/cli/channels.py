"""`mpp channels …`: the local channel records (list, show, forget).

`channels sync` (the on-chain reconciliation) belongs to the payer flows; a module
`mppcli.cli.channels_sync` exposing `register_sync(channels_app)` is added here when present.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Annotated

import typer

from mppcli.cli.options import JsonOpt, RpcUrlOpt, YesOpt, complete_channel
from mppcli.cli.output import Outcome
from mppcli.cli.runtime import run

if TYPE_CHECKING:
    from mppcli.cli.env import Env
    from mppcli.state.record import ChannelRecord
    from mppcli.state.store import ChannelStore

channels_app = typer.Typer(name="channels", help="The local record of your payment channels.",
                           no_args_is_help=True)

ChannelArg = Annotated[str, typer.Argument(
    metavar="CHANNEL", help="Channel id, a unique prefix of it, or the resource URL.",
    autocompletion=complete_channel)]


def register(app: typer.Typer) -> None:
    """Add `mpp channels` (and `channels sync` when its module is present)."""
    if importlib.util.find_spec("mppcli.cli.channels_sync") is not None:
        from mppcli.cli import channels_sync  # type: ignore[attr-defined,unused-ignore]

        channels_sync.register_sync(channels_app)
    app.add_typer(channels_app)


def _store(env: Env) -> ChannelStore:
    from mppcli.state.store import ChannelStore

    return ChannelStore(env.paths, warn=env.warn)


def list_entry(record: ChannelRecord) -> dict[str, object]:
    """One `channels list` entry (keys fixed by CLI.md)."""
    return {"channelId": record.channel_id, "url": record.url, "network": record.network,
            "status": record.status.value, "mint": record.mint, "deposit": str(record.deposit),
            "cumulative": str(record.cumulative), "spent": str(record.spent)}


@channels_app.command("list")
def list_cmd(ctx: typer.Context,
             all_: Annotated[bool, typer.Option("--all", "-a", help="Include closed channels.")] = False,
             json: JsonOpt = False) -> None:
    """List the channels this machine knows (open ones; --all for closed ones too)."""
    def action(env: Env) -> Outcome:
        listing = _store(env).list(include_closed=all_)
        data = {"channels": [list_entry(r) for r in listing.records],
                "problems": [p.to_json() for p in listing.problems]}
        return Outcome(data, _list_text(listing.records, all_))
    run(ctx, json, action)


def _list_text(records: tuple[ChannelRecord, ...], all_: bool) -> str:
    from mppcli.cli.units import record_amount

    if not records:
        return "no channels" if all_ else "no open channels (--all shows closed ones)"
    rows = [("CHANNEL", "STATUS", "DEPOSIT", "CUMULATIVE", "SPENT", "NETWORK", "URL")]
    rows += [(r.channel_id, r.status.value, record_amount(r, r.deposit),
              record_amount(r, r.cumulative), record_amount(r, r.spent),
              r.network, r.url) for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
                     for row in rows)


@channels_app.command("show")
def show_cmd(ctx: typer.Context, channel: ChannelArg, rpc: RpcUrlOpt = None, json: JsonOpt = False) -> None:
    """Show the local record of one channel, plus its on-chain account when the RPC answers."""
    def action(env: Env) -> Outcome:
        store = _store(env)
        record = store.find(channel)
        chain = _on_chain(env, record, rpc)
        record = _settle_pending(env, store, record, chain.get("chain"))
        doc = {**record.to_json(), **chain}
        return Outcome(doc, show_text(record, doc))
    run(ctx, json, action)


CHAIN_TIMEOUT = 5.0  # a view, not a flow: an unreachable RPC must not hold the command for long


def _on_chain(env: Env, record: ChannelRecord, url_flag: str | None) -> dict[str, object]:
    """`chain`: the decoded account (`{"status": "absent"}` once gone), or None and `chainError`."""
    import asyncio

    from mppcli.errors import MppError

    try:
        return {"chain": asyncio.run(_read_chain(env, record, url_flag))}
    except MppError as exc:
        if exc.code in ("E_USAGE", "E_CONFIG"):
            raise
        return {"chain": None, "chainError": exc.message}


async def _read_chain(env: Env, record: ChannelRecord, url_flag: str | None) -> object:
    from mppcli.chain.networks import NETWORKS
    from mppcli.client import chainio
    from mppcli.client.sync import chain_summary
    from mppcli.config import resolve_setting
    from mppcli.rpc import Rpc

    setting = resolve_setting(env.paths, env.environ, "rpc_url", url_flag)
    url = str(setting.value)
    if setting.source == "default" and record.network in NETWORKS:
        url = NETWORKS[record.network].rpc_url
    rpc = Rpc(url, timeout=CHAIN_TIMEOUT)
    try:
        return chain_summary(await chainio.read_channel(rpc, record.channel_id, record.program_id))
    finally:
        await rpc.close()


def _settle_pending(env: Env, store: ChannelStore, record: ChannelRecord, chain: object) -> ChannelRecord:
    """Judge a pending top-up against the account just read, unless a flow holds the channel
    (a top-up in flight is that flow's to settle)."""
    if record.pending_top_up is None or not isinstance(chain, dict):
        return record
    from mppcli.client.pending import reconcile_pending
    from mppcli.errors import BusyError

    deposit = chain.get("deposit")
    try:
        with store.lock(record.channel_id, purpose="settling a pending top-up"):
            settled = reconcile_pending(store, record.channel_id,
                                        int(deposit) if isinstance(deposit, str) else None)
    except BusyError:
        return record
    env.warn(settled.message)
    return settled.record


# Keys of the record (and of its on-chain view) that hold base units, or unix times.
AMOUNT_KEYS = frozenset({"deposit", "signedCumulative", "acceptedCumulative", "spent", "settled", "refunded",
                         "amount", "depositBefore"})
TIME_KEYS = frozenset({"createdAt", "updatedAt", "closureStartedAt", "payerWithdrawnAt"})


def show_text(record: ChannelRecord, doc: dict[str, object]) -> str:
    """`key: value` lines, with amounts in token units (and symbol) and times in local ISO 8601."""
    return "\n".join(f"{key}: {_human(record, key, value)}" for key, value in doc.items())


def _human(record: ChannelRecord, key: str, value: object) -> str:
    from mppcli.cli.units import local_time, plain, record_amount

    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_human(record, k, v)}" for k, v in value.items()) + "}"
    if key in AMOUNT_KEYS and isinstance(value, str | int) and str(value).isdigit():
        return record_amount(record, int(value))
    if key in TIME_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
        return local_time(value)
    return plain(value)


@channels_app.command("forget")
def forget_cmd(ctx: typer.Context, channel: ChannelArg, yes: YesOpt = False, json: JsonOpt = False) -> None:
    """Delete a channel's local record and its session key (the chain is not touched)."""
    def action(env: Env) -> Outcome:
        from mppcli.cli.wallet import confirm

        store = _store(env)
        record = store.find(channel)
        confirm(env, _forget_question(record), yes)
        with store.lock(record.channel_id, purpose="forgetting the channel"):
            deleted = _delete_session_key(env, store.get(record.channel_id))
            store.forget(record.channel_id)
        return Outcome({"channelId": record.channel_id, "sessionKeyDeleted": deleted},
                       f"forgot channel {record.channel_id}"
                       + (" and deleted its session key" if deleted else ""))
    run(ctx, json, action)


def _forget_question(record: ChannelRecord) -> str:
    question = f"Forget channel {record.channel_id} ({record.status.value}, {record.url})?"
    if record.is_live:
        question += (" It is not closed: its deposit stays on chain, and recovering it then needs "
                     "`mpp channels sync` and a forced close by the payer.")
    return question


def _delete_session_key(env: Env, record: ChannelRecord) -> bool:
    from mppcli.state.record import SignerKind
    from mppcli.wallet.keystore import Keystore

    if record.signer_kind is not SignerKind.SESSION:
        return False
    return Keystore(env.paths).delete_session_key(record.authorized_signer)
