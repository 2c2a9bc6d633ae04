"""Compiling a settlement transaction that fits one packet: legacy when it can, else v0 with an
address lookup table (the spec's form for a bundle with many splits).

The table holds the keys every channel of this server shares (recipient ATAs, the payee's and the
treasury's ATAs, the mint, the token program, the event authority, the instructions sysvar), so
one table serves every channel with the same splits and its rent is paid once; the per-channel
keys (channel, escrow, payer and the payer's ATA) stay static. The operator creates it (it is
the authority and pays), and finds it again on later closes by asking for the ALT program's
accounts whose authority is the operator. A fresh table is usable from the slot after its last
extension, so the server waits that one slot (~400 ms) before it compiles against it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from mppcli.chain.lookup_tables import (
    ADDRESS_LOOKUP_TABLE_PROGRAM,
    LookupTable,
    authority_filter,
    decode_lookup_table,
    lookup_candidates,
)
from mppcli.chain.params import ChannelKeys
from mppcli.chain.transactions import build_lookup_table_transactions
from mppcli.chain.txcodec import MAX_TRANSACTION_SIZE, compile_transaction, fits, partial_sign
from mppcli.errors import MalformedError
from mppcli.server.context import ServerContext

SLOT_POLL_SECONDS = 0.1
SLOT_POLLS = 100  # ten seconds for one slot to pass before giving up (the close is re-driven)


class SettlementTooLarge(MalformedError):
    """Not even v0 with a lookup table fits the bundle in one packet."""


async def compile_settlement(ctx: ServerContext, keys: ChannelKeys, calls: Sequence[Instruction],
                             recent: Hash) -> VersionedTransaction:
    """The unsigned transaction for `calls`, fee payer the operator, within 1232 bytes."""
    operator = ctx.config.operator.pubkey()
    legacy = compile_transaction(calls, operator, recent, legacy=True)
    if fits(legacy):
        return legacy
    per_channel = (keys.channel, keys.escrow, keys.payer, keys.token_account(keys.payer))
    shared = lookup_candidates(calls, exclude=per_channel)
    table = await _usable_table(ctx, shared) or await _new_table(ctx, ctx.config.operator, shared)
    tx = compile_transaction(calls, operator, recent, lookup_tables=[table.account()])
    if not fits(tx):
        raise SettlementTooLarge(
            f"the settlement transaction is {len(bytes(tx))} bytes even with lookup table {table.address} "
            f"(limit {MAX_TRANSACTION_SIZE}): {len(keys.splits)} splits cannot be settled in one transaction")
    ctx.log(f"channel {keys.channel}: settling in a v0 transaction with lookup table {table.address} "
            f"({len(bytes(tx))} bytes; legacy would be {len(bytes(legacy))})")
    return tx


async def _usable_table(ctx: ServerContext, addresses: Sequence[Pubkey]) -> LookupTable | None:
    """A table of ours that already holds every address, active now."""
    operator = ctx.config.operator.pubkey()
    found = await ctx.chain.rpc.program_accounts(
        ADDRESS_LOOKUP_TABLE_PROGRAM, [authority_filter(operator)])
    slot = await ctx.chain.slot()
    for address, owner, _lamports, data in found:
        try:
            table = decode_lookup_table(address, data)
        except MalformedError:
            continue
        ours = owner == ADDRESS_LOOKUP_TABLE_PROGRAM and table.authority == operator
        if ours and table.covers(addresses, slot):
            return table
    return None


async def _new_table(ctx: ServerContext, operator: Keypair, addresses: Sequence[Pubkey]) -> LookupTable:
    slot = await _slot_after(ctx, 0)  # a table names a slot before the current one
    blockhash, _ = await ctx.chain.blockhash()
    address, txs = build_lookup_table_transactions(operator.pubkey(), slot - 1, addresses,
                                                   Hash.from_string(blockhash))
    for tx in txs:
        submitted = await ctx.chain.submit(partial_sign(tx, [operator]))
        if not submitted.ok:
            raise MalformedError(f"creating lookup table {address} failed: {submitted.error}")
    found = await ctx.chain.rpc.account(address)
    if found is None:
        raise MalformedError(f"lookup table {address} is not on chain after it was created")
    table = decode_lookup_table(address, found.data)
    await _slot_after(ctx, table.last_extended_slot)
    ctx.log(f"created address lookup table {address} with {len(addresses)} addresses")
    return table


async def _slot_after(ctx: ServerContext, slot: int) -> int:
    """Wait until the cluster is past `slot`; the current slot."""
    for _ in range(SLOT_POLLS):
        current = await ctx.chain.slot()
        if current > slot:
            return current
        await asyncio.sleep(SLOT_POLL_SECONDS)
    raise MalformedError(f"the cluster did not move past slot {slot}; try the close again")
