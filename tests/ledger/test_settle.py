"""`settle` and `settleAndSeal`: vouchers read from the preceding Ed25519 precompile instruction."""

from __future__ import annotations

import struct

from solders.instruction import Instruction
from solders.keypair import Keypair

from mppcli.chain.channel import ChannelStatus
from mppcli.chain.constants import INSTRUCTIONS_SYSVAR
from mppcli.chain.instructions import (
    request_close_instruction,
    settle_and_seal_instruction,
    settle_instruction,
)
from mppcli.protocol.voucher import MAGIC
from tests.ledger.harness import SOL, Chain, replace_account, signed_message, unsigned, voucher


def test_settle_advances_the_watermark_and_moves_no_tokens(chain: Chain) -> None:
    opened = chain.open_channel()
    cranker = chain.fund(SOL)
    chain.submit([voucher(opened.session, opened.channel, 400), settle_instruction(opened.channel)], cranker)
    channel = chain.channel(opened.channel)
    assert channel is not None and channel.settled == 400 and channel.status == ChannelStatus.OPEN
    assert chain.tokens(opened.channel) == 1_000_000
    chain.submit([voucher(opened.session, opened.channel, 1_000_000), settle_instruction(opened.channel)],
                 cranker)
    assert chain.channel(opened.channel).settled == 1_000_000  # type: ignore[union-attr]


def test_settle_needs_the_precompile_right_before_it(chain: Chain) -> None:
    opened = chain.open_channel()
    cranker = chain.fund(SOL)
    assert chain.error([settle_instruction(opened.channel)], cranker) == [0, {"Custom": 230}]
    separated = [voucher(opened.session, opened.channel, 5), _memo(), settle_instruction(opened.channel)]
    assert chain.error(separated, cranker) == [2, {"Custom": 230}]


def test_a_non_canonical_precompile_instruction_is_malformed(chain: Chain) -> None:
    opened = chain.open_channel()
    ix = voucher(opened.session, opened.channel, 5)
    data = bytearray(bytes(ix.data))
    data[1] = 1  # the padding byte: the precompile ignores it, the program does not
    odd = Instruction(ix.program_id, bytes(data), [])
    assert chain.error([odd, settle_instruction(opened.channel)], chain.fund(SOL)) == [1, {"Custom": 231}]


def test_a_forged_voucher_signature_fails_in_the_precompile(chain: Chain) -> None:
    opened = chain.open_channel()
    ix = voucher(opened.session, opened.channel, 5)
    data = bytearray(bytes(ix.data))
    data[60] ^= 1  # inside the signature
    forged = Instruction(ix.program_id, bytes(data), [])
    assert chain.error([forged, settle_instruction(opened.channel)], chain.fund(SOL)) == [0, {"Custom": 2}]


def test_voucher_rules_in_the_programs_order(chain: Chain) -> None:
    opened = chain.open_channel(deposit=1000)
    cranker, channel, session = chain.fund(SOL), opened.channel, opened.session
    settle = settle_instruction(channel)
    now = chain.unix_time()

    def code(precompile: Instruction) -> object:
        return chain.error([precompile, settle], cranker)[1]

    bad_magic = b"\x57\x01" + bytes(channel) + struct.pack("<Qq", 5, 0)
    assert code(signed_message(session, bad_magic)) == {"Custom": 238}
    assert code(voucher(session, Keypair().pubkey(), 5)) == {"Custom": 232}
    assert code(voucher(session, channel, 5, expires_at=now - 1)) == {"Custom": 233}
    assert code(voucher(session, channel, 5, expires_at=-1)) == {"Custom": 233}  # i64: always past
    assert code(voucher(session, channel, 5, expires_at=-(2**63))) == {"Custom": 233}
    assert code(voucher(session, channel, 1001)) == {"Custom": 235}
    assert code(voucher(Keypair(), channel, 5)) == {"Custom": 237}
    chain.submit([voucher(session, channel, 600, expires_at=now + 3600), settle], cranker)
    assert code(voucher(session, channel, 600)) == {"Custom": 234}
    assert code(voucher(session, channel, 599)) == {"Custom": 234}
    assert MAGIC == b"\x56\x01"


def test_settle_needs_the_instructions_sysvar_and_an_open_channel(chain: Chain) -> None:
    opened = chain.open_channel()
    cranker = chain.fund(SOL)
    wrong_sysvar = replace_account(settle_instruction(opened.channel), 1, Keypair().pubkey())
    assert chain.error([voucher(opened.session, opened.channel, 5), wrong_sysvar], cranker) \
        == [1, "UnsupportedSysvar"]
    chain.submit([request_close_instruction(opened.keys)], opened.payer)
    assert chain.error([voucher(opened.session, opened.channel, 5), settle_instruction(opened.channel)],
                       cranker) == [1, {"Custom": 2}]
    assert settle_instruction(opened.channel).accounts[1].pubkey == INSTRUCTIONS_SYSVAR


def test_settle_and_seal_applies_the_last_voucher_and_seals(chain: Chain) -> None:
    opened = chain.open_channel()
    chain.submit([voucher(opened.session, opened.channel, 777),
                  settle_and_seal_instruction(opened.keys, has_voucher=True)], opened.operator)
    channel = chain.channel(opened.channel)
    assert channel is not None and (channel.status, channel.settled) == (ChannelStatus.SEALED, 777)
    assert chain.error([settle_and_seal_instruction(opened.keys, has_voucher=False)], opened.operator) \
        == [0, {"Custom": 2}]


def test_settle_and_seal_without_a_voucher_keeps_the_settled_amount(chain: Chain) -> None:
    opened = chain.open_channel()
    chain.submit([voucher(opened.session, opened.channel, 50), settle_instruction(opened.channel)],
                 opened.operator)
    chain.submit([settle_and_seal_instruction(opened.keys, has_voucher=False)], opened.operator)
    channel = chain.channel(opened.channel)
    assert channel is not None and (channel.status, channel.settled) == (ChannelStatus.SEALED, 50)


def test_settle_and_seal_needs_the_payee_signature(chain: Chain) -> None:
    opened = chain.open_channel(separate_payee=True)
    ix = settle_and_seal_instruction(opened.keys, has_voucher=False)
    assert chain.error([unsigned(ix, 0)], opened.operator) == [0, {"Custom": 1}]
    impostor = chain.fund(SOL)
    assert chain.error([replace_account(ix, 0, impostor.pubkey())], impostor) == [0, {"Custom": 6}]
    chain.submit([ix], opened.operator, opened.payee)
    assert chain.channel(opened.channel).status == ChannelStatus.SEALED  # type: ignore[union-attr]


def test_settle_and_seal_works_while_closing_until_the_grace_deadline(chain: Chain) -> None:
    opened = chain.open_channel(grace=100)
    chain.submit([request_close_instruction(opened.keys)], opened.payer)
    chain.warp(seconds=50)
    chain.submit([voucher(opened.session, opened.channel, 10),
                  settle_and_seal_instruction(opened.keys, has_voucher=True)], opened.operator)
    channel = chain.channel(opened.channel)
    assert channel is not None and (channel.status, channel.settled, channel.closure_started_at) == \
        (ChannelStatus.SEALED, 10, 0)

    late = chain.open_channel(grace=100, salt=8)
    chain.submit([request_close_instruction(late.keys)], late.payer)
    chain.warp(seconds=100)
    assert chain.error([settle_and_seal_instruction(late.keys, has_voucher=False)], late.operator) \
        == [0, {"Custom": 2}]


def _memo() -> Instruction:
    from solders.pubkey import Pubkey

    return Instruction(Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"), b"between", [])
