"""A live channel is metered only under the terms it was opened with (spec: Resume, issue #10 item 6):
mint still allow-listed, payee, splits, resume idle timeout; and the on-chain account still matches
the stored session (payee, mint, authorizedSigner, openSlot, distributionHash)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from mppcli.chain.channel import ChannelAccount, ChannelStatus
from mppcli.chain.splits import Split, splits_hash
from mppcli.server import problems
from mppcli.server.config import ServerConfig
from mppcli.server.state import ChannelState
from mppcli.server.terms import check_account_terms, terms_mismatch
from tests.server.harness import ServerProcess
from tests.server.payer import Payer, challenge_of, problem_of, receipt_of

PRICE = 10_000


def test_a_channel_opened_under_other_splits_is_not_metered_after_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    co_recipient = str(Keypair().pubkey())
    server = ServerProcess.start(home, f"--split={co_recipient}:250")
    try:
        payer = Payer(server)
        assert payer.open().status_code == 200
        assert receipt_of(payer.pay(PRICE)).spent == PRICE
        server.stop()
        server = ServerProcess.start(home)  # same chain and database, no splits any more
        payer.server = server
        problem = problem_of(payer.pay(2 * PRICE))
        assert problem.name == "verification-failed" and "splits" in problem.detail
        offered = payer.get("/paid", {"X-Payment-Channel": str(payer.channel_id)})
        assert challenge_of(offered)[1].method_details.channel_id is None  # no resume of that channel
        assert receipt_of(payer.close()).spent == PRICE  # closing it still settles what was paid
    finally:
        server.stop()


OPERATOR = Keypair()


def _config(mint: str, allowed: frozenset[str] = frozenset()) -> ServerConfig:
    operator = OPERATOR
    return ServerConfig(
        network="localnet",
        rpc_url="http://127.0.0.1:1",
        program_id=str(Pubkey.new_unique()),
        operator=operator,
        recipient=str(operator.pubkey()),
        recipient_signer=operator,
        mint=mint,
        decimals=6,
        token_program=str(Pubkey.new_unique()),
        secret=b"s" * 32,
        allowed_mints=allowed,
    )


def _state(config: ServerConfig, **changes: object) -> ChannelState:
    base = ChannelState(
        channel_id=str(Pubkey.new_unique()),
        payer=str(Pubkey.new_unique()),
        payee=config.recipient,
        mint=config.mint,
        token_program=config.token_program,
        authorized_signer=str(Pubkey.new_unique()),
        salt=7,
        open_slot=123,
        grace_period=900,
        splits=(),
        rent_payer=config.operator_key,
        voucher_signer="client",
        opening_challenge_id="ch",
        authentication=None,
        deposit=1_000_000,
        idle_timeout=600,
        last_activity_at=0.0,
        created_at=0.0,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_a_mint_dropped_from_the_allow_list_stops_metering() -> None:
    old_mint, new_mint = str(Pubkey.new_unique()), str(Pubkey.new_unique())
    state = _state(_config(old_mint))
    assert terms_mismatch(_config(old_mint), state) is None
    assert terms_mismatch(_config(new_mint, frozenset({old_mint})), state) is None
    problem = terms_mismatch(_config(new_mint), state)
    assert problem is not None and "no longer accepted" in problem


def test_a_changed_recipient_stops_metering() -> None:
    config = _config(str(Pubkey.new_unique()))
    problem = terms_mismatch(config, _state(config, payee=str(Pubkey.new_unique())))
    assert problem is not None and "recipient" in problem


def _account(state: ChannelState) -> ChannelAccount:
    return ChannelAccount(
        discriminator=1,
        version=1,
        bump=255,
        status=ChannelStatus.OPEN,
        salt=state.salt,
        deposit=state.deposit,
        settled=0,
        payout_watermark=0,
        closure_started_at=0,
        payer_withdrawn_at=0,
        grace_period=state.grace_period,
        distribution_hash=splits_hash(()),
        payer=Pubkey.from_string(state.payer),
        payee=Pubkey.from_string(state.payee),
        authorized_signer=Pubkey.from_string(state.authorized_signer),
        mint=Pubkey.from_string(state.mint),
        rent_payer=Pubkey.from_string(state.rent_payer),
        open_slot=state.open_slot,
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("payee", Pubkey.new_unique()),
        ("mint", Pubkey.new_unique()),
        ("authorized_signer", Pubkey.new_unique()),
        ("open_slot", 124),
        ("distribution_hash", splits_hash((Split(Pubkey.new_unique(), 100),))),
    ],
)
def test_an_account_that_is_not_the_recorded_session_is_refused(field: str, value: object) -> None:
    state = _state(_config(str(Pubkey.new_unique())))
    check_account_terms(state, _account(state))  # the recorded session passes
    with pytest.raises(problems.Rejection, match="on chain"):
        check_account_terms(state, dataclasses.replace(_account(state), **{field: value}))


def test_a_stored_record_that_no_longer_matches_the_account_is_not_metered(tmp_path: Path) -> None:
    """The account is re-authenticated against the stored session on every voucher: a record whose
    authorizedSigner was altered at rest cannot make the server accept another signer's vouchers."""
    import json
    import sqlite3

    home = tmp_path / "home"
    server = ServerProcess.start(home)
    try:
        payer = Payer(server)
        assert payer.open().status_code == 200
        assert receipt_of(payer.pay(PRICE)).spent == PRICE
        server.stop()
        intruder = Keypair()
        with sqlite3.connect(home / "state" / "server" / "server.db") as conn:
            (body,) = conn.execute(
                "SELECT body FROM channels WHERE channel_id = ?", (payer.channel_id,)
            ).fetchone()
            record = json.loads(body)
            record["authorized_signer"] = str(intruder.pubkey())
            conn.execute(
                "UPDATE channels SET body = ? WHERE channel_id = ?", (json.dumps(record), payer.channel_id)
            )
        server = ServerProcess.start(home)
        payer.server, payer.signer = server, intruder
        problem = problem_of(payer.pay(2 * PRICE))
        assert problem.name == "verification-failed" and "authorizedSigner on chain" in problem.detail
    finally:
        server.stop()
