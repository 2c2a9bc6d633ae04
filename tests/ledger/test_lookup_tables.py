"""Address lookup tables on the embedded ledger: LiteSVM's ALT program creates and extends them, the
ledger resolves v0 lookups with the runtime's activation rule and refuses what exceeds a packet, and
a 16-split cooperative close that cannot fit a legacy transaction lands as v0 and pays everyone."""

from __future__ import annotations

from solders.account import Account
from solders.address_lookup_table_account import AddressLookupTableAccount, SlotHashes
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from mppcli.chain.constants import MAX_RECIPIENTS, TREASURY_OWNER
from mppcli.chain.ed25519 import parse_ed25519_instruction
from mppcli.chain.instructions import distribute_instruction, open_instruction
from mppcli.chain.lookup_tables import (
    ADDRESS_LOOKUP_TABLE_PROGRAM,
    LookupTable,
    decode_lookup_table,
    lookup_candidates,
)
from mppcli.chain.params import OpenParams
from mppcli.chain.splits import Split
from mppcli.chain.transactions import (
    build_lookup_table_transactions,
    build_settlement_transaction,
    settlement_instructions,
)
from mppcli.chain.txcodec import compile_transaction, fits, partial_sign
from mppcli.ledger.errors import TransactionFailed
from mppcli.ledger.runner import RunningLedger
from mppcli.ledger.txview import LookupClock, decode_transaction
from mppcli.rpc import TransactionRejected
from tests.ledger.harness import SOL, Chain, voucher


def _land(chain: Chain, tx: VersionedTransaction, *signers: Keypair) -> str:
    signature = chain.run(chain.rpc.send_transaction(bytes(partial_sign(tx, signers))))
    chain.run(chain.rpc.confirm(signature, 30))
    return signature


def _table(chain: Chain, address: Pubkey) -> LookupTable:
    found = chain.run(chain.rpc.account(address))
    assert found is not None and found[0] == ADDRESS_LOOKUP_TABLE_PROGRAM
    return decode_lookup_table(address, found[2])


def _make_table(chain: Chain, authority: Keypair, addresses: list[Pubkey]) -> LookupTable:
    """Create + extend through the RPC, then move to the slot from which it is usable."""
    if chain.slot() == 0:  # a table names a slot before the current one
        chain.warp(slots=1)
    blockhash, slot = chain.run(chain.rpc.latest_blockhash())
    table, txs = build_lookup_table_transactions(authority.pubkey(), slot - 1, addresses, blockhash)
    for tx in txs:
        _land(chain, tx, authority)
    made = _table(chain, table)
    if chain.slot() <= made.last_extended_slot:
        chain.warp(slots=1)
    return made


def test_the_alt_program_builds_a_table_in_chunks(chain: Chain) -> None:
    authority = chain.fund(SOL)
    addresses = [Keypair().pubkey() for _ in range(45)]  # three extends: 20 + 20 + 5
    made = _make_table(chain, authority, addresses)
    assert made.addresses == tuple(addresses) and made.authority == authority.pubkey()
    assert made.active_addresses(chain.slot()) == tuple(addresses)


