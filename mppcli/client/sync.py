"""`mpp channels sync`: reconcile each local record with its on-chain account, and find the rest.

For every record: read the channel account and feed what it says to the machine (open, closing,
sealed, distributed, or gone); an `opening` record whose account is absent is closed once its open
can no longer land (its `openSlot` is past the 1500-slot window). A top-up the record holds as
pending is settled against the account first (`client.pending`). Then, for the current payer,
`getProgramAccounts` on the payer offset finds channels the record lacks: they are recorded as
`orphaned` (no server session is known for them; `mpp close --force` gets the money back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mppcli.client import chainio, records, salvage
from mppcli.client import machine as m
from mppcli.client.context import Client
from mppcli.client.pending import reconcile_pending
from mppcli.client.resolve import reconcile_opening
from mppcli.errors import KeyringError, MppError
from mppcli.state.record import ChannelRecord, ChannelStatus, SignerKind

UNKNOWN = "unknown"  # the server of a channel found on chain (the chain does not say)


@dataclass(frozen=True)
class Synced:
    channel_id: str
    before: dict[str, Any]
    after: dict[str, Any]
    chain: dict[str, Any] | None
    found: bool = False
    error: str | None = None
    changed: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"channelId": self.channel_id, "status": self.after.get("status"),
                                "local": self.before, "after": self.after, "chain": self.chain,
                                "changed": list(self.changed), "discovered": self.found}
        if self.error:
            data["error"] = self.error
        return data


def _summary(record: ChannelRecord) -> dict[str, Any]:
    return {"status": record.status.value, "deposit": str(record.deposit), "settled": str(record.settled)}


def chain_summary(seen: chainio.ChainChannel) -> dict[str, Any] | None:
    acc = seen.account
    if acc is None:
        return {"status": "absent"}
    return {"status": acc.status.name.lower(), "deposit": str(acc.deposit), "settled": str(acc.settled),
            "closureStartedAt": acc.closure_started_at, "payerWithdrawnAt": acc.payer_withdrawn_at}


async def sync(client: Client, targets: list[ChannelRecord], discover: bool) -> list[Synced]:
    results = [await sync_one(client, record) for record in targets]
    if discover:
        results += await _discover(client, {r.channel_id for r in client.store.list().records})
    return results


async def sync_one(client: Client, record: ChannelRecord) -> Synced:
    before = _summary(record)
    try:
        client.use_network(record.network)
        with client.store.lock(record.channel_id, purpose="syncing the channel"):
            record = client.store.get(record.channel_id)
            seen = await chainio.read_channel(client.rpc, record.channel_id, record.program_id)
            if record.pending_top_up is not None:
                record = _settle_pending(client, record, seen)
            updated = await _apply(client, record, seen)
    except MppError as exc:
        return Synced(record.channel_id, before, before, None, error=exc.message)
    after = _summary(updated)
    changed = tuple(k for k in before if before[k] != after[k])
    return Synced(record.channel_id, before, after, chain_summary(seen), changed=changed)


def _settle_pending(client: Client, record: ChannelRecord, seen: chainio.ChainChannel) -> ChannelRecord:
    deposit = seen.account.deposit if seen.account is not None else None
    settled = reconcile_pending(client.store, record.channel_id, deposit)
    client.emit("info", message=settled.message)
    return settled.record


async def _apply(client: Client, record: ChannelRecord, seen: chainio.ChainChannel) -> ChannelRecord:
    if record.status is ChannelStatus.OPENING and seen.account is None:
        return await reconcile_opening(client, record)
    event = seen.event()
    view = records.view_of(record)
    if (view.status, type(event)) not in m.TRANSITIONS:
        return record  # e.g. a closed record whose account is still being drained by others
    refund = _refund(record, seen)
    if refund is not None and view.status is m.Status.PENDING_FINALIZE:
        return records.advance(client.store, record.channel_id, m.Withdrawn(*refund))
    return records.advance(client.store, record.channel_id, event)


def _refund(record: ChannelRecord, seen: chainio.ChainChannel) -> tuple[int, int] | None:
    """(settled, refunded) once the payer's refund is paid (withdrawn, or drained by distribute)."""
    acc = seen.account
    if acc is None:
        return None
    from mppcli.chain.channel import ChannelStatus as OnChain

    if acc.payer_withdrawn_at or acc.status is OnChain.DISTRIBUTED:
        return acc.settled, acc.deposit - acc.settled
    return None


