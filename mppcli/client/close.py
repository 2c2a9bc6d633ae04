"""Ending a channel: cooperatively through the server, or on chain without it.

Cooperative (spec §Action "close", §Close (Cooperative)): the close carries the last voucher the
server accepted, resent byte-identical (the reference accepts at close only a higher voucher or the
very same one, PROTOCOL-NOTES §4.7). When the record also holds a higher voucher the server never
confirmed (a crash between sending and recording), that identical voucher is the second try: the
server may already hold it. Nothing new is ever signed for a close, except a voucher for 0 when
nothing was ever paid. The result is checked against the chain.

Forced (spec §Forced Close): `requestClose` signed and paid by the payer; after the grace period
`seal` + `withdrawPayer` (and `distribute`, which pays the payee side and closes the escrow).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mppcli.client import chainio, records
from mppcli.client import machine as m
from mppcli.client.context import Client, PayOptions
from mppcli.client.credentials import Reply, check_transport, send_credential
from mppcli.client.http import RequestSpec
from mppcli.client.signing import read_voucher, sign_and_record, signer_keypair, voucher_text
from mppcli.client.topup import channel_keys, fresh_offer
from mppcli.client.vetting import vet_offer
from mppcli.errors import InputError, PaymentRejected, PolicyError, ProtocolViolation, RpcError
from mppcli.protocol.actions import CloseAction
from mppcli.protocol.bearer import parse_authentication
from mppcli.state.record import ChannelRecord, ChannelStatus, VoucherSigner

FEE_LAMPORTS = 10_000
CLOCK_SYSVAR = "SysvarC1ock11111111111111111111111111111111"  # unix_timestamp: i64 at offset 32


@dataclass(frozen=True)
class Closed:
    record: ChannelRecord
    tx_hash: str | None

    def to_json(self) -> dict[str, Any]:
        r = self.record
        return {"channelId": r.channel_id, "status": r.status.value, "settled": str(r.settled),
                "refunded": str(r.refunded), "txHash": self.tx_hash}


# --- cooperative ------------------------------------------------------------------------------------

async def close(client: Client, record: ChannelRecord, options: PayOptions) -> Closed:
    """Cooperative close under the channel lock."""
    with client.store.lock(record.channel_id, purpose="closing the channel"):
        record = client.store.get(record.channel_id)
        if record.status not in (ChannelStatus.OPEN, ChannelStatus.CLOSING):
            raise InputError(f"channel {record.channel_id} is {record.status.value}; a cooperative close "
                             "needs an open channel", channel_id=record.channel_id,
                             hint=_hint_for(record.status))
        client.use_network(record.network)
        finished = await _finished_on_chain(client, record)
        if finished is not None:
            return finished
        offer = await fresh_offer(client, record)
        await vet_offer(client, offer, options)
        check_transport(record.url, client.allow_http)  # before a voucher for 0 may be signed
        actions = _close_actions(client, record)
        record = records.advance(client.store, record.channel_id, m.CloseSent())
        reply = None
        for action in actions:
            reply = await send_credential(client, RequestSpec("GET", record.url), offer.challenge,
                                          action.to_json())
            if reply.ok:
                return await _settled(client, record, reply)
        await _reopen_if_still_open(client, record)
        assert reply is not None
        raise PaymentRejected(f"the server refused the close: {reply.reason}", channel_id=record.channel_id,
                              hint=f"Force it on chain: `mpp close {record.channel_id} --force`.")


async def _finished_on_chain(client: Client, record: ChannelRecord) -> Closed | None:
    """A close the server already settled (it may have died before answering, or closed the channel
    on its own): the chain says how it ended, so the record is finished from it without the server."""
    from mppcli.chain.channel import ChannelStatus as OnChain

    seen = await chainio.read_channel(client.rpc, record.channel_id, record.program_id)
    if seen.account is not None and seen.account.status in (OnChain.OPEN, OnChain.CLOSING):
        return None
    updated = records.advance(client.store, record.channel_id, seen.event())
    client.emit("closed", channelId=record.channel_id, settled=str(updated.settled),
                refunded=str(updated.refunded), txHash=None)
    return Closed(updated, None)


def _close_actions(client: Client, record: ChannelRecord) -> list[CloseAction]:
    """What to close with, in order: the accepted voucher, then an unconfirmed signed one."""
    if record.voucher_signer is VoucherSigner.OPERATOR:
        if record.authentication is None:
            raise InputError(f"operator channel {record.channel_id} has no bearer proof on record",
                             channel_id=record.channel_id, hint=_hint_for(ChannelStatus.ORPHANED))
        return [CloseAction(record.channel_id, authentication=parse_authentication(record.authentication))]
    texts = [t for t in (record.last_accepted_voucher, record.last_signed_voucher) if t]
    vouchers = []
    for text in dict.fromkeys(texts):  # keep order, drop the duplicate when both are the same
        voucher = read_voucher(text)
        if voucher.voucher.cumulative_amount >= record.accepted_cumulative:
            vouchers.append(voucher)
    if not vouchers:  # nothing was ever paid: a voucher for 0 authenticates the close
        signed, _ = sign_and_record(client, record, signer_keypair(client, record), 0)
        vouchers.append(read_voucher(voucher_text(signed)))
    return [CloseAction(record.channel_id, voucher=v) for v in vouchers]


async def _settled(client: Client, record: ChannelRecord, reply: Reply) -> Closed:
    receipt = reply.receipt
    assert receipt is not None
    if receipt.reference != record.channel_id:
        raise ProtocolViolation(f"the close receipt names channel {receipt.reference}")
    settled = receipt.accepted_cumulative or 0
    refunded = receipt.refunded if receipt.refunded is not None else record.deposit - settled
    seen = await chainio.read_channel(client.rpc, record.channel_id, record.program_id)
    if seen.account is not None:
        settled, refunded = _check_chain_close(seen, settled)
    updated = records.advance(client.store, record.channel_id, m.CloseSettled(settled, refunded))
    client.emit("closed", channelId=record.channel_id, settled=str(settled), refunded=str(refunded),
                txHash=receipt.tx_hash)
    return Closed(updated, receipt.tx_hash)


def _check_chain_close(seen: chainio.ChainChannel, settled: int) -> tuple[int, int]:
    """A still-present account must be sealed or drained at the settled amount the server reported."""
    from mppcli.chain.channel import ChannelStatus as OnChain

    acc = seen.account
    assert acc is not None
    if acc.status in (OnChain.OPEN, OnChain.CLOSING):
        raise ProtocolViolation(f"the server says the channel closed, but on chain it is {acc.status.name}")
    if acc.settled != settled:
        raise ProtocolViolation(f"the server reports {settled} settled; the chain says {acc.settled}")
    return acc.settled, acc.deposit - acc.settled


async def _reopen_if_still_open(client: Client, record: ChannelRecord) -> None:
    seen = await chainio.read_channel(client.rpc, record.channel_id, record.program_id)
    records.advance(client.store, record.channel_id, seen.event())


def _hint_for(status: ChannelStatus) -> str:
    if status is ChannelStatus.PENDING_FINALIZE:
        return "Finish it with `mpp close CHANNEL --finalize`."
    if status is ChannelStatus.ORPHANED:
        return "No server session backs it: `mpp close CHANNEL --force`."
    return "`mpp channels sync` shows its state on chain."


# --- forced ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ForceClosed:
    record: ChannelRecord
    grace_ends_at: int
    signature: str | None

    def to_json(self) -> dict[str, Any]:
        return {"channelId": self.record.channel_id, "status": "closing", "graceEndsAt": self.grace_ends_at,
                "signature": self.signature}


async def force_close(client: Client, record: ChannelRecord) -> ForceClosed:
    """`requestClose` on chain, signed and paid by the payer; starts the grace period."""
    from mppcli.chain.channel import ChannelStatus as OnChain
    from mppcli.chain.transactions import build_request_close_transaction

    client.use_network(record.network)
    with client.store.lock(record.channel_id, purpose="force-closing the channel"):
        record = client.store.get(record.channel_id)
        seen = await chainio.read_channel(client.rpc, record.channel_id, record.program_id)
        acc = seen.account
        if acc is None or acc.status is not OnChain.OPEN:
            return _already(client, record, seen)
        _own(client, record)
        await _has_fee(client)
        blockhash, _slot = await chainio.blockhash(client.rpc)
        tx = build_request_close_transaction(channel_keys(record), blockhash)
        signature = await _sign_send(client, tx)
        seen = await chainio.read_channel(client.rpc, record.channel_id, record.program_id)
        event = seen.event()
        if not isinstance(event, m.ChainClosing):
            raise RpcError(f"requestClose landed but the channel is not closing on chain ({event})")
        updated = records.advance(client.store, record.channel_id, m.ForceCloseLanded())
        return ForceClosed(updated, event.grace_ends_at, signature)


def _already(client: Client, record: ChannelRecord, seen: chainio.ChainChannel) -> ForceClosed:
    event = seen.event()
    updated = records.advance(client.store, record.channel_id, event)
    if isinstance(event, m.ChainClosing):
        return ForceClosed(updated, event.grace_ends_at, None)
    raise InputError(f"channel {record.channel_id} is not open on chain (now {updated.status.value})",
                     channel_id=record.channel_id, hint=_hint_for(updated.status))


def _own(client: Client, record: ChannelRecord) -> None:
    if str(client.payer.pubkey) != record.payer:
        raise InputError(f"channel {record.channel_id} belongs to payer {record.payer}, not "
                         f"{client.payer.pubkey}", hint="Use the wallet (-w) or keypair (-k) that opened it.")


async def _has_fee(client: Client) -> None:
    if await chainio.lamports(client.rpc, client.payer.pubkey) < FEE_LAMPORTS:
        raise PolicyError("the payer needs a little SOL to pay this transaction's fee",
                          hint="Fund the wallet with SOL (on localnet: `mpp wallet airdrop 1`).")


async def _sign_send(client: Client, tx: Any) -> str:
    from mppcli.chain.txcodec import partial_sign

    return await chainio.send(client.rpc, partial_sign(tx, [client.payer.keypair]))


@dataclass(frozen=True)
class Finalized:
    record: ChannelRecord
    signatures: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        r = self.record
        return {"channelId": r.channel_id, "status": r.status.value, "refunded": str(r.refunded),
                "settled": str(r.settled), "signatures": list(self.signatures)}


async def finalize(client: Client, record: ChannelRecord) -> Finalized:
    """After the grace period: `seal` + `withdrawPayer`, then `distribute` when nobody has."""
    client.use_network(record.network)
    with client.store.lock(record.channel_id, purpose="finalizing the channel"):
        record = client.store.get(record.channel_id)
        seen = await chainio.read_channel(client.rpc, record.channel_id, record.program_id)
        signatures: list[str] = []
        signatures += await _seal_and_withdraw(client, record, seen)
        seen = await chainio.read_channel(client.rpc, record.channel_id, record.program_id)
        signatures += await _distribute(client, record, seen)
        seen = await chainio.read_channel(client.rpc, record.channel_id, record.program_id)
        return Finalized(_record_final(client, record, seen), tuple(signatures))


async def _seal_and_withdraw(client: Client, record: ChannelRecord, seen: chainio.ChainChannel) -> list[str]:
    from mppcli.chain.channel import ChannelStatus as OnChain
    from mppcli.chain.transactions import build_withdraw_payer_transaction

    acc = seen.account
    if acc is None or acc.status is OnChain.DISTRIBUTED:
        return []
    if acc.status is OnChain.OPEN:
        raise InputError(f"channel {record.channel_id} is still open on chain",
                         channel_id=record.channel_id,
                         hint="Close it cooperatively (`mpp close`) or start a forced close (--force).")
    if acc.status is OnChain.CLOSING:
        await _grace_over(client, record, acc.closure_started_at + acc.grace_period)
    if acc.payer_withdrawn_at:
        return []
    _own(client, record)
    await _has_fee(client)
    blockhash, _slot = await chainio.blockhash(client.rpc)
    tx = build_withdraw_payer_transaction(channel_keys(record), blockhash,
                                          seal_first=acc.status is OnChain.CLOSING)
    return [await _sign_send(client, tx)]


async def _grace_over(client: Client, record: ChannelRecord, ends_at: int) -> None:
    """Too early is said plainly, with the time left (by the cluster's clock when it answers)."""
    now = await _cluster_time(client)
    if now < ends_at:
        raise InputError(f"the grace period of channel {record.channel_id} ends at {ends_at} "
                         f"(in {ends_at - now} s); finalize after that", channel_id=record.channel_id,
                         hint="The server may still settle the last voucher until then.")


async def _cluster_time(client: Client) -> int:
    """The cluster's unix time: its Clock sysvar, or our clock when that is behind (a ledger that
    updates the sysvar only when transactions run)."""
    found = await client.rpc.account(chainio.pubkey(CLOCK_SYSVAR))
    clock = found.clock() if found is not None else None
    sysvar = clock.unix_timestamp if clock is not None else 0
    return max(sysvar, int(client.clock()))


async def _distribute(client: Client, record: ChannelRecord, seen: chainio.ChainChannel) -> list[str]:
    """Pay the payee side and close the escrow (permissionless; the payer pays the fee)."""
    from mppcli.chain.channel import ChannelStatus as OnChain
    from mppcli.chain.transactions import build_distribute_transaction

    if seen.account is None or seen.account.status is not OnChain.SEALED:
        return []
    blockhash, _slot = await chainio.blockhash(client.rpc)
    tx = build_distribute_transaction(channel_keys(record), blockhash, client.payer.pubkey)
    try:
        return [await _sign_send(client, tx)]
    except RpcError as exc:
        client.emit("info", message=f"distribute did not land ({exc.message}); the refund is already paid")
        return []


def _record_final(client: Client, record: ChannelRecord, seen: chainio.ChainChannel) -> ChannelRecord:
    acc = seen.account
    if acc is not None and acc.payer_withdrawn_at == 0 and acc.status.name != "DISTRIBUTED":
        return records.advance(client.store, record.channel_id, seen.event())
    if acc is None:
        settled = record.settled
        refunded = record.refunded or record.deposit - settled
    else:
        settled, refunded = acc.settled, acc.deposit - acc.settled
    current = client.store.get(record.channel_id)
    if current.status is ChannelStatus.CLOSING:
        current = records.advance(client.store, record.channel_id, m.ChainSealed(
            acc.deposit if acc else current.deposit, settled))
    if current.status is ChannelStatus.PENDING_FINALIZE:
        return records.advance(client.store, record.channel_id, m.Withdrawn(settled, refunded))
    return current
