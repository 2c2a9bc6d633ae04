"""Opening a channel from a session challenge (spec §Action "open", §Settlement Procedure "Open").

The order is the safety argument:
1. vet the offer (cluster, program, mint, expiry) and take the per-(payer, server) open lock, so
   two `mpp` processes can never both deposit to the same server at once (NOTES);
2. deposit = min(suggestion, --deposit, what --max-spend leaves), never below the server's minimum;
3. ask before the first deposit to a server (no terminal and no --yes: exit 5);
4. build the transaction with the challenged blockhash from one projection of the plan
   (`OpenParams`: the builder, the check, the credential and the record all come from it), decode
   it and check every account and argument against it (txcheck, the one check) BEFORE signing;
5. record the channel (`opening`) BEFORE the signed transaction leaves the process;
6. send the open credential; the receipt moves the record to `open`. After a refusal the chain
   decides (the server holds our signed transaction): a channel that landed is recorded live, one
   that did not stays `opening` until `channels sync` rules it out; either blocks another deposit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mppcli.client import machine as m
from mppcli.client import records
from mppcli.client.challenge import Offer
from mppcli.client.context import Client, PayOptions, origin_of, token_amount
from mppcli.client.credentials import check_transport, send_credential
from mppcli.client.http import RequestSpec
from mppcli.client.openings import save_opening
from mppcli.client.policy import check_grace_period
from mppcli.client.salvage import no_damaged_channel_to
from mppcli.client.txcheck import check_open
from mppcli.client.vetting import vet_offer
from mppcli.errors import (
    ConfirmationRequired,
    InputError,
    PaymentRejected,
    PolicyError,
    ProtocolViolation,
)
from mppcli.state.record import ChannelRecord, ChannelStatus, SignerKind, Split, VoucherSigner

if TYPE_CHECKING:
    from solders.hash import Hash
    from solders.pubkey import Pubkey
    from solders.transaction import VersionedTransaction

    from mppcli.chain.params import OpenParams
    from mppcli.protocol.bearer import Authentication

FEE_RESERVE_LAMPORTS = 10_000_000  # what a payer that funds fees and rent should hold (rent ~ 4.7M)


@dataclass(frozen=True)
class Plan:
    """The open we decided on (all the values the transaction and the record are built from)."""

    deposit: int
    token_program: str
    fee_payer: str
    signer_kind: SignerKind
    idle_timeout: int | None


async def open_channel(client: Client, spec: RequestSpec, offer: Offer, options: PayOptions,
                       budget: m.Budget) -> tuple[ChannelRecord, m.Budget]:
    """Open a channel for `offer` (or return the one another process opened meanwhile)."""
    details = offer.details
    if details.is_resume:
        raise ProtocolViolation("the server offers only a resume challenge for a channel this machine "
                                "does not know; a new channel cannot be opened from it")
    check_transport(spec.url, client.allow_http)  # before anything is signed or recorded
    check_grace_period(details.grace_period_seconds, options.max_grace_period)
    token_program = await vet_offer(client, offer, options)
    origin, payer = origin_of(spec.url), str(client.payer.pubkey)
    with client.store.open_lock(payer, origin):
        if options.channel == "auto":
            existing = records.reusable(client.store, origin, payer, offer.terms())
            if existing is not None:
                return existing, budget
        _no_unresolved_open(client, origin, payer)
        if options.channel != "new":
            await no_damaged_channel_to(client, payer, offer.request.recipient)
        plan = _plan(offer, options, budget, token_program, str(client.payer.pubkey))
        await _check_funds(client, offer, plan)
        await _confirm(client, origin, offer, plan, options)
        record = await _open(client, spec, offer, plan)
    return record, budget.after_locking(plan.deposit)


def _no_unresolved_open(client: Client, origin: str, payer: str) -> None:
    """An earlier open to this server whose fate is unknown blocks another deposit (NOTES)."""
    for record in client.store.list(include_closed=False).records:
        if record.origin == origin and record.payer == payer and record.status is ChannelStatus.OPENING:
            raise PolicyError(f"an earlier open to {origin} (channel {record.channel_id}) has not been "
                              "confirmed or ruled out; refusing to deposit again",
                              channel_id=record.channel_id,
                              hint="Run `mpp channels sync` (it settles once the open can no longer land).")


def _plan(offer: Offer, options: PayOptions, budget: m.Budget, token_program: str, payer: str) -> Plan:
    details, request = offer.details, offer.request
    decimals = details.decimals if details.decimals is not None else 0
    deposit = m.choose_deposit(price=request.amount, suggested=request.suggested_deposit,
                               minimum=request.minimum_deposit, show=offer.amount_text,
                               requested=token_amount(options.deposit, decimals, "--deposit"),
                               budget=budget)
    fee_payer = details.fee_payer_key if details.fee_payer and details.fee_payer_key else payer
    if details.effective_voucher_signer == VoucherSigner.OPERATOR:
        kind = SignerKind.OPERATOR
    else:
        kind = SignerKind.PAYER if options.signer == "payer" else SignerKind.SESSION
    return Plan(deposit, token_program, fee_payer, kind, _idle_timeout(offer, options.idle_timeout))


def _idle_timeout(offer: Offer, wanted: int | None) -> int | None:
    offered = offer.details.idle_timeout_options_seconds
    if wanted is None:
        return None
    if not offered:
        raise InputError("--idle-timeout: the server offers no idle timeout to choose from")
    if wanted not in offered:
        raise InputError(f"--idle-timeout {wanted} is not one of the offered {list(offered)}")
    return wanted


async def _check_funds(client: Client, offer: Offer, plan: Plan) -> None:
    from mppcli.client import chainio
    from mppcli.protocol.amounts import format_amount

    payer = client.payer.pubkey
    have = await chainio.token_balance(client.rpc, payer, offer.request.currency, plan.token_program)
    if have < plan.deposit:
        decimals, mint = offer.details.decimals or 0, offer.request.currency
        raise PolicyError(f"the payer {payer} holds {format_amount(have, decimals)} {mint}; "
                          f"the deposit needs {format_amount(plan.deposit, decimals)} {mint}",
                          hint="Fund the wallet (on localnet: `mpp wallet airdrop --token MINT`).")
    if plan.fee_payer == str(payer) and await chainio.lamports(client.rpc, payer) < FEE_RESERVE_LAMPORTS:
        raise PolicyError(f"the payer {payer} needs SOL for the fees and the channel rent "
                          "(the server does not sponsor them)",
                          hint="Fund the wallet with SOL (on localnet: `mpp wallet airdrop 1`).")


async def _confirm(client: Client, origin: str, offer: Offer, plan: Plan, options: PayOptions) -> None:
    """Ask before locking funds: the first time for a server (or always/never per the config).

    A known server is not asked about again, unless nothing the user gave (--deposit, a
    --max-spend cap) bounds the deposit and the server now wants more than any earlier deposit
    to it: an unbounded suggestion must not grow unseen on a re-open (NOTES: deposits).
    """
    if options.yes or options.confirm_policy == "never":
        return
    bounded = options.deposit is not None or options.max_spend is not None
    if options.confirm_policy != "always" and records.known_origin(client.store, origin) and (
            bounded or records.deposited_at_least(client.store, origin, plan.deposit)):
        return
    from mppcli.protocol.amounts import format_amount

    decimals = offer.details.decimals or 0
    question = (f"Deposit {format_amount(plan.deposit, decimals)} of {offer.request.currency} into a "
                f"payment channel with {origin} (payee {offer.request.recipient}), paying from "
                f"{client.payer.source}?")
    if client.confirm is None:
        raise ConfirmationRequired(f"confirmation needed before the first deposit to {origin}")
    if not await client.confirm(question):
        raise PolicyError("declined: no channel was opened", hint="Nothing was signed.")


async def _open(client: Client, spec: RequestSpec, offer: Offer, plan: Plan) -> ChannelRecord:
    from mppcli.chain.transactions import build_open_transaction

    signer = _authorized_signer(client, offer, plan)
    params = _params(client, offer, plan, signer)
    tx = build_open_transaction(params, _hash(offer), _key(plan.fee_payer))
    check_open(tx, params, _hash(offer))
    authentication = None
    if plan.signer_kind is SignerKind.OPERATOR:
        from mppcli.protocol.bearer import sign_bearer

        authentication = sign_bearer(client.payer.keypair, str(params.channel), offer.challenge.id).to_json()
    record = client.store.create(_record(spec, offer, plan, params, signer, authentication))
    save_opening(client.paths, record.channel_id, offer.challenge)
    return await _send_open(client, spec, offer, plan, params, tx, record)


async def _send_open(client: Client, spec: RequestSpec, offer: Offer, plan: Plan, params: OpenParams,
                     tx: VersionedTransaction, record: ChannelRecord) -> ChannelRecord:
    from mppcli.chain.txcodec import encode_transaction, partial_sign
    from mppcli.protocol.actions import OpenAction

    signed = partial_sign(tx, [client.payer.keypair])
    action = OpenAction(
        channel_id=record.channel_id, payer=record.payer, payee=record.payee, mint=record.mint,
        authorized_signer=record.authorized_signer, salt=params.salt, deposit_amount=plan.deposit,
        grace_period_seconds=params.grace_period, open_slot=params.open_slot,
        transaction=encode_transaction(signed), idle_timeout_seconds=plan.idle_timeout,
        distribution_splits=offer.details.distribution_splits or None,
        authentication=_authentication(record))
    client.emit("open", channelId=record.channel_id, deposit=str(plan.deposit), url=spec.url)
    reply = await send_credential(client, spec, offer.challenge, action.to_json())
    receipt = reply.receipt
    if receipt is None:
        raise await _refused_open(client, record, reply.reason)
    if receipt.reference != record.channel_id:
        raise ProtocolViolation(f"the open receipt names channel {receipt.reference}, "
                                f"not {record.channel_id}")
    return records.advance(client.store, record.channel_id, m.OpenAccepted(plan.deposit),
                           idle_timeout_seconds=receipt.idle_timeout_seconds or plan.idle_timeout)


async def _refused_open(client: Client, record: ChannelRecord, reason: str) -> PaymentRejected:
    """The server refused the open, but it holds our signed transaction and may have broadcast it.

    The chain decides: a channel that exists is recorded as what it is (live), so it blocks another
    deposit to this server; one that does not exist yet stays `opening` until it can no longer land
    (`channels sync` rules it out then), which blocks another deposit just the same.
    """
    from mppcli.client import chainio

    seen = await chainio.read_channel(client.rpc, record.channel_id, record.program_id)
    if seen.account is None:
        return PaymentRejected(f"the server refused the open: {reason}", channel_id=record.channel_id,
                               hint="The server holds the signed open and could still broadcast it, so no "
                                    "new channel is opened to it until `mpp channels sync` rules it out "
                                    "(once its slot window has passed).")
    updated = records.advance(client.store, record.channel_id, seen.event())
    client.emit("info", message=f"the refused open of {record.channel_id} landed on chain anyway "
                                f"(deposit {seen.account.deposit}); it is recorded as {updated.status.value}")
    return PaymentRejected(f"the server refused the open but put the deposit on chain: {reason}",
                           channel_id=record.channel_id,
                           hint=f"The deposit is in channel {record.channel_id}: `mpp close "
                                f"{record.channel_id}` settles it, `--force` if the server will not.")


def _authorized_signer(client: Client, offer: Offer, plan: Plan) -> str:
    if plan.signer_kind is SignerKind.OPERATOR:
        if offer.details.operator is None:
            raise ProtocolViolation("operator mode without an operator key in the challenge")
        return offer.details.operator
    if plan.signer_kind is SignerKind.PAYER:
        return str(client.payer.pubkey)
    return str(client.keystore.new_session_key().pubkey())


def _params(client: Client, offer: Offer, plan: Plan, signer: str) -> OpenParams:
    from mppcli.chain.params import OpenParams
    from mppcli.chain.splits import Split as ChainSplit

    details, request = offer.details, offer.request
    if details.recent_slot is None or details.grace_period_seconds is None:
        raise ProtocolViolation("the challenge lacks recentSlot or gracePeriodSeconds")
    splits = tuple(ChainSplit(_key(s.recipient), s.share_bps) for s in details.splits)
    return OpenParams(
        payer=client.payer.pubkey, payee=_key(request.recipient), mint=_key(request.currency),
        authorized_signer=_key(signer), salt=secrets.randbits(64), deposit=plan.deposit,
        grace_period=details.grace_period_seconds, open_slot=details.recent_slot,
        rent_payer=_key(plan.fee_payer), token_program=_key(plan.token_program), splits=splits,
        program_id=_key(details.channel_program))


def _authentication(record: ChannelRecord) -> Authentication | None:
    if record.authentication is None:
        return None
    from mppcli.protocol.bearer import parse_authentication

    return parse_authentication(record.authentication)


def _record(spec: RequestSpec, offer: Offer, plan: Plan, params: OpenParams, signer: str,
            authentication: dict[str, object] | None) -> ChannelRecord:
    details, request = offer.details, offer.request
    channel = str(params.channel)
    return ChannelRecord(
        channel_id=channel, url=spec.url, origin=origin_of(spec.url), realm=offer.challenge.realm,
        network=details.network, program_id=details.channel_program, payer=str(params.payer),
        payee=request.recipient, mint=request.currency, token_program=plan.token_program,
        decimals=details.decimals or 0, authorized_signer=signer, signer_kind=plan.signer_kind,
        salt=params.salt, open_slot=params.open_slot, deposit=plan.deposit,
        grace_period_seconds=params.grace_period,
        voucher_signer=VoucherSigner(details.effective_voucher_signer),
        idle_timeout_seconds=plan.idle_timeout, operator=details.operator,
        fee_payer_key=details.fee_payer_key if details.fee_payer else None,
        splits=tuple(Split(s.recipient, s.share_bps) for s in details.splits),
        opening_challenge_id=offer.challenge.id, authentication=authentication,
        status=ChannelStatus.OPENING)


def _key(text: str) -> Pubkey:
    from solders.pubkey import Pubkey

    return Pubkey.from_string(text)


def _hash(offer: Offer) -> Hash:
    from solders.hash import Hash

    if offer.details.recent_blockhash is None:
        raise ProtocolViolation("the challenge lacks recentBlockhash")
    return Hash.from_string(offer.details.recent_blockhash)

