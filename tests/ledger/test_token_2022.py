"""Token-2022 mints on the ledger: a whole channel life through the real Token-2022 program, and
the program's extension allow-list (a transfer-fee mint is refused)."""

from __future__ import annotations

from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from spl.token.instructions import initialize_transfer_fee_config
from spl.token.models import InitializeTransferFeeConfigParams

from mppcli.chain.channel import ChannelStatus
from mppcli.chain.constants import TOKEN_2022_PROGRAM, TREASURY_OWNER
from mppcli.chain.instructions import distribute_instruction, open_instruction, settle_and_seal_instruction
from mppcli.chain.params import OpenParams
from mppcli.chain.pda import associated_token_address
from mppcli.ledger import spl
from tests.ledger.harness import SOL, Chain, voucher

TRANSFER_FEE_MINT_SIZE = 278  # base 82, padding to 165, account type, TLV header 4, config 108


def _create_mint(chain: Chain, authority: Keypair) -> Pubkey:
    """A plain Token-2022 mint (6 decimals) whose mint authority is `authority`."""
    mint = Keypair()
    rent = chain.run(chain.rpc.minimum_balance(spl.MINT_SIZE))
    chain.submit([create_account(CreateAccountParams(from_pubkey=authority.pubkey(), to_pubkey=mint.pubkey(),
                                                     lamports=rent, space=spl.MINT_SIZE,
                                                     owner=TOKEN_2022_PROGRAM)),
                  spl.initialize_mint2(TOKEN_2022_PROGRAM, mint.pubkey(), 6, authority.pubkey())],
                 authority, mint)
    return mint.pubkey()


def _token_account(chain: Chain, payer: Keypair, owner: Pubkey, mint: Pubkey, amount: int = 0) -> Pubkey:
    ata = associated_token_address(owner, mint, TOKEN_2022_PROGRAM)
    calls = [spl.create_ata_idempotent(payer.pubkey(), ata, owner, mint, TOKEN_2022_PROGRAM)]
    if amount:
        calls.append(spl.mint_to_checked(TOKEN_2022_PROGRAM, mint, ata, payer.pubkey(), amount, 6))
    chain.submit(calls, payer)
    return ata


def test_a_token_2022_channel_opens_settles_and_closes(chain: Chain) -> None:
    issuer = chain.fund(5 * SOL)
    mint = _create_mint(chain, issuer)
    payer, operator, session = chain.fund(SOL // 10), chain.fund(2 * SOL), Keypair()
    payer_ata = _token_account(chain, issuer, payer.pubkey(), mint, 1_000_000)
    operator_ata = _token_account(chain, issuer, operator.pubkey(), mint)
    _token_account(chain, issuer, TREASURY_OWNER, mint)
    params = OpenParams(payer.pubkey(), operator.pubkey(), mint, session.pubkey(), 1, 600_000, 60,
                        chain.slot(), operator.pubkey(), token_program=TOKEN_2022_PROGRAM)
    chain.submit([open_instruction(params)], operator, payer)
    assert chain.channel(params.channel).deposit == 600_000  # type: ignore[union-attr]

    chain.submit([voucher(session, params.channel, 250_000),
                  settle_and_seal_instruction(params.keys(), has_voucher=True),
                  distribute_instruction(params.keys())], operator)
    assert chain.run(chain.rpc.token_balance(operator_ata)) == 250_000
    assert chain.run(chain.rpc.token_balance(payer_ata)) == 400_000 + 350_000
    assert chain.channel(params.channel).status == ChannelStatus.DISTRIBUTED  # type: ignore[union-attr]
    assert not chain.exists(associated_token_address(params.channel, mint, TOKEN_2022_PROGRAM))


def test_a_mint_with_a_transfer_fee_is_refused(chain: Chain) -> None:
    issuer = chain.fund(5 * SOL)
    placeholder = Keypair().pubkey()
    fee_config = initialize_transfer_fee_config(InitializeTransferFeeConfigParams(
        program_id=TOKEN_2022_PROGRAM, mint=placeholder, transfer_fee_config_authority=None,
        withdraw_withheld_authority=None, transfer_fee_basis_points=100, maximum_fee=1000))
    mint = Keypair()
    rent = chain.run(chain.rpc.minimum_balance(TRANSFER_FEE_MINT_SIZE))
    with_mint = Instruction(fee_config.program_id, bytes(fee_config.data),
                            [type(m)(mint.pubkey(), m.is_signer, m.is_writable) for m in fee_config.accounts])
    chain.submit([create_account(CreateAccountParams(from_pubkey=issuer.pubkey(), to_pubkey=mint.pubkey(),
                                                     lamports=rent, space=TRANSFER_FEE_MINT_SIZE,
                                                     owner=TOKEN_2022_PROGRAM)),
                  with_mint, spl.initialize_mint2(TOKEN_2022_PROGRAM, mint.pubkey(), 6, issuer.pubkey())],
                 issuer, mint)
    payer, operator = chain.fund(SOL // 10), chain.fund(2 * SOL)
    _token_account(chain, issuer, payer.pubkey(), mint.pubkey(), 1_000_000)
    params = OpenParams(payer.pubkey(), operator.pubkey(), mint.pubkey(), Keypair().pubkey(), 1, 1000, 60,
                        chain.slot(), operator.pubkey(), token_program=TOKEN_2022_PROGRAM)
    assert chain.error([open_instruction(params)], operator, payer) == [0, {"Custom": 56}]
