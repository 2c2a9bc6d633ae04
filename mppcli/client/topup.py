"""Adding to a channel's deposit through the server (spec §Action "topUp", §Settlement "TopUp").

Fees (NOTES): the spec has the server co-sign a top-up as fee payer when it sponsors fees; the
reference server never does and wants a transaction the payer signed and pays for. So the payer
pays when it holds SOL, and only a SOL-less payer sends the sponsored, partially signed form.
The built transaction is decoded and checked before signing; the new deposit is recorded from the
chain after the server's receipt, never from the server's word alone.

Persist first: the signed transaction is written to the record (`pending_top_up`) under the
channel lock before it leaves the process; the receipt clears it together with the new deposit. A
pending top-up left by an earlier run is settled against the chain (`client.pending`) first.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from mppcli.client import chainio, records
from mppcli.client import machine as m
from mppcli.client.challenge import Offer, offer_of
from mppcli.client.context import Client, PayOptions, budget_for
from mppcli.client.credentials import check_transport, send_credential
from mppcli.client.http import RequestSpec
from mppcli.client.pending import reconcile_pending
from mppcli.client.policy import check_same_terms
from mppcli.client.txcheck import check_top_up
from mppcli.client.vetting import vet_offer
from mppcli.errors import InputError, PaymentRejected, PolicyError, ProtocolViolation, RpcError
from mppcli.protocol.metering import CHANNEL_HEADER
from mppcli.protocol.receipt import SessionReceipt
from mppcli.state.record import ChannelRecord, ChannelStatus, PendingTopUp

if TYPE_CHECKING:
    from solders.hash import Hash
    from solders.transaction import VersionedTransaction

    from mppcli.chain.params import ChannelKeys

PAYER_FEE_LAMPORTS = 10_000  # two signatures' worth: enough for the payer to pay its own top-up
FRESH_BLOCKHASH_WAIT, FRESH_BLOCKHASH_POLLS = 0.2, 50  # a cluster makes a new blockhash every ~0.4 s


@dataclass(frozen=True)
class TopUpResult:
    record: ChannelRecord
    amount: int
    receipt: SessionReceipt
    sponsored: bool




async def fresh_offer(client: Client, record: ChannelRecord, url: str | None = None) -> Offer:
    """A challenge from the channel's server to echo (its terms must not have changed)."""
    target = url or record.url
    answer = await client.http.send(RequestSpec("GET", target, ((CHANNEL_HEADER, record.channel_id),)))
    if answer.status != 402:
        raise ProtocolViolation(f"{target} answered {answer.status} instead of a payment challenge")
    offer = offer_of(answer)
    check_same_terms(records.terms_of(record), offer.terms())
    resumed = offer.details.channel_id
    if resumed is not None and resumed != record.channel_id:
        raise ProtocolViolation(f"asked about channel {record.channel_id}, the server resumes {resumed}")
    return offer


async def top_up(client: Client, record: ChannelRecord, amount: int, options: PayOptions,
                 offer: Offer | None = None, url: str | None = None) -> TopUpResult:
    """Top the channel up by `amount` base units (the caller holds the channel lock)."""
    record = await settle_earlier(client, record)
    if record.status is not ChannelStatus.OPEN:
        raise InputError(f"channel {record.channel_id} is {record.status.value}; only an open channel "
                         "can be topped up", channel_id=record.channel_id)
    if amount <= 0:
        raise InputError("the top-up amount must be positive")
    target = url or record.url
    offer = offer or await fresh_offer(client, record, target)
    await vet_offer(client, offer, options)
    check_transport(target, client.allow_http)  # before the transaction is signed
    await _check_funds(client, record, amount)
    tx, sponsored = await _build(client, record, amount, offer)
    from mppcli.chain.txcodec import encode_transaction, partial_sign
    from mppcli.protocol.actions import TopUpAction

    signed = encode_transaction(partial_sign(tx, [client.payer.keypair]))
    _record_pending(client, record.channel_id, amount, signed)
    action = TopUpAction(record.channel_id, amount, signed)
    reply = await send_credential(client, RequestSpec("GET", target), offer.challenge, action.to_json())
    if reply.receipt is None:
        raise PaymentRejected(f"the server refused the top-up: {reply.reason}", channel_id=record.channel_id)
    if reply.receipt.reference != record.channel_id:
        raise ProtocolViolation(f"the top-up receipt names channel {reply.receipt.reference}")
    updated = await _record_deposit(client, record, amount)
    client.emit("topup", channelId=record.channel_id, amount=str(amount), deposit=str(updated.deposit))
    return TopUpResult(updated, amount, reply.receipt, sponsored)


async def requested_top_up(client: Client, record: ChannelRecord, amount: int,
                           options: PayOptions) -> TopUpResult:
    """`mpp topup`: the user's top-up, within `max_spend` like every command that moves money
    (the caller holds the channel lock)."""
    cap = budget_for(options, record.decimals).room_to_lock()
    if cap is not None and amount > cap:
        raise PolicyError(f"the top-up of {_units(record, amount)} exceeds max_spend ({_units(record, cap)})",
                          channel_id=record.channel_id,
                          hint="Raise it for this command with --max-spend, or with MPP_MAX_SPEND or "
                               "`mpp config set max_spend AMOUNT`.")
    return await top_up(client, record, amount, options)


