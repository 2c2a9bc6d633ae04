"""The server's check of a topUp transaction: this channel, this amount, the payer's signature."""

from __future__ import annotations

import dataclasses

import pytest
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.system_program import TransferParams, transfer

from mppcli.chain.constants import COMPUTE_BUDGET_PROGRAM
from mppcli.chain.instructions import top_up_instruction
from mppcli.chain.params import ChannelKeys
from mppcli.chain.transactions import build_top_up_transaction
from mppcli.chain.txcodec import compile_transaction, encode_transaction, partial_sign
from mppcli.chain.verify import TopUpExpectations, TopUpRejected, verify_top_up_transaction
from tests.chain.helpers import open_case, seeded

BLOCKHASH = Hash(bytes([9]) * 32)
PAYER, OPERATOR = seeded(1), seeded(2)


def _keys() -> ChannelKeys:
    return open_case().params.keys()


def _signed(keys: ChannelKeys, amount: int, sponsor: bool = False) -> str:
    tx = build_top_up_transaction(keys, amount, BLOCKHASH, OPERATOR.pubkey() if sponsor else None)
    return encode_transaction(partial_sign(tx, [PAYER]))


def _expect(amount: int, sponsor: bool = False, **changes: object) -> TopUpExpectations:
    base = TopUpExpectations(_keys(), amount, OPERATOR.pubkey() if sponsor else None)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _rejected(tx: object, expect: TopUpExpectations, match: str) -> None:
    with pytest.raises(TopUpRejected, match=match):
        verify_top_up_transaction(tx, expect)  # type: ignore[arg-type]


def test_payer_paid_fully_signed_top_up_is_accepted() -> None:
    verified = verify_top_up_transaction(_signed(_keys(), 5_000), _expect(5_000))
    assert (verified.amount, verified.fee_payer, verified.sponsored) == (5_000, PAYER.pubkey(), False)


def test_sponsored_partially_signed_top_up_is_accepted_when_the_server_sponsors() -> None:
    verified = verify_top_up_transaction(_signed(_keys(), 5_000, sponsor=True), _expect(5_000, sponsor=True))
    assert verified.sponsored and verified.fee_payer == OPERATOR.pubkey()


def test_a_sponsoring_server_still_accepts_the_payer_paid_form() -> None:
    assert not verify_top_up_transaction(_signed(_keys(), 5_000), _expect(5_000, sponsor=True)).sponsored


def test_a_sponsored_form_needs_a_sponsoring_server() -> None:
    _rejected(_signed(_keys(), 5_000, sponsor=True), _expect(5_000), "fee payer .* is not the expected")


# --- the value-binding-topup checklist --------------------------------------------------------------

def test_topup_a_a_transaction_for_another_channel_is_rejected() -> None:
    """`topup-a-unrelated-confirmed-inflated-deposit`: a real transaction, not a top-up of THIS channel."""
    other = dataclasses.replace(_keys(), channel=seeded(66).pubkey())
    _rejected(_signed(other, 4_000_000), _expect(4_000_000), "topUp channel .* differs from this channel")


def test_topup_a_an_unrelated_transaction_is_rejected() -> None:
    """The same attack with a transaction that is no top-up at all (a plain transfer the payer signed)."""
    pay = transfer(TransferParams(from_pubkey=PAYER.pubkey(), to_pubkey=seeded(66).pubkey(), lamports=1))
    tx = partial_sign(compile_transaction([pay], PAYER.pubkey(), BLOCKHASH), [PAYER])
    _rejected(tx, _expect(4_000_000), "calls 11111111111111111111111111111111; only the channel program")


def test_topup_c_on_chain_delta_must_equal_the_claimed_amount() -> None:
    """`topup-c-onchain-delta-mismatch`: the transaction adds 1, the payload claims 3,999,999."""
    _rejected(_signed(_keys(), 1), _expect(3_999_999), "topUp amount 1 differs from additionalAmount 3999999")


def test_topup_b_placeholder_signature_is_rejected() -> None:
    """`topup-b-placeholder-signature-with-rpc`: nothing signed, nothing proven."""
    unsigned = build_top_up_transaction(_keys(), 2_000_000, BLOCKHASH)
    _rejected(unsigned, _expect(2_000_000), "payer's signature .* is missing or does not verify")


VALUE_BINDING_TOPUP = {
    "topup-a-unrelated-confirmed-inflated-deposit": (
        test_topup_a_a_transaction_for_another_channel_is_rejected,
        test_topup_a_an_unrelated_transaction_is_rejected),
    "topup-c-onchain-delta-mismatch": (test_topup_c_on_chain_delta_must_equal_the_claimed_amount,),
    "topup-b-placeholder-signature-with-rpc": (test_topup_b_placeholder_signature_is_rejected,),
}


def test_every_value_binding_topup_case_has_a_test() -> None:
    from tests.support import load_vectors

    vectors = load_vectors("value-binding-topup.json")
    if vectors is None:
        pytest.skip("../shared/reference/vectors is not available")
    assert {case["id"] for case in vectors["cases"]} == set(VALUE_BINDING_TOPUP)
    assert all(case["expect"] == "reject" for case in vectors["cases"])


# --- everything else ------------------------------------------------------------------------------

def test_only_the_stored_payer_may_top_up() -> None:
    stranger = seeded(67)
    keys = dataclasses.replace(_keys(), payer=stranger.pubkey())
    tx = partial_sign(build_top_up_transaction(keys, 5_000, BLOCKHASH), [stranger])
    _rejected(tx, _expect(5_000), "fee payer .* is not the expected")
    sponsored = build_top_up_transaction(keys, 5_000, BLOCKHASH, OPERATOR.pubkey())
    cosponsored = partial_sign(sponsored, [stranger])
    _rejected(cosponsored, _expect(5_000, sponsor=True), "topUp account payer .* differs")


def test_claimed_amount_must_be_positive() -> None:
    _rejected(_signed(_keys(), 5_000), _expect(0), "additionalAmount must be greater than zero")


def test_blockhash_is_checked_when_the_server_gave_one() -> None:
    assert verify_top_up_transaction(_signed(_keys(), 5), _expect(5, recent_blockhash=BLOCKHASH))
    _rejected(_signed(_keys(), 5), _expect(5, recent_blockhash=Hash(bytes(32))), "recent blockhash")


@pytest.mark.parametrize("field", ["mint", "token_program"])
def test_token_accounts_follow_the_stored_channel(field: str) -> None:
    from mppcli.chain.constants import TOKEN_2022_PROGRAM

    value = seeded(68).pubkey() if field == "mint" else TOKEN_2022_PROGRAM
    other = dataclasses.replace(_keys(), **{field: value})
    _rejected(_signed(other, 5), _expect(5), "topUp account (payerTokenAccount|channelTokenAccount|mint)")


def test_extra_instructions_and_compute_budget_accounts_are_refused() -> None:
    keys = _keys()
    twice = [top_up_instruction(keys, 5), top_up_instruction(keys, 5)]
    _rejected(partial_sign(compile_transaction(twice, PAYER.pubkey(), BLOCKHASH), [PAYER]), _expect(5),
              "exactly once, it calls it 2 times")
    meta = AccountMeta(PAYER.pubkey(), True, True)
    odd = Instruction(COMPUTE_BUDGET_PROGRAM, bytes([3]) + bytes(8), [meta])
    calls = [odd, top_up_instruction(keys, 5)]
    _rejected(partial_sign(compile_transaction(calls, PAYER.pubkey(), BLOCKHASH), [PAYER]), _expect(5),
              "a ComputeBudget instruction carries accounts")
