"""`open`: create the channel PDA and its escrow, move the deposit, commit the splits hash.

Like the deployed program, the PDA is created prefund-tolerantly (top up the rent shortfall, then
Allocate + Assign signed by the PDA) and the escrow ATA idempotently, so neither a lamport
donation nor a pre-created escrow can block an open; reopening a live channel fails in Allocate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from solders.pubkey import Pubkey
from solders.system_program import (
    AllocateParams,
    AssignParams,
    TransferParams,
    allocate,
    assign,
)
from solders.system_program import (
    transfer as system_transfer,
)

from mppcli.chain.channel import ChannelAccount, ChannelStatus
from mppcli.chain.constants import (
    ASSOCIATED_TOKEN_PROGRAM,
    CHANNEL_ACCOUNT_SIZE,
    OPEN_SLOT_WINDOW,
    RENT_SYSVAR,
    SYSTEM_PROGRAM,
)
from mppcli.chain.instructions import DecodedInstruction
from mppcli.chain.pda import find_channel_address
from mppcli.chain.splits import Split, splits_hash
from mppcli.ledger import spl
from mppcli.ledger.host import InstructionHost
from mppcli.ledger.program.accounts import (
    PAYER_CODES,
    TokenContext,
    ata_problem,
    channel_layout,
    require_ata,
    store_channel,
    token_context,
)
from mppcli.ledger.program.events import emit
from mppcli.ledger.program.failures import check_splits, fail, runtime


def process(host: InstructionHost, ix: DecodedInstruction) -> None:
    a, args = ix.accounts, ix.fields()
    _check_authority_and_args(host, a, args)
    channel, bump = find_channel_address(a["payer"], a["payee"], a["mint"], a["authorizedSigner"],
                                         args["salt"], args["openSlot"], host.program_id)
    splits = tuple(Split(e["recipient"], e["bps"]) for e in args["recipients"])
    check_splits(splits, channel)
    if a["channel"] != channel:
        raise fail("channelAddressMismatch")
    ctx = token_context(host, a["mint"], a["tokenProgram"])
    if ata_problem(host, a["channelTokenAccount"], channel, ctx, address_only=True):
        raise fail("channelAccountMismatch", "the escrow is not the channel's ATA")
    require_ata(host, a["payerTokenAccount"], a["payer"], ctx, PAYER_CODES)
    _check_program_accounts(a)
    _create_channel_account(host, channel, a["rentPayer"])
    _create_escrow_and_deposit(host, a, channel, ctx, args["deposit"])
    store_channel(host, channel, _new_channel(a, args, bump, splits_hash(splits)))
    emit(host, a["eventAuthority"], a["selfProgram"], "opened",
         {"channel": channel, "openSlot": args["openSlot"]})


def _new_channel(a: Mapping[str, Pubkey], args: Mapping[str, Any], bump: int,
                 hashed: bytes) -> ChannelAccount:
    """The account `open` writes: Open, nothing settled, the splits committed by their hash."""
    layout = channel_layout()
    return ChannelAccount(
        discriminator=layout.discriminator, version=layout.version, bump=bump, status=ChannelStatus.OPEN,
        salt=args["salt"], deposit=args["deposit"], settled=0, payout_watermark=0, closure_started_at=0,
        payer_withdrawn_at=0, grace_period=args["gracePeriod"], distribution_hash=hashed, payer=a["payer"],
        payee=a["payee"], authorized_signer=a["authorizedSigner"], mint=a["mint"], rent_payer=a["rentPayer"],
        open_slot=args["openSlot"])


def _check_authority_and_args(host: InstructionHost, accounts: Mapping[str, Pubkey],
                              values: Mapping[str, Any]) -> None:
    if not host.is_signer(accounts["payer"]) or not host.is_signer(accounts["rentPayer"]):
        raise fail("missingRequiredSignature")
    if accounts["payer"] == accounts["payee"]:
        raise fail("payerPayeeMustDiffer")
    if values["deposit"] == 0:
        raise fail("depositMustBeNonZero")
    if values["gracePeriod"] == 0:
        raise fail("gracePeriodMustBeNonZero")
    if not accounts["authorizedSigner"].is_on_curve():
        raise fail("invalidAuthorizedSigner")
    slot = host.time.slot
    if values["openSlot"] > slot or slot - values["openSlot"] > OPEN_SLOT_WINDOW:
        raise fail("openSlotOutOfWindow", f"openSlot {values['openSlot']}, current slot {slot}")


def _check_program_accounts(accounts: Mapping[str, Pubkey]) -> None:
    if accounts["rent"] != RENT_SYSVAR:
        raise runtime("InvalidArgument", "rent is not the rent sysvar")
    programs = (accounts["systemProgram"], accounts["associatedTokenProgram"])
    if programs != (SYSTEM_PROGRAM, ASSOCIATED_TOKEN_PROGRAM):
        raise runtime("MissingAccount", "the system and associated-token programs must be passed")


def _create_channel_account(host: InstructionHost, channel: Pubkey, rent_payer: Pubkey) -> None:
    existing = host.account(channel)
    shortfall = host.rent_exempt(CHANNEL_ACCOUNT_SIZE) - (existing.lamports if existing else 0)
    if shortfall > 0:
        host.invoke(system_transfer(TransferParams(from_pubkey=rent_payer, to_pubkey=channel,
                                                   lamports=shortfall)))
    host.invoke(allocate(AllocateParams(pubkey=channel, space=CHANNEL_ACCOUNT_SIZE)), [channel])
    host.invoke(assign(AssignParams(pubkey=channel, owner=host.program_id)), [channel])


def _create_escrow_and_deposit(host: InstructionHost, accounts: Mapping[str, Pubkey], channel: Pubkey,
                               ctx: TokenContext, deposit: int) -> None:
    escrow = accounts["channelTokenAccount"]
    host.invoke(spl.create_ata_idempotent(accounts["rentPayer"], escrow, channel, ctx.mint, ctx.program))
    host.invoke(spl.transfer_checked(ctx.program, accounts["payerTokenAccount"], ctx.mint, escrow,
                                     accounts["payer"], deposit, ctx.decimals))