async def settle_earlier(client: Client, record: ChannelRecord) -> ChannelRecord:
    """The record after judging a pending top-up of an earlier run against the chain (if any)."""
    stored = client.store.get(record.channel_id)
    if stored.pending_top_up is None:
        return record
    seen = await chainio.read_channel(client.rpc, record.channel_id, record.program_id)
    settled = reconcile_pending(client.store, record.channel_id,
                                seen.account.deposit if seen.account is not None else None)
    client.emit("info", message=settled.message)
    return settled.record


def _record_pending(client: Client, channel_id: str, amount: int, transaction: str) -> None:
    """Write the signed top-up into the record before it leaves (persist first)."""
    def change(record: ChannelRecord) -> ChannelRecord:
        pending = PendingTopUp(amount, record.deposit, transaction, client.clock())
        return replace(record, pending_top_up=pending)

    client.store.update(channel_id, change)


async def _check_funds(client: Client, record: ChannelRecord, amount: int) -> None:
    have = await chainio.token_balance(client.rpc, client.payer.pubkey, record.mint, record.token_program)
    if have < amount:
        raise PolicyError(f"the payer holds {_units(record, have)}; "
                          f"the top-up needs {_units(record, amount)}",
                          channel_id=record.channel_id, hint="Fund the wallet, then retry.")


async def _build(client: Client, record: ChannelRecord, amount: int, offer: Offer
                 ) -> tuple[VersionedTransaction, bool]:
    from solders.hash import Hash

    from mppcli.chain.transactions import build_top_up_transaction

    payer = client.payer.pubkey
    if str(payer) != record.payer:
        raise InputError(f"channel {record.channel_id} belongs to payer {record.payer}, not {payer}",
                         hint="Use the same wallet (-w) or keypair (-k) that opened it.")
    sponsor = await _sponsor(client, offer)
    details = offer.details
    if details.recent_blockhash is not None:
        blockhash = Hash.from_string(details.recent_blockhash)
    else:
        blockhash, _slot = await chainio.blockhash(client.rpc)
    blockhash = await _unused_blockhash(client, blockhash)
    keys = channel_keys(record)
    fee_payer = chainio.pubkey(sponsor) if sponsor else payer
    tx = build_top_up_transaction(keys, amount, blockhash, fee_payer if sponsor else None)
    check_top_up(tx, keys, amount, fee_payer)
    return tx, sponsor is not None


async def _unused_blockhash(client: Client, proposed: Hash) -> Hash:
    """A blockhash no earlier top-up of this run was built on. Two top-ups of the same amount in
    one slot (a fast stream topping up twice) would otherwise be byte-identical: the second would
    land nowhere and the server would answer it as the first one's replay. Servers verify a
    top-up's blockhash only for freshness, so a newer one from the RPC serves."""
    candidate = proposed
    for _ in range(FRESH_BLOCKHASH_POLLS):
        if str(candidate) not in client.top_up_blockhashes:
            client.top_up_blockhashes.add(str(candidate))
            return candidate
        await asyncio.sleep(FRESH_BLOCKHASH_WAIT)
        candidate, _slot = await chainio.blockhash(client.rpc)
    raise RpcError("the RPC kept offering the blockhash of the previous top-up",
                   hint="Check that the cluster is producing blocks, then retry.")


async def _sponsor(client: Client, offer: Offer) -> str | None:
    """The server's fee payer, only when it offers one and our payer cannot pay the fee itself."""
    details = offer.details
    if not details.fee_payer or details.fee_payer_key is None:
        return None
    if await chainio.lamports(client.rpc, client.payer.pubkey) >= PAYER_FEE_LAMPORTS:
        return None
    return details.fee_payer_key


def channel_keys(record: ChannelRecord) -> ChannelKeys:
    """The chain-side identity of a recorded channel (the top-up's one projection; close and sync use it)."""
    from mppcli.chain.params import ChannelKeys
    from mppcli.chain.splits import Split

    key = chainio.pubkey
    return ChannelKeys(
        channel=key(record.channel_id), payer=key(record.payer), payee=key(record.payee),
        mint=key(record.mint), authorized_signer=key(record.authorized_signer),
        rent_payer=key(record.fee_payer_key or record.payer), token_program=key(record.token_program),
        splits=tuple(Split(key(s.recipient), s.share_bps) for s in record.splits),
        program_id=key(record.program_id))


async def _record_deposit(client: Client, record: ChannelRecord, amount: int) -> ChannelRecord:
    """The deposit the chain now holds (it must have grown by at least the amount)."""
    seen = await chainio.read_channel(client.rpc, record.channel_id, record.program_id)
    deposit = seen.account.deposit if seen.account is not None else 0
    if deposit < record.deposit + amount:
        raise ProtocolViolation(f"the server confirmed the top-up but the chain holds a deposit of "
                                f"{deposit}, not {record.deposit + amount}", channel_id=record.channel_id)
    return records.advance(client.store, record.channel_id, m.TopUpAccepted(deposit), pending_top_up=None)


def _units(record: ChannelRecord, amount: int) -> str:
    """`0.25 <mint>` for messages (the CLI writes a known mint as its symbol: `0.25 USDC`)."""
    from mppcli.protocol.amounts import format_amount

    return f"{format_amount(amount, record.decimals)} {record.mint}"
