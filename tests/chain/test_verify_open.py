"""The server's structural check of an open transaction (spec Open settlement steps 1-12)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import pytest
from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.message import MessageHeader, MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import Legacy, VersionedTransaction

from mppcli.chain.constants import COMPUTE_BUDGET_PROGRAM, PROGRAM_ID, TOKEN_2022_PROGRAM, TOKEN_PROGRAM
from mppcli.chain.instructions import open_instruction
from mppcli.chain.networks import DEVNET, MAINNET, KnownMint
from mppcli.chain.splits import Split
from mppcli.chain.txcodec import compile_transaction, partial_sign
from mppcli.chain.verify import OpenRejected, verify_open_transaction
from tests.chain.helpers import RECENT_SLOT, OpenCase, open_case, seeded

SPLITS = (Split(seeded(6).pubkey(), 250), Split(seeded(7).pubkey(), 1000))


def _tx(case: OpenCase, instructions: Sequence[Instruction], fee_payer: Pubkey | None = None,
        blockhash: Hash | None = None, legacy: bool = False) -> VersionedTransaction:
    tx = compile_transaction(instructions, fee_payer or case.fee_payer, blockhash or case.blockhash, legacy)
    return partial_sign(tx, [case.payer])


def _open_ix(case: OpenCase, **changes: object) -> Instruction:
    return open_instruction(dataclasses.replace(case.params, **changes))  # type: ignore[arg-type]


def _with_account(ix: Instruction, index: int, key: Pubkey | None = None, signer: bool | None = None,
                  writable: bool | None = None) -> Instruction:
    metas = list(ix.accounts)
    old = metas[index]
    metas[index] = AccountMeta(key or old.pubkey, old.is_signer if signer is None else signer,
                               old.is_writable if writable is None else writable)
    return Instruction(ix.program_id, bytes(ix.data), metas)


def _rejected(tx: VersionedTransaction | str | bytes, case: OpenCase, match: str, **kwargs: object) -> None:
    with pytest.raises(OpenRejected, match=match):
        verify_open_transaction(tx, case.expectations(**kwargs))  # type: ignore[arg-type]


# --- accepted ------------------------------------------------------------------------------------

@pytest.mark.parametrize("sponsored", [True, False])
def test_a_correct_open_is_accepted(sponsored: bool) -> None:
    case = open_case(sponsored=sponsored, splits=SPLITS)
    verified = verify_open_transaction(case.wire(), case.expectations())
    assert verified.channel == case.params.channel
    assert verified.sponsored is sponsored
    assert verified.fee_payer == case.fee_payer
    assert verified.params == case.params


def test_token_2022_legacy_message_and_bounded_compute_budget_are_accepted() -> None:
    case = open_case(token_program=TOKEN_2022_PROGRAM)
    calls = [set_compute_unit_limit(200_000), set_compute_unit_price(5_000), open_instruction(case.params)]
    tx = _tx(case, calls, legacy=True)
    assert tx.version() == Legacy.Legacy
    verified = verify_open_transaction(tx, case.expectations())
    assert (verified.compute_budget.unit_limit, verified.compute_budget.unit_price) == (200_000, 5_000)


def test_the_current_slot_is_optional_and_an_offered_idle_timeout_is_accepted() -> None:
    case = open_case()
    expect = case.expectations(current_slot=None, idle_timeout_options=(30, 600))
    expect = dataclasses.replace(expect, claim=case.claim(idle_timeout=600))
    assert verify_open_transaction(case.signed(), expect).channel == case.params.channel


def test_the_sponsor_may_be_the_payee() -> None:
    """The reference server's usual setup: one operator key is recipient and fee payer."""
    case = open_case()
    case = dataclasses.replace(case, payee=case.operator.pubkey(),
                               params=dataclasses.replace(case.params, payee=case.operator.pubkey()))
    assert verify_open_transaction(case.wire(), case.expectations()).sponsored


@pytest.mark.parametrize("sponsored", [True, False])
def test_the_payer_may_sign_its_own_vouchers(sponsored: bool) -> None:
    case = open_case(sponsored=sponsored)
    params = dataclasses.replace(case.params, authorized_signer=case.payer.pubkey())
    expect = dataclasses.replace(case.expectations(), claim=dataclasses.replace(
        case.claim(), authorized_signer=case.payer.pubkey(), channel_id=params.channel))
    assert verify_open_transaction(case.signed(params), expect).channel == params.channel


def test_operator_mode_accepts_the_operator_as_authorized_signer() -> None:
    case = open_case()
    assert verify_open_transaction(case.wire(), case.expectations(operator=case.signer.pubkey()))


# --- the value-binding-open checklist --------------------------------------------------------------

