"""What a new localnet chain starts with: its genesis hash, the faucet, and the test stablecoin.

The faucet and the stablecoin's mint authority are one address with no private key: the ledger
alone can "sign" for it (its engine runs with signature checks off), so no secret is ever written
to disk. The test stablecoin lives at a fixed address on every localnet ledger (6 decimals,
classic SPL Token), and its treasury ATA (the deployed program's treasury owner) exists from
genesis so `distribute` can sweep dust on the very first close.
"""

from __future__ import annotations

import hashlib
import os
from typing import Final

from solders.account import Account
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account

from mppcli.chain.constants import TOKEN_PROGRAM, TREASURY_OWNER
from mppcli.chain.pda import associated_token_address
from mppcli.ledger import spl
from mppcli.ledger.clock import ChainTime
from mppcli.ledger.executor import Outcome, run_instructions
from mppcli.ledger.svm import Svm

NETWORK: Final = "localnet"
FAUCET: Final = Pubkey(hashlib.sha256(b"mppcli-localnet-faucet").digest())
FAUCET_LAMPORTS: Final = 500_000_000 * 10**9
TEST_MINT: Final = Pubkey(hashlib.sha256(b"mppcli-localnet-test-stablecoin").digest())
TEST_MINT_DECIMALS: Final = 6
TEST_MINT_SYMBOL: Final = "USDC"  # what `--token` / `--currency` call it on localnet
TEST_MINT_TOKEN_PROGRAM: Final = TOKEN_PROGRAM


def new_genesis_hash() -> Hash:
    return Hash(os.urandom(32))


def create_genesis_accounts(svm: Svm) -> list[Pubkey]:
    """Fund the faucet, create the test mint and its treasury ATA; returns the accounts created."""
    svm.put(FAUCET, Account(FAUCET_LAMPORTS, b"", Pubkey.default(), False, 0))
    treasury = associated_token_address(TREASURY_OWNER, TEST_MINT, TEST_MINT_TOKEN_PROGRAM)
    instructions = (
        create_account(CreateAccountParams(from_pubkey=FAUCET, to_pubkey=TEST_MINT,
                                           lamports=svm.rent_exempt(spl.MINT_SIZE),
                                           space=spl.MINT_SIZE, owner=TEST_MINT_TOKEN_PROGRAM)),
        spl.initialize_mint2(TEST_MINT_TOKEN_PROGRAM, TEST_MINT, TEST_MINT_DECIMALS, FAUCET),
        spl.create_ata_idempotent(FAUCET, treasury, TREASURY_OWNER, TEST_MINT, TEST_MINT_TOKEN_PROGRAM),
    )
    keys = (FAUCET, TEST_MINT, treasury)
    outcome: Outcome = run_instructions(svm, instructions, keys, {}, ChainTime(0, 0))
    if outcome.err is not None:
        raise RuntimeError(f"genesis failed: {outcome.err}: {outcome.logs}")
    return list(keys)