async def _discover(client: Client, known: set[str]) -> list[Synced]:
    """Channels of this payer on chain that no record knows: recorded as orphaned."""
    from mppcli.chain.constants import PROGRAM_ID

    payer = str(client.payer.pubkey)
    found = []
    damaged = salvage.damaged_channels(client)
    for channel_id in await chainio.payer_channel_ids(client.rpc, payer, str(PROGRAM_ID)):
        if channel_id in known:
            continue
        seen = await chainio.read_channel(client.rpc, channel_id, str(PROGRAM_ID))
        if seen.account is None:
            continue
        record = await _orphan_record(client, channel_id, seen)
        if channel_id in damaged:
            record = await _rebuilt(client, record, damaged[channel_id], seen)
        created = client.store.create(record)
        updated = records.advance(client.store, channel_id, seen.event()) \
            if seen.account.status.name != "OPEN" else created
        found.append(Synced(channel_id, {"status": "unknown"}, _summary(updated), chain_summary(seen),
                            found=True, changed=("status",)))
    return found


async def _rebuilt(client: Client, record: ChannelRecord, paths: list[Any],
                   seen: chainio.ChainChannel) -> ChannelRecord:
    """A channel whose record was damaged: completed from the damaged files (verified vouchers,
    the URL), and `open` again when its server still resumes it (a cooperative close then works)."""
    acc = seen.account
    assert acc is not None
    found = salvage.salvage(paths, record.channel_id, record.authorized_signer, acc.deposit)
    rebuilt = salvage.rebuilt(record, found)
    if found.url is None or acc.status.name != "OPEN" or rebuilt.signer_kind is SignerKind.OPERATOR:
        return rebuilt
    if await salvage.resumed_by_server(client, rebuilt):
        client.emit("info", message=f"channel {record.channel_id}: record rebuilt from the chain and its "
                                    f"damaged file; {rebuilt.url} still resumes it")
        return salvage.live(rebuilt)
    return rebuilt


async def _orphan_record(client: Client, channel_id: str, seen: chainio.ChainChannel) -> ChannelRecord:
    from mppcli.chain.constants import PROGRAM_ID
    from mppcli.chain.networks import network_for_genesis

    acc = seen.account
    assert acc is not None
    owner, data = await chainio.mint_account(client.rpc, str(acc.mint))
    net = network_for_genesis(await chainio.genesis_hash(client.rpc))
    return ChannelRecord(
        channel_id=channel_id, url=f"solana:{channel_id}", origin=UNKNOWN, realm=UNKNOWN,
        network=net.name if net else "localnet",
        program_id=str(PROGRAM_ID), payer=str(acc.payer), payee=str(acc.payee), mint=str(acc.mint),
        token_program=owner or "", decimals=data[44] if data and len(data) > 44 else 0,
        authorized_signer=str(acc.authorized_signer), signer_kind=_signer_kind(client, acc),
        salt=acc.salt, open_slot=acc.open_slot, deposit=acc.deposit, grace_period_seconds=acc.grace_period,
        fee_payer_key=None if acc.rent_payer == acc.payer else str(acc.rent_payer),
        status=ChannelStatus.ORPHANED, settled=acc.settled)


def _signer_kind(client: Client, acc: Any) -> SignerKind:
    if acc.authorized_signer == acc.payer:
        return SignerKind.PAYER
    try:
        client.keystore.session_key(str(acc.authorized_signer))
        return SignerKind.SESSION
    except KeyringError:
        return SignerKind.OPERATOR
