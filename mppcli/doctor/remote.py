"""Doctor's probes that reach out: the RPC (reachable? which cluster?) and the channels needing care.

RPC calls go through `mppcli.rpc.Rpc`, like every other command, under one overall time limit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from mppcli.config import Setting
from mppcli.doctor.checks import Check, DoctorInput
from mppcli.errors import InternalError, MalformedError, MppError

if TYPE_CHECKING:
    from mppcli.rpc import Rpc

T = TypeVar("T")
GRACE_SOON_SECONDS = 3600  # a forced close whose grace ends within the hour is worth a warning


@dataclass(frozen=True)
class Cluster:
    """What the RPC said about itself."""

    url: str
    genesis_hash: str
    network: str  # a chain.networks name; localnet for any cluster that is not a known public one


def check_rpc(given: DoctorInput, setting: Setting | None) -> tuple[Check, Cluster | None]:
    """Reach the configured RPC: genesis hash (→ cluster), current slot, round-trip time."""
    if setting is None or setting.value is None:
        return Check("rpc", "skip", "no usable RPC URL (see the config check)"), None
    url = setting.value
    data: dict[str, object] = {"url": url, "source": setting.source}
    started = time.monotonic()
    try:
        genesis, slot = with_rpc(url, given.timeout, _genesis_and_slot)
    except (MppError, TimeoutError, OSError) as exc:
        return Check("rpc", "fail", f"{url} is not answering: {_reason(exc, given.timeout)}", data,
                     hint="Check the URL (-u/--url, MPP_RPC_URL, `mpp config set rpc_url`) and the "
                          "network; `mpp localnet` runs a local one."), None
    except Exception as exc:  # a bug in the probe: still report which URL was being probed
        return Check("rpc", "fail", f"probing {url} crashed: {type(exc).__name__}: {exc}", data,
                     hint=InternalError.default_hint), None
    cluster = Cluster(url, genesis, identify_network(genesis))
    data |= {"genesisHash": genesis, "network": cluster.network, "slot": slot,
             "latencyMs": round((time.monotonic() - started) * 1000)}
    known = "" if cluster.network != "localnet" else " (not a known public cluster)"
    summary = f"{url}: {cluster.network}{known}, genesis {genesis}, slot {slot}"
    return Check("rpc", "ok", summary, data), cluster


async def _genesis_and_slot(rpc: Rpc) -> tuple[str, int]:
    genesis = await rpc.genesis_hash()
    slot = await rpc.slot()
    return str(genesis), int(slot)


def _reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    return exc.message if isinstance(exc, MppError) else f"{type(exc).__name__}: {exc}"


def identify_network(genesis_hash: str) -> str:
    """The known cluster with this genesis hash, or `localnet` for any other (as client policy does)."""
    from mppcli.chain.networks import network_for_genesis

    known = network_for_genesis(genesis_hash)
    return known.name if known is not None else "localnet"


def with_rpc(url: str, timeout: float, work: Callable[[Rpc], Awaitable[T]]) -> T:
    """Run `work(rpc)` against `url` on a fresh event loop, all of it within `timeout` seconds."""

    async def session() -> T:
        from mppcli.rpc import Rpc

        async with Rpc(url, timeout=timeout) as rpc:
            return await asyncio.wait_for(work(rpc), timeout)

    return asyncio.run(session())


@dataclass(frozen=True)
class OnChain:
    """What the chain says of one channel: its status (None: no Channel account) and grace end."""

    status: str | None
    grace_ends_at: int | None = None  # closure_started_at + grace_period, while CLOSING


def check_channels(given: DoctorInput, cluster: Cluster | None) -> Check:
    """Live local channels whose state needs the user: unconfirmed opens, closes, refunds to collect."""
    from mppcli.state.store import ChannelStore

    try:
        listing = ChannelStore(given.paths, warn=lambda _message: None).list(include_closed=False)
    except MppError as exc:
        return Check("channels", "fail", exc.message, hint=exc.hint)
    seen, now = _closing_on_chain(given, cluster, listing.records)
    attention = [item for record in listing.records if (item := attention_item(record, seen, now))]
    problems = [problem.to_json() for problem in listing.problems]
    data = {"live": len(listing.records), "attention": attention, "problems": problems}
    if not attention and not problems:
        return Check("channels", "ok", f"{len(listing.records)} live, none needs attention", data)
    summary = "; ".join([f"{item['channelId']}: {item['reason']}" for item in attention]
                        + [f"{p['file']}: {p['reason']}" for p in problems])
    return Check("channels", "warn", summary, data, hint=_first_hint(attention))


def _first_hint(attention: list[dict[str, object]]) -> str | None:
    return str(attention[0]["hint"]) if attention else "Run `mpp channels sync` to rebuild damaged records."


def attention_item(record: Any, chain: Mapping[str, OnChain], now: float) -> dict[str, object] | None:
    """Why this channel needs the user, and the command that helps; None when it does not.

    Local statuses as the client's machine sets them: `closing` is a cooperative close sent or a
    forced close landed (grace running), `pending-finalize` is sealed with the refund still to
    collect, `orphaned` is on chain with no server session behind it. `chain` holds what the RPC
    said of `closing` channels (absent: not looked up).
    """
    status, cid = str(record.status.value), record.channel_id
    seen = chain.get(cid)
    if status == "opening":
        reason, hint = "open recorded but not confirmed", f"`mpp channels sync {cid}` checks the chain."
    elif status == "closing":
        reason, hint = _closing_reason(cid, seen, now)
    elif status == "pending-finalize":
        reason, hint = "sealed on chain; the refund is waiting to be collected", \
            f"Run `mpp close {cid} --finalize`."
    elif status == "orphaned":
        reason, hint = "on chain, but no server session backs it", \
            f"`mpp close {cid} --force` starts the payer's refund route."
    else:
        return None
    item: dict[str, object] = {"channelId": cid, "url": record.url, "status": status, "reason": reason,
                               "hint": hint}
    if seen is not None:
        item["chainStatus"] = seen.status
        if seen.grace_ends_at is not None:
            item["graceEndsAt"] = seen.grace_ends_at
    return item


def _closing_reason(cid: str, seen: OnChain | None, now: float) -> tuple[str, str]:
    finalize = f"`mpp close {cid} --finalize`"
    if seen is None:
        return ("a close is in progress (cooperative, or forced with a grace period); the RPC was not asked",
                f"`mpp channels sync {cid}` shows which; `mpp close {cid}` retries a cooperative close.")
    if seen.grace_ends_at is None:
        if seen.status == "open":
            return "a cooperative close did not finish", f"`mpp close {cid}` retries it."
        shown = seen.status or "gone"
        return f"the chain shows it {shown}", f"`mpp channels sync {cid}` updates the record."
    left = seen.grace_ends_at - int(now)
    if left <= 0:
        return "forced close: the grace period is over, the deposit can be reclaimed now", f"Run {finalize}."
    soon = " (soon)" if left <= GRACE_SOON_SECONDS else ""
    return f"forced close: grace period ends in {left} s{soon}", f"Run {finalize} after it ends."


def _closing_on_chain(given: DoctorInput, cluster: Cluster | None,
                      records: Iterable[Any]) -> tuple[dict[str, OnChain], float]:
    """The on-chain view of each `closing` channel on the RPC's cluster, and the time to judge
    grace periods by: the cluster's clock when it is ahead of ours (as `mpp close` does)."""
    wanted = [r.channel_id for r in records
              if str(r.status.value) == "closing" and cluster and r.network == cluster.network]
    if not wanted or cluster is None:
        return {}, given.now
    try:
        views, cluster_now = with_rpc(cluster.url, given.timeout, lambda rpc: _fetch(rpc, wanted))
    except (MppError, TimeoutError, OSError):
        return {}, given.now
    return views, max(given.now, cluster_now)


async def _fetch(rpc: Rpc, channel_ids: list[str]) -> tuple[dict[str, OnChain], int]:
    from solders.pubkey import Pubkey

    from mppcli.chain.channel import ChannelStatus, decode_channel
    from mppcli.client.close import CLOCK_SYSVAR

    *found, clock = await rpc.accounts([*(Pubkey.from_string(cid) for cid in channel_ids),
                                        Pubkey.from_string(CLOCK_SYSVAR)])
    sysvar = clock.clock() if clock is not None else None
    cluster_now = sysvar.unix_timestamp if sysvar is not None else 0
    views: dict[str, OnChain] = {}
    for cid, account in zip(channel_ids, found, strict=True):
        try:
            channel = decode_channel(account.data) if account is not None else None
        except MalformedError:  # some other account: there is no channel at that address
            channel = None
        if channel is None:
            views[cid] = OnChain(None)
        elif channel.status is ChannelStatus.CLOSING and channel.closure_started_at:
            views[cid] = OnChain("closing", channel.closure_started_at + channel.grace_period)
        else:
            views[cid] = OnChain(channel.status.name.lower())
    return views, cluster_now