def test_open_b_placeholder_signature_is_rejected() -> None:
    """value-binding-open `open-b-placeholder-signature-with-rpc-c1`: an empty payer slot proves nothing."""
    case = open_case()
    _rejected(case.unsigned(), case, "payer's signature .* is missing or does not verify")


def test_open_a_signature_of_another_transaction_is_rejected() -> None:
    """`open-a-unrelated-confirmed-signature-binding-control`: a valid signature over other bytes."""
    case = open_case()
    other = partial_sign(compile_transaction([_open_ix(case, deposit=2_000_000)], case.fee_payer,
                                             case.blockhash), [case.payer])
    spliced = VersionedTransaction.populate(case.unsigned().message, list(other.signatures))
    _rejected(spliced, case, "payer's signature .* does not verify")


def test_open_d_distribution_diverging_from_the_challenge_is_rejected() -> None:
    """`open-d-distribution-diverges-from-splits`: the open commits 100% to an attacker."""
    case = open_case(splits=SPLITS)
    attacker = (Split(seeded(66).pubkey(), 10_000),)
    _rejected(_tx(case, [_open_ix(case, splits=attacker)]), case, "open commits distribution")


def test_open_d_payload_splits_must_match_the_challenge() -> None:
    case = open_case(splits=SPLITS)
    expect = dataclasses.replace(case.expectations(), claim=case.claim(splits=SPLITS[:1]))
    with pytest.raises(OpenRejected, match=r"payload distributionSplits .* differ from the challenge's"):
        verify_open_transaction(case.signed(), expect)


def test_open_e_payee_diverging_from_the_recipient_is_rejected() -> None:
    """`open-e-payee-diverges-from-recipient`: the open's payee account is not the challenge recipient."""
    case = open_case()
    attacker = seeded(66).pubkey()
    _rejected(_tx(case, [_open_ix(case, payee=attacker)]), case, f"open account payee {attacker} differs")


VALUE_BINDING_OPEN = {
    "open-b-placeholder-signature-with-rpc-c1":
        test_open_b_placeholder_signature_is_rejected,
    "open-d-distribution-diverges-from-splits":
        test_open_d_distribution_diverging_from_the_challenge_is_rejected,
    "open-a-unrelated-confirmed-signature-binding-control":
        test_open_a_signature_of_another_transaction_is_rejected,
    "open-e-payee-diverges-from-recipient":
        test_open_e_payee_diverging_from_the_recipient_is_rejected,
}


def test_every_value_binding_open_case_has_a_test() -> None:
    from tests.support import load_vectors

    vectors = load_vectors("value-binding-open.json")
    if vectors is None:
        pytest.skip("../shared/reference/vectors is not available")
    assert {case["id"] for case in vectors["cases"]} == set(VALUE_BINDING_OPEN)
    assert all(case["expect"] == "reject" for case in vectors["cases"])


# --- payload against challenge --------------------------------------------------------------------

@pytest.mark.parametrize(("claim", "terms", "match"), [
    ({"payee": seeded(66).pubkey()}, {}, "payload payee .* differs from challenge recipient"),
    ({"mint": seeded(66).pubkey()}, {}, "payload mint .* differs from challenge currency"),
    ({"grace_period": 0}, {}, "gracePeriodSeconds must be greater than zero"),
    ({"grace_period": 60}, {}, "payload gracePeriodSeconds 60 differs from the challenge's 900"),
    ({"deposit_amount": 0}, {}, "depositAmount must be greater than zero"),
    ({}, {"minimum_deposit": 2_000_000}, "depositAmount 1000000 is below minimumDeposit 2000000"),
    ({"open_slot": RECENT_SLOT + 1}, {}, "openSlot .* is after recentSlot"),
    ({"open_slot": RECENT_SLOT - 1501}, {}, "more than 1500 slots before recentSlot"),
    ({"idle_timeout": 600}, {}, "idleTimeoutSeconds is not allowed"),
    ({"idle_timeout": 601}, {"idle_timeout_options": (30, 600)}, "idleTimeoutSeconds 601 is not one of"),
    ({"authorized_signer": Pubkey.find_program_address([b"x"], PROGRAM_ID)[0]}, {},
     "authorizedSigner .* is not a valid Ed25519 public key"),
    ({}, {"operator": seeded(66).pubkey()}, "authorizedSigner .* differs from the challenge's operator"),
    ({"payer": seeded(2).pubkey()}, {}, "the server's fee payer cannot be the channel's payer"),
    ({"payer": seeded(4).pubkey()}, {}, "payer and payee must differ"),
    ({}, {"program_id": Pubkey.from_string("GuoKrzaBiZnW5DvJ3yZVE7xHqbcBvaX9SH6P6Cn9gNvc")}, "is retired"),
    ({}, {"splits": SPLITS}, "differ from the challenge"),
])
def test_claim_against_terms(claim: dict[str, object], terms: dict[str, object], match: str) -> None:
    case = open_case()
    expect = dataclasses.replace(case.expectations(**terms), claim=case.claim(**claim))
    with pytest.raises(OpenRejected, match=match):
        verify_open_transaction(case.signed(), expect)