def test_a_v0_transfer_through_a_table_lands(chain: Chain) -> None:
    authority, receiver = chain.fund(SOL), Keypair().pubkey()
    made = _make_table(chain, authority, [receiver])
    blockhash, _ = chain.run(chain.rpc.latest_blockhash())
    pay = transfer(TransferParams(from_pubkey=authority.pubkey(), to_pubkey=receiver, lamports=SOL // 100))
    tx = compile_transaction([pay], authority.pubkey(), blockhash, lookup_tables=[made.account()])
    assert receiver not in tx.message.account_keys  # it really comes from the table
    _land(chain, tx, authority)
    assert chain.lamports(receiver) == SOL // 100


def test_addresses_are_loadable_only_from_the_slot_after_their_extension() -> None:
    """The activation rule, on the decoder the ledger runs before executing (no clock involved)."""
    authority, receiver, table_key = Keypair(), Keypair().pubkey(), Keypair().pubkey()
    made = _fabricated_table(table_key, authority.pubkey(), [receiver], last_extended_slot=500)
    pay = transfer(TransferParams(from_pubkey=authority.pubkey(), to_pubkey=receiver, lamports=1))
    tx = partial_sign(compile_transaction([pay], authority.pubkey(), Hash.default(),
                                          lookup_tables=[made.account()]), [authority])
    accounts = {table_key: Account(10**7, _RAW[table_key], ADDRESS_LOOKUP_TABLE_PROGRAM, False, 0)}
    hashes = SlotHashes([])
    view = decode_transaction(bytes(tx), accounts.get, LookupClock(501, hashes))
    assert receiver in view.keys
    try:
        decode_transaction(bytes(tx), accounts.get, LookupClock(500, hashes))
    except TransactionFailed as failure:
        assert failure.err == "InvalidAddressLookupTableIndex"
    else:
        raise AssertionError("an address extended in this slot was loaded")


def test_sixteen_splits_settle_in_a_v0_transaction_with_a_table(chain: Chain) -> None:
    """Spec (splits): a bundle too large for a legacy transaction goes out as v0 with a lookup table
    indexing the recipient ATAs; every recipient, the payee, the payer and the treasury are paid.
    16 splits: the legacy bundle is ~1780 bytes (the RPC refuses it), the v0 one ~1140."""
    recipients = [Keypair() for _ in range(16)]
    for r in recipients:
        chain.give_token_account(r.pubkey())
    splits = tuple(Split(r.pubkey(), 100 + i) for i, r in enumerate(recipients))
    opened = chain.open_channel(deposit=1_000_000, splits=splits)
    keys, operator = opened.keys, opened.operator
    settled = 777_777
    precompile = parse_ed25519_instruction(bytes(voucher(opened.session, opened.channel, settled).data))
    blockhash, _ = chain.run(chain.rpc.latest_blockhash())
    legacy = build_settlement_transaction(keys, blockhash, operator.pubkey(), precompile)
    assert not fits(legacy)
    try:
        _land(chain, legacy, operator)
    except TransactionRejected as refused:
        assert "too large" in str(refused)
    else:
        raise AssertionError("the ledger accepted a transaction larger than one packet")

    per_channel = (keys.channel, keys.escrow, keys.payer, keys.token_account(keys.payer))
    shared = lookup_candidates(settlement_instructions(keys, precompile), exclude=per_channel)
    assert set(keys.token_account(s.recipient) for s in splits) <= set(shared)
    made = _make_table(chain, operator, shared)
    blockhash, _ = chain.run(chain.rpc.latest_blockhash())
    bundle = build_settlement_transaction(keys, blockhash, operator.pubkey(), precompile,
                                          lookup_tables=[made.account()])
    assert fits(bundle), len(bytes(bundle))
    treasury_before, payer_before = chain.tokens(TREASURY_OWNER), chain.tokens(opened.payer.pubkey())
    payee_before = chain.tokens(operator.pubkey())
    _land(chain, bundle, operator)

    paid = [chain.tokens(r.pubkey()) - 1 for r in recipients]  # each held one base unit before
    assert paid == [settled * s.bps // 10_000 for s in splits]
    payee_share = settled * (10_000 - sum(s.bps for s in splits)) // 10_000
    assert chain.tokens(operator.pubkey()) - payee_before == payee_share
    assert chain.tokens(opened.payer.pubkey()) - payer_before == 1_000_000 - settled
    assert chain.tokens(TREASURY_OWNER) - treasury_before == settled - sum(paid) - payee_share
    channel = chain.channel(opened.channel)
    assert channel is not None and channel.settled == settled


def test_thirty_two_splits_cannot_be_opened_or_distributed_in_one_packet(chain: Chain) -> None:
    """Why a 32-split channel cannot live on a real cluster: the program takes the splits preimage
    as instruction data (34 bytes an entry, 1088 for 32), in `open` (where a server must refuse
    lookup tables) and in `distribute`. Even `distribute` alone, with every loadable key in a
    table, is larger than a packet."""
    recipients = [Keypair().pubkey() for _ in range(MAX_RECIPIENTS)]
    splits = tuple(Split(r, 10) for r in recipients)
    payer, operator = chain.fund(SOL // 10, 1_000_000), chain.fund(SOL)
    params = OpenParams(payer.pubkey(), operator.pubkey(), chain.mint, Keypair().pubkey(), 3, 1_000_000, 60,
                        chain.slot(), operator.pubkey(), splits=splits)
    assert "too large" in str(chain.refuse([open_instruction(params)], operator, payer))
    keys = params.keys()
    distribute = [distribute_instruction(keys)]
    everything = AddressLookupTableAccount(Keypair().pubkey(), lookup_candidates(distribute))
    alone = compile_transaction(distribute, operator.pubkey(), Hash.default(), lookup_tables=[everything])
    assert not fits(alone) and len(bytes(alone)) > 1300


def test_the_model_pays_thirty_two_recipients_through_a_table_in_process(chain: Chain,
                                                                         ledger: RunningLedger) -> None:
    """What upstream's own LiteSVM benchmark does (no packet limit in-process): the channel model
    and the lookup resolution handle the protocol maximum; only the RPC's packet limit stops it."""
    recipients = [Keypair() for _ in range(MAX_RECIPIENTS)]
    for r in recipients:
        chain.give_token_account(r.pubkey())
    splits = tuple(Split(r.pubkey(), 100 + i) for i, r in enumerate(recipients))
    payer, operator, session = chain.fund(SOL // 10, 1_000_000), chain.fund(2 * SOL), Keypair()
    chain.give_token_account(operator.pubkey())
    params = OpenParams(payer.pubkey(), operator.pubkey(), chain.mint, session.pubkey(), 9, 1_000_000, 60,
                        chain.slot(), operator.pubkey(), splits=splits)
    opening = chain.build([open_instruction(params)], operator, payer)
    assert not fits(opening)
    assert ledger.ledger.send(bytes(opening)).err is None
    keys, settled = params.keys(), 500_000
    precompile = parse_ed25519_instruction(bytes(voucher(session, params.channel, settled).data))
    per_channel = (keys.channel, keys.escrow, keys.payer, keys.token_account(keys.payer))
    made = _make_table(chain, operator, lookup_candidates(settlement_instructions(keys, precompile),
                                                          exclude=per_channel))
    blockhash, _ = chain.run(chain.rpc.latest_blockhash())
    bundle = partial_sign(build_settlement_transaction(keys, blockhash, operator.pubkey(), precompile,
                                                       lookup_tables=[made.account()]), [operator])
    assert not fits(bundle)
    assert ledger.ledger.send(bytes(bundle)).err is None
    assert [chain.tokens(r.pubkey()) - 1 for r in recipients] == [settled * s.bps // 10_000 for s in splits]


def _fabricated_table(key: Pubkey, authority: Pubkey, addresses: list[Pubkey],
                      last_extended_slot: int) -> LookupTable:
    meta = (1).to_bytes(4, "little") + (2**64 - 1).to_bytes(8, "little") \
        + last_extended_slot.to_bytes(8, "little") + bytes([0]) + b"\x01" + bytes(authority) + bytes(2)
    _RAW[key] = meta + b"".join(bytes(a) for a in addresses)
    return decode_lookup_table(key, _RAW[key])


_RAW: dict[Pubkey, bytes] = {}
