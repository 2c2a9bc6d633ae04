"""Before signing, the payer reads back the transaction it built and refuses any surprise."""

from __future__ import annotations

import dataclasses

import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.system_program import TransferParams, transfer

from mppcli.chain.constants import TOKEN_2022_PROGRAM, TOKEN_PROGRAM
from mppcli.chain.instructions import open_instruction
from mppcli.chain.params import OpenParams
from mppcli.chain.splits import Split
from mppcli.chain.transactions import build_open_transaction, build_top_up_transaction
from mppcli.chain.txcodec import compile_transaction
from mppcli.client.txcheck import check_open, check_top_up
from mppcli.errors import InternalError

PAYER, PAYEE, MINT, SIGNER, SPONSOR = (Keypair().pubkey() for _ in range(5))
BLOCKHASH = Hash.new_unique()


def params(**over: object) -> OpenParams:
    base = OpenParams(payer=PAYER, payee=PAYEE, mint=MINT, authorized_signer=SIGNER, salt=7, deposit=1000,
                      grace_period=900, open_slot=100, rent_payer=SPONSOR, token_program=TOKEN_PROGRAM)
    return dataclasses.replace(base, **over)  # type: ignore[arg-type]


def test_the_open_we_meant_passes() -> None:
    check_open(build_open_transaction(params(), BLOCKHASH, SPONSOR), params(), BLOCKHASH)
    split = params(splits=(Split(PAYEE, 100),))
    check_open(build_open_transaction(split, BLOCKHASH, SPONSOR), split, BLOCKHASH)


@pytest.mark.parametrize(("built", "meant", "reason"), [
    ({"deposit": 2000}, {}, "deposits 2000, meant 1000"),
    ({"payee": SIGNER}, {}, "account payee"),
    ({"authorized_signer": PAYEE}, {}, "account authorizedSigner"),
    ({"salt": 8}, {}, "account channel"),  # another PDA
    ({"grace_period": 901}, {}, "gracePeriod is 901"),
    ({"splits": (Split(PAYEE, 100),)}, {}, "splits"),
    ({"token_program": TOKEN_2022_PROGRAM}, {}, "account payerTokenAccount"),
    ({}, {"rent_payer": PAYER}, "fee payer"),
])
def test_any_difference_from_what_we_meant_is_refused(built: dict[str, object], meant: dict[str, object],
                                                       reason: str) -> None:
    fee_payer = params(**built).rent_payer
    tx = build_open_transaction(params(**built), BLOCKHASH, fee_payer)
    with pytest.raises(InternalError, match=reason):
        check_open(tx, params(**meant), BLOCKHASH)


def test_another_blockhash_is_refused() -> None:
    tx = build_open_transaction(params(), BLOCKHASH, SPONSOR)
    with pytest.raises(InternalError, match="blockhash"):
        check_open(tx, params(), Hash.new_unique())


def test_an_extra_instruction_is_refused() -> None:
    extra = transfer(TransferParams(from_pubkey=PAYER, to_pubkey=PAYEE, lamports=1))
    tx = compile_transaction([open_instruction(params()), extra], SPONSOR, BLOCKHASH)
    with pytest.raises(InternalError, match="2 instructions"):
        check_open(tx, params(), BLOCKHASH)


def test_top_up_amount_channel_payer_and_mint_are_checked() -> None:
    keys = params().keys()
    tx = build_top_up_transaction(keys, 500, BLOCKHASH)
    check_top_up(tx, keys, 500, PAYER)
    with pytest.raises(InternalError, match="adds 500, meant 400"):
        check_top_up(tx, keys, 400, PAYER)
    with pytest.raises(InternalError, match="topUp channel"):
        check_top_up(tx, dataclasses.replace(keys, channel=PAYEE), 500, PAYER)
    with pytest.raises(InternalError, match="topUp mint"):
        check_top_up(tx, dataclasses.replace(keys, mint=PAYEE), 500, PAYER)
    with pytest.raises(InternalError, match="fee payer"):
        check_top_up(tx, keys, 500, SPONSOR)
    sponsored = build_top_up_transaction(keys, 500, BLOCKHASH, SPONSOR)
    check_top_up(sponsored, keys, 500, SPONSOR)