def test_invalid_challenge_splits_are_refused_even_when_both_sides_agree() -> None:
    twice = (Split(seeded(6).pubkey(), 1), Split(seeded(6).pubkey(), 2))
    case = open_case(splits=twice)
    _rejected(case.signed(), case, "is listed twice")


def test_a_split_naming_the_channel_itself_is_refused() -> None:
    case = open_case()
    splits = (Split(case.params.channel, 100),)
    case = open_case(splits=splits)  # the channel PDA does not depend on the splits
    _rejected(case.signed(), case, "is the channel itself")


@pytest.mark.parametrize(("current", "match"), [
    (RECENT_SLOT - 1, "openSlot .* is after the current slot"),
    (RECENT_SLOT + 1501, "more than 1500 slots before the current slot"),
])
def test_open_slot_window_against_the_current_slot(current: int, match: str) -> None:
    case = open_case()
    _rejected(case.signed(), case, match, current_slot=current)


# --- transaction against challenge and payload ------------------------------------------------------

@pytest.mark.parametrize(("changes", "match"), [
    ({"salt": 43}, "open salt 43 differs from payload salt 42"),
    ({"deposit": 999_999}, "open deposit 999999 differs from payload depositAmount 1000000"),
    ({"grace_period": 901}, "open gracePeriod 901 differs from challenge gracePeriodSeconds 900"),
    ({"authorized_signer": seeded(66).pubkey()}, "open account authorizedSigner .* differs"),
    ({"mint": seeded(66).pubkey()}, "open account mint .* differs"),
    ({"token_program": TOKEN_2022_PROGRAM}, "open tokenProgram .* differs from the challenge's tokenProgram"),
    ({"token_program": seeded(66).pubkey()}, "is neither SPL Token nor Token-2022"),
    ({"program_id": seeded(66).pubkey()}, "instruction #0 calls .*; only the channel program"),
])
def test_decoded_open_must_encode_the_challenged_values(changes: dict[str, object], match: str) -> None:
    case = open_case()
    _rejected(_tx(case, [_open_ix(case, **changes)]), case, match)


KNOWN_STABLECOINS = [pytest.param(net.mint(symbol), id=f"{net.name}-{symbol}")
                     for net in (MAINNET, DEVNET) for symbol in ("USDC", "PYUSD")]


@pytest.mark.parametrize("known", KNOWN_STABLECOINS)
def test_without_a_challenged_token_program_a_known_stablecoin_needs_its_own(known: KnownMint) -> None:
    """#10 item 28 / spec open step 4: no `tokenProgram` in the challenge is not "any token program"."""
    other = TOKEN_2022_PROGRAM if known.token_program == TOKEN_PROGRAM else TOKEN_PROGRAM
    right = open_case(mint=known.address, token_program=known.token_program)
    verified = verify_open_transaction(right.wire(), right.expectations(token_program=None))
    assert verified.params == right.params
    wrong = open_case(mint=known.address, token_program=other)
    _rejected(wrong.wire(), wrong, f"open tokenProgram {other} differs from {known.symbol}'s token program "
              f"{known.token_program}", token_program=None)


@pytest.mark.parametrize("program", [TOKEN_PROGRAM, TOKEN_2022_PROGRAM])
def test_without_a_challenged_token_program_an_unknown_mint_takes_either(program: Pubkey) -> None:
    case = open_case(token_program=program)
    assert verify_open_transaction(case.wire(), case.expectations(token_program=None)).params == case.params


def test_open_slot_in_the_transaction_must_equal_the_payload() -> None:
    case = open_case()
    _rejected(_tx(case, [_open_ix(case, open_slot=RECENT_SLOT - 1)]), case,
              f"open openSlot {RECENT_SLOT - 1} differs from payload openSlot {RECENT_SLOT}")


def test_declared_channel_id_must_be_the_derived_pda() -> None:
    case = open_case()
    expect = dataclasses.replace(case.expectations(), claim=case.claim(channel_id=seeded(66).pubkey()))
    with pytest.raises(OpenRejected, match=r"channelId .* is not the channel PDA"):
        verify_open_transaction(case.signed(), expect)


@pytest.mark.parametrize(("index", "name"), [
    (1, "rentPayer"), (6, "payerTokenAccount"), (7, "channelTokenAccount"), (9, "systemProgram"),
    (10, "rent"), (11, "associatedTokenProgram"), (12, "eventAuthority"), (13, "selfProgram"),
])
def test_every_derived_account_is_pinned(index: int, name: str) -> None:
    case = open_case(sponsored=False)
    bad = _with_account(open_instruction(case.params), index, seeded(66).pubkey())
    _rejected(_tx(case, [bad]), case, f"open account {name} .* differs")


