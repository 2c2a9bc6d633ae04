"""`mpp channels sync [CHANNEL]`: reconcile the local records with the chain (registered by
`cli/channels.py`). Per channel: local vs on-chain deposit, settled and status, and what changed;
without CHANNEL it also finds this payer's channels the record lacks (recorded as `orphaned`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mppcli.cli.options import JsonOpt, KeypairOpt, RpcUrlOpt, WalletOpt
from mppcli.cli.output import Outcome
from mppcli.cli.runtime import run

if TYPE_CHECKING:
    from mppcli.cli.env import Env


def register_sync(channels_app: typer.Typer) -> None:
    channels_app.command("sync")(sync_cmd)


def sync_cmd(ctx: typer.Context,
             channel: Annotated[str | None, typer.Argument(metavar="[CHANNEL]",
                                                           help="Channel id, prefix or URL.")] = None,
             discover: Annotated[bool, typer.Option(
                 "--discover/--no-discover", help="Also look on chain for channels of this payer "
                                                  "the record lacks (default when no CHANNEL).")] = True,
             wallet: WalletOpt = None, keypair: KeypairOpt = None, rpc: RpcUrlOpt = None,
             json: JsonOpt = False) -> None:
    """Reconcile channel records with their on-chain accounts."""
    def action(env: Env) -> Outcome:
        from mppcli.cli.paying import Who, notes_sink, run_flow
        from mppcli.client.sync import sync
        from mppcli.state.store import ChannelStore

        store = ChannelStore(env.paths, warn=env.warn)
        targets = [store.find(channel)] if channel else list(store.list(include_closed=False).records)
        who = Who(wallet, keypair, rpc)
        results = run_flow(env, who, lambda client: sync(client, targets, discover and channel is None),
                           notes_sink(env))
        entries = [r.to_json() for r in results]
        return Outcome({"channels": entries}, _human(entries))
    run(ctx, json, action)


def _human(entries: list[dict[str, object]]) -> str:
    if not entries:
        return "no channels to sync"
    lines = []
    for entry in entries:
        changed = entry.get("changed")
        names = [str(c) for c in changed] if isinstance(changed, list) else []
        note = f"error: {entry['error']}" if entry.get("error") else (
            f"changed {', '.join(names)}" if names else "unchanged")
        chain = entry.get("chain") or {}
        found = " (found on chain)" if entry.get("discovered") else ""
        chain_status = chain.get("status", "?") if isinstance(chain, dict) else "?"
        lines.append(f"{entry['channelId']}: {entry['status']} (chain: {chain_status}); {note}{found}")
    return "\n".join(lines)
