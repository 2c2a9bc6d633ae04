"""`open` on the ledger: the happy path and each of the program's rules, by error code."""

from __future__ import annotations

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from mppcli.chain.channel import ChannelStatus
from mppcli.chain.constants import CHANNEL_ACCOUNT_SIZE, OPEN_SLOT_WINDOW, PROGRAM_ID, TOKEN_2022_PROGRAM
from mppcli.chain.instructions import open_instruction
from mppcli.chain.params import OpenParams
from mppcli.chain.pda import associated_token_address
from mppcli.chain.splits import Split, splits_hash
from tests.ledger.harness import SOL, Chain, replace_account, unsigned

# Account positions in `open` (IDL order).
PAYER, RENT_PAYER, PAYEE, MINT, SIGNER, CHANNEL, PAYER_ATA, ESCROW, TOKEN_PROG = range(9)
EVENT_AUTHORITY = 12


def _parties(chain: Chain, tokens: int = 1_000_000) -> tuple[Keypair, Keypair]:
    return chain.fund(SOL // 10, tokens), chain.fund(2 * SOL)


def _params(chain: Chain, payer: Keypair, operator: Keypair, **changes: object) -> OpenParams:
    values: dict[str, object] = {
        "payer": payer.pubkey(), "payee": operator.pubkey(), "mint": chain.mint,
        "authorized_signer": Keypair().pubkey(), "salt": 1, "deposit": 1_000_000, "grace_period": 60,
        "open_slot": chain.slot(), "rent_payer": operator.pubkey()}
    values.update(changes)
    return OpenParams(**values)  # type: ignore[arg-type]


def _refused_code(chain: Chain, params: OpenParams, payer: Keypair, operator: Keypair) -> object:
    return chain.error([open_instruction(params)], operator, payer)


def test_open_creates_the_channel_escrows_the_deposit_and_charges_the_rent_payer(chain: Chain) -> None:
    payer, operator = _parties(chain)
    splits = (Split(Keypair().pubkey(), 250),)
    params = _params(chain, payer, operator, splits=splits)
    operator_before = chain.lamports(operator.pubkey())

    chain.submit([open_instruction(params)], operator, payer)

    channel = chain.channel(params.channel)
    assert channel is not None
    assert (channel.status, channel.deposit, channel.settled, channel.grace_period) == \
        (ChannelStatus.OPEN, 1_000_000, 0, 60)
    assert (channel.payer, channel.payee, channel.rent_payer) == \
        (payer.pubkey(), operator.pubkey(), operator.pubkey())
    assert channel.open_slot == params.open_slot and channel.distribution_hash == splits_hash(splits)
    assert channel.bump == params.channel_address()[1]
    owner, lamports, data = chain.run(chain.rpc.account(params.channel))  # type: ignore[misc]
    assert owner == PROGRAM_ID and len(data) == CHANNEL_ACCOUNT_SIZE
    assert chain.tokens(params.channel) == 1_000_000 and chain.tokens(payer.pubkey()) == 0
    escrow_rent = chain.lamports(associated_token_address(params.channel, chain.mint))
    assert operator_before - chain.lamports(operator.pubkey()) == lamports + escrow_rent + 2 * 5000


def test_open_is_refused_without_the_payer_or_rent_payer_signature(chain: Chain) -> None:
    payer, operator = _parties(chain)
    params = _params(chain, payer, operator)
    ix = unsigned(open_instruction(params), PAYER)
    assert chain.error([ix], operator) == [0, {"Custom": 1}]
    other = chain.fund(SOL)
    ix = unsigned(open_instruction(params), RENT_PAYER)
    assert chain.error([ix], other, payer) == [0, {"Custom": 1}]


def test_open_checks_its_arguments_in_the_programs_order(chain: Chain) -> None:
    payer, operator = _parties(chain)
    assert _refused_code(chain, _params(chain, payer, operator, payee=payer.pubkey()), payer, operator) \
        == [0, {"Custom": 2001}]
    assert _refused_code(chain, _params(chain, payer, operator, deposit=0), payer, operator) \
        == [0, {"Custom": 200}]
    assert _refused_code(chain, _params(chain, payer, operator, grace_period=0), payer, operator) \
        == [0, {"Custom": 201}]
    off_curve = Pubkey.find_program_address([b"not-a-key"], PROGRAM_ID)[0]
    off_curve_params = _params(chain, payer, operator, authorized_signer=off_curve)
    assert _refused_code(chain, off_curve_params, payer, operator) == [0, {"Custom": 2002}]


def test_open_slot_must_be_past_or_present_and_within_the_window(chain: Chain) -> None:
    payer, operator = _parties(chain)
    future = _params(chain, payer, operator, open_slot=chain.slot() + 50)
    assert _refused_code(chain, future, payer, operator) == [0, {"Custom": 2003}]
    old_slot = chain.slot()
    chain.warp(slots=OPEN_SLOT_WINDOW + 1)
    stale = _params(chain, payer, operator, open_slot=old_slot)
    assert _refused_code(chain, stale, payer, operator) == [0, {"Custom": 2003}]
    edge = _params(chain, payer, operator, open_slot=chain.slot() - OPEN_SLOT_WINDOW + 5)
    chain.submit([open_instruction(edge)], operator, payer)
    assert chain.channel(edge.channel) is not None


def test_open_enforces_the_split_rules(chain: Chain) -> None:
    payer, operator = _parties(chain)
    someone = Keypair().pubkey()
    cases = [((Split(someone, 0),), 261),
             ((Split(someone, 9000), Split(Keypair().pubkey(), 1001)), 261),
             ((Split(someone, 10), Split(someone, 20)), 263)]
    for splits, code in cases:
        assert _refused_code(chain, _params(chain, payer, operator, splits=splits), payer, operator) \
            == [0, {"Custom": code}]
    base = _params(chain, payer, operator)
    itself = _params(chain, payer, operator, authorized_signer=base.authorized_signer,
                     open_slot=base.open_slot, splits=(Split(base.channel, 10),))
    assert itself.channel == base.channel
    assert _refused_code(chain, itself, payer, operator) == [0, {"Custom": 261}]


def test_open_checks_the_channel_escrow_and_token_accounts(chain: Chain) -> None:
    payer, operator = _parties(chain)
    params = _params(chain, payer, operator)
    ix = open_instruction(params)
    wrong = Keypair().pubkey()
    assert chain.error([replace_account(ix, CHANNEL, wrong)], operator, payer) == [0, {"Custom": 2000}]
    assert chain.error([replace_account(ix, ESCROW, wrong)], operator, payer) == [0, {"Custom": 50}]
    assert chain.error([replace_account(ix, PAYER_ATA, wrong)], operator, payer) == [0, {"Custom": 57}]
    assert chain.error([replace_account(ix, TOKEN_PROG, TOKEN_2022_PROGRAM)], operator, payer) \
        == [0, {"Custom": 53}]
    assert chain.error([replace_account(ix, TOKEN_PROG, wrong)], operator, payer) == [0, {"Custom": 54}]
    assert chain.error([replace_account(ix, EVENT_AUTHORITY, wrong)], operator, payer) == [0, {"Custom": 8}]


def test_open_without_a_payer_token_account_is_invalid_payer_token_account(chain: Chain) -> None:
    payer, operator = chain.fund(SOL // 10), chain.fund(2 * SOL)
    assert _refused_code(chain, _params(chain, payer, operator), payer, operator) == [0, {"Custom": 58}]


def test_open_needs_exactly_its_fourteen_accounts(chain: Chain) -> None:
    payer, operator = _parties(chain)
    ix = open_instruction(_params(chain, payer, operator))
    shorter = type(ix)(ix.program_id, bytes(ix.data), list(ix.accounts)[:-1])
    longer = type(ix)(ix.program_id, bytes(ix.data), [*ix.accounts, ix.accounts[0]])
    assert chain.error([shorter], operator, payer) == [0, "NotEnoughAccountKeys"]
    assert chain.error([longer], operator, payer) == [0, "NotEnoughAccountKeys"]


def test_open_with_too_few_tokens_fails_in_the_token_program_and_leaves_no_trace(chain: Chain) -> None:
    payer, operator = _parties(chain, tokens=10)
    assert _refused_code(chain, _params(chain, payer, operator), payer, operator) == [0, {"Custom": 1}]
    assert chain.tokens(payer.pubkey()) == 10


def test_an_open_channel_cannot_be_opened_again(chain: Chain) -> None:
    payer, operator = _parties(chain, tokens=2_000_000)
    params = _params(chain, payer, operator)
    chain.submit([open_instruction(params)], operator, payer)
    chain.warp(slots=1)  # a new blockhash, so the retry is a new transaction, not a replay
    again = chain.error([open_instruction(params)], operator, payer)
    assert again[0] == 0 and again[1] == {"Custom": 0}  # the system program: account already in use
    assert chain.tokens(params.channel) == 1_000_000