def test_the_sponsor_must_be_the_fee_payer() -> None:
    case = open_case(sponsored=True)
    _rejected(_tx(case, [open_instruction(case.params)], fee_payer=case.payer.pubkey()), case,
              "fee payer .* is not the expected")


def test_the_rent_payer_must_be_the_sponsor() -> None:
    case = open_case(sponsored=True)
    _rejected(_tx(case, [_open_ix(case, rent_payer=case.payer.pubkey())]), case, "open account rentPayer")


def test_the_challenged_blockhash_is_required() -> None:
    case = open_case()
    _rejected(_tx(case, [open_instruction(case.params)], blockhash=Hash(bytes(32))), case,
              "recent blockhash .* differs from the challenge's recentBlockhash")


def test_the_sponsor_is_never_an_authority() -> None:
    case = open_case(sponsored=True)
    params = dataclasses.replace(case.params, authorized_signer=case.operator.pubkey())
    expect = dataclasses.replace(case.expectations(), claim=dataclasses.replace(
        case.claim(), authorized_signer=case.operator.pubkey(), channel_id=params.channel))
    with pytest.raises(OpenRejected, match=r"the fee payer .* is used as open account authorizedSigner"):
        verify_open_transaction(_tx(case, [open_instruction(params)]), expect)


@pytest.mark.parametrize(("extra", "match"), [
    (lambda c: transfer(TransferParams(from_pubkey=c.payer.pubkey(), to_pubkey=seeded(66).pubkey(),
                                       lamports=1)), "calls 11111111111111111111111111111111"),
    (lambda c: Instruction(Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"), b"hi", []),
     "only the channel program"),
    (lambda c: open_instruction(c.params), "exactly once, it calls it 2 times"),
    (lambda c: set_compute_unit_limit(1_400_001), "compute unit limit 1400001 exceeds"),
    (lambda c: set_compute_unit_price(1_000_001), "compute unit price 1000001 exceeds"),
    (lambda c: Instruction(COMPUTE_BUDGET_PROGRAM, bytes([1]) + (256 * 1024).to_bytes(4, "little"), []),
     "only one SetComputeUnitLimit"),
])
def test_no_other_instructions(extra: Callable[[OpenCase], Instruction], match: str) -> None:
    case = open_case()
    _rejected(_tx(case, [open_instruction(case.params), extra(case)]), case, match)


def test_duplicate_compute_budget_instructions_are_refused() -> None:
    case = open_case()
    calls = [set_compute_unit_price(1), set_compute_unit_price(2), open_instruction(case.params)]
    _rejected(_tx(case, calls), case, "only one SetComputeUnitLimit and one SetComputeUnitPrice")


def test_lookup_tables_are_refused() -> None:
    case = open_case()
    ix = open_instruction(case.params)
    table = AddressLookupTableAccount(seeded(67).pubkey(), [m.pubkey for m in ix.accounts[8:13]])
    message = MessageV0.try_compile(case.fee_payer, [ix], [table], case.blockhash)
    assert message.address_table_lookups
    tx = partial_sign(VersionedTransaction.populate(message, [Signature.default()] * 2), [case.payer])
    _rejected(tx, case, "address lookup tables")


def test_writable_surprises_are_refused() -> None:
    case = open_case()
    bad = _with_account(open_instruction(case.params), 3, writable=True)  # the mint
    _rejected(_tx(case, [bad]), case, f"account {case.mint} is writable but must be read-only")


def test_signer_surprises_are_refused() -> None:
    case = open_case()
    bad = _with_account(open_instruction(case.params), 4, signer=True)  # authorizedSigner
    tx = partial_sign(compile_transaction([bad], case.fee_payer, case.blockhash), [case.payer, case.signer])
    _rejected(tx, case, f"account {case.signer.pubkey()} is not expected to sign")


def test_an_unused_account_is_refused() -> None:
    case = open_case()
    message = case.unsigned().message
    header = message.header
    padded = MessageV0(MessageHeader(header.num_required_signatures, header.num_readonly_signed_accounts,
                                     header.num_readonly_unsigned_accounts + 1),
                       [*message.account_keys, seeded(68).pubkey()], message.recent_blockhash,
                       message.instructions, [])
    tx = partial_sign(VersionedTransaction.populate(padded, list(case.unsigned().signatures)), [case.payer])
    _rejected(tx, case, "is in the transaction but no instruction uses it")


@pytest.mark.parametrize(("text", "match"), [
    ("not base64!", "transaction must be standard base64"),
    ("AAAA", "transaction does not parse"),
])
def test_unparseable_transactions_are_rejected(text: str, match: str) -> None:
    _rejected(text, open_case(), match)

