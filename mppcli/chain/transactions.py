"""Transaction assembly for every step of a channel's life. All results are unsigned; sign with
`txcodec.partial_sign`, which leaves other signers' slots zero.

- open: v0, no lookup table, only the `open` instruction (what both a spec-strict server and the
  reference server accept); fee payer = the challenge's `feePayerKey` when fees are sponsored, else
  the payer; the rent payer is always the fee payer.
- topUp: sponsored (fee payer = operator, the payer partially signs) or payer-paid (fully signed
  by the payer: what the reference server wants).
- cooperative close: `[ed25519] settleAndSeal distribute` in one transaction (legacy by default, as
  the reference server sends it; v0 with an address lookup table when many splits do not fit);
  the payee signs `settleAndSeal`. The table is built beforehand by `build_lookup_table_transactions`.
- forced close and housekeeping: requestClose, seal, withdrawPayer, distribute, reclaim.
"""

from __future__ import annotations

from collections.abc import Sequence

from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.hash import Hash
from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from mppcli.chain import instructions as ix
from mppcli.chain import lookup_tables as alt
from mppcli.chain.constants import PROGRAM_ID, TREASURY_OWNER
from mppcli.chain.ed25519 import Ed25519Payload, ed25519_instruction
from mppcli.chain.params import ChannelKeys, OpenParams
from mppcli.chain.txcodec import compile_transaction
from mppcli.errors import MalformedError


def build_open_transaction(params: OpenParams, recent_blockhash: Hash,
                           fee_payer: Pubkey | None = None) -> VersionedTransaction:
    """The client's open: sign it with the payer; a sponsor co-signs slot 0 later."""
    payer_of_fees = fee_payer or params.payer
    if params.rent_payer != payer_of_fees:
        raise MalformedError(f"the rent payer ({params.rent_payer}) must be the fee payer ({payer_of_fees})")
    return compile_transaction([ix.open_instruction(params)], payer_of_fees, recent_blockhash)


def build_top_up_transaction(keys: ChannelKeys, amount: int, recent_blockhash: Hash,
                             fee_payer: Pubkey | None = None) -> VersionedTransaction:
    """A top-up paid by the payer (`fee_payer` None) or sponsored by `fee_payer`."""
    calls = [ix.top_up_instruction(keys, amount)]
    return compile_transaction(calls, fee_payer or keys.payer, recent_blockhash)


def _voucher_instructions(keys: ChannelKeys, voucher: Ed25519Payload | None) -> list[Instruction]:
    if voucher is None:
        return []
    if voucher.public_key != keys.authorized_signer:
        raise MalformedError(f"the voucher is signed by {voucher.public_key}, the channel's "
                             f"authorized signer is {keys.authorized_signer}")
    return [ed25519_instruction(voucher.public_key, voucher.signature, voucher.message)]


def settlement_instructions(keys: ChannelKeys, voucher: Ed25519Payload | None = None,
                            treasury_owner: Pubkey = TREASURY_OWNER) -> list[Instruction]:
    """Cooperative close: `[ed25519] settleAndSeal distribute`; the payee must sign."""
    calls = _voucher_instructions(keys, voucher)
    calls += [ix.settle_and_seal_instruction(keys, voucher is not None),
              ix.distribute_instruction(keys, treasury_owner)]
    return calls


def build_settlement_transaction(keys: ChannelKeys, recent_blockhash: Hash, fee_payer: Pubkey,
                                 voucher: Ed25519Payload | None = None, legacy: bool = True,
                                 treasury_owner: Pubkey = TREASURY_OWNER,
                                 lookup_tables: Sequence[AddressLookupTableAccount] = ()
                                 ) -> VersionedTransaction:
    """The cooperative-close bundle in one transaction: legacy (as the reference server sends it)
    unless lookup tables are given, which makes it v0 (the spec's form for many splits)."""
    calls = settlement_instructions(keys, voucher, treasury_owner)
    return compile_transaction(calls, fee_payer, recent_blockhash, legacy=legacy and not lookup_tables,
                               lookup_tables=lookup_tables)


def build_lookup_table_transactions(authority: Pubkey, recent_slot: int, addresses: Sequence[Pubkey],
                                    recent_blockhash: Hash) -> tuple[Pubkey, list[VersionedTransaction]]:
    """A new lookup table holding `addresses`: create + the first extend, then one transaction per
    further chunk; the authority pays and signs each. The table is usable from the slot after the
    last of them lands."""
    if not addresses:
        raise MalformedError("a lookup table needs at least one address")
    create, table = alt.create_lookup_table(authority, authority, recent_slot)
    chunks = [addresses[i:i + alt.EXTEND_CHUNK]
              for i in range(0, len(addresses), alt.EXTEND_CHUNK)]
    extends = [alt.extend_lookup_table(table, authority, authority, chunk) for chunk in chunks]
    calls = [[create, extends[0]], *([e] for e in extends[1:])]
    return table, [compile_transaction(c, authority, recent_blockhash, legacy=True) for c in calls]


def build_settle_transaction(keys: ChannelKeys, voucher: Ed25519Payload, recent_blockhash: Hash,
                             fee_payer: Pubkey, legacy: bool = False) -> VersionedTransaction:
    """Partial settlement while open: `ed25519 settle` (permissionless)."""
    calls = [*_voucher_instructions(keys, voucher), ix.settle_instruction(keys.channel, keys.program_id)]
    return compile_transaction(calls, fee_payer, recent_blockhash, legacy=legacy)


def build_request_close_transaction(keys: ChannelKeys, recent_blockhash: Hash,
                                    fee_payer: Pubkey | None = None) -> VersionedTransaction:
    """The payer's forced close; the grace period starts when it lands."""
    calls = [ix.request_close_instruction(keys)]
    return compile_transaction(calls, fee_payer or keys.payer, recent_blockhash)


def build_seal_transaction(channel: Pubkey, recent_blockhash: Hash, fee_payer: Pubkey,
                           program_id: Pubkey = PROGRAM_ID) -> VersionedTransaction:
    """`seal` after the grace period (anyone may send it)."""
    return compile_transaction([ix.seal_instruction(channel, program_id)], fee_payer, recent_blockhash)


def build_withdraw_payer_transaction(keys: ChannelKeys, recent_blockhash: Hash,
                                     fee_payer: Pubkey | None = None,
                                     seal_first: bool = False) -> VersionedTransaction:
    """The payer's refund once sealed; `seal_first` prepends `seal` (finishing a forced close)."""
    calls = [ix.seal_instruction(keys.channel, keys.program_id)] if seal_first else []
    calls.append(ix.withdraw_payer_instruction(keys))
    return compile_transaction(calls, fee_payer or keys.payer, recent_blockhash)


def build_distribute_transaction(keys: ChannelKeys, recent_blockhash: Hash, fee_payer: Pubkey,
                                 treasury_owner: Pubkey = TREASURY_OWNER) -> VersionedTransaction:
    """`distribute` alone (permissionless)."""
    return compile_transaction([ix.distribute_instruction(keys, treasury_owner)], fee_payer, recent_blockhash)


def build_reclaim_transaction(targets: Sequence[tuple[Pubkey, Pubkey]], recent_blockhash: Hash,
                              fee_payer: Pubkey, program_id: Pubkey = PROGRAM_ID) -> VersionedTransaction:
    """One sweep of `reclaim`s, one per `(channel, rentPayer)`."""
    if not targets:
        raise MalformedError("reclaim needs at least one channel")
    calls = [ix.reclaim_instruction(channel, rent_payer, program_id) for channel, rent_payer in targets]
    return compile_transaction(calls, fee_payer, recent_blockhash)
