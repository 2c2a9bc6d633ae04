"""Known answers for the derived addresses: channel PDA, ATAs, event authority, treasury."""

from __future__ import annotations

import pytest
from solders.pubkey import Pubkey
from spl.token.instructions import get_associated_token_address

from mppcli.chain.constants import (
    ASSOCIATED_TOKEN_PROGRAM,
    PROGRAM_ID,
    TOKEN_2022_PROGRAM,
    TOKEN_PROGRAM,
    TREASURY_OWNER,
    TREASURY_OWNER_LOCAL_BUILD,
)
from mppcli.chain.pda import (
    associated_token_address,
    escrow_address,
    event_authority,
    find_channel_address,
    treasury_token_account,
)
from mppcli.errors import MalformedError
from tests.chain.helpers import seeded


def test_event_authority_of_the_deployed_program() -> None:
    assert str(event_authority()) == "75c2huVzDW1Eq4kD86by5392sjdJzuAT195XNgP2f2tX"
    assert Pubkey.find_program_address([b"event_authority"], PROGRAM_ID)[1] == 249


def test_local_build_treasury_placeholder_is_beef_times_sixteen() -> None:
    assert Pubkey(bytes([0xBE, 0xEF]) * 16) == TREASURY_OWNER_LOCAL_BUILD
    assert str(TREASURY_OWNER) == "Cs2zdfUNonRdRGsiZUQQLdTxzxVvJZmgiX2mpLYKuEqP"


def test_channel_pda_matches_seeds_written_by_hand() -> None:
    payer, payee, mint, signer = (seeded(i).pubkey() for i in (11, 12, 13, 14))
    salt, open_slot = 0x0102030405060708, 352_114_093
    seeds = [b"channel", bytes(payer), bytes(payee), bytes(mint), bytes(signer),
             bytes([8, 7, 6, 5, 4, 3, 2, 1]), open_slot.to_bytes(8, "little")]
    assert find_channel_address(payer, payee, mint, signer, salt, open_slot) == \
        Pubkey.find_program_address(seeds, PROGRAM_ID)


def test_open_slot_and_salt_change_the_address() -> None:
    keys = [seeded(i).pubkey() for i in (11, 12, 13, 14)]
    base = find_channel_address(*keys, 1, 100)[0]
    assert find_channel_address(*keys, 1, 101)[0] != base
    assert find_channel_address(*keys, 2, 100)[0] != base
    assert find_channel_address(*keys, 1, 100, program_id=Pubkey(bytes(32)))[0] != base


@pytest.mark.parametrize("bad", [-1, 1 << 64, True])
def test_seed_integers_must_be_u64(bad: int) -> None:
    keys = [seeded(i).pubkey() for i in (11, 12, 13, 14)]
    with pytest.raises(MalformedError, match="salt must be a u64"):
        find_channel_address(*keys, bad, 1)


@pytest.mark.parametrize("token_program", [TOKEN_PROGRAM, TOKEN_2022_PROGRAM])
def test_ata_agrees_with_solana_py(token_program: Pubkey) -> None:
    owner, mint = seeded(20).pubkey(), seeded(21).pubkey()
    expected = get_associated_token_address(owner, mint, token_program)
    assert associated_token_address(owner, mint, token_program) == expected
    seeds = [bytes(owner), bytes(token_program), bytes(mint)]
    assert expected == Pubkey.find_program_address(seeds, ASSOCIATED_TOKEN_PROGRAM)[0]


def test_treasury_account_is_the_mainnet_treasury_owners_ata() -> None:
    usdc = Pubkey.from_string("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")
    assert treasury_token_account(usdc) == get_associated_token_address(TREASURY_OWNER, usdc, TOKEN_PROGRAM)


def test_escrow_refuses_other_token_programs() -> None:
    channel, mint = seeded(22).pubkey(), seeded(23).pubkey()
    assert escrow_address(channel, mint, TOKEN_2022_PROGRAM) == associated_token_address(
        channel, mint, TOKEN_2022_PROGRAM)
    with pytest.raises(MalformedError, match="neither SPL Token nor Token-2022"):
        escrow_address(channel, mint, seeded(24).pubkey())
