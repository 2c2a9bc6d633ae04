"""The hot path's memories never outlive the truth: the store's decoded channel rows follow what is
committed (not what a rolled-back batch wrote), and remembered challenge verifications never turn
an altered challenge into an accepted one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mppcli.server import problems
from mppcli.server.challenges import Route
from mppcli.server.context import RememberingIssuer
from mppcli.server.store import Store
from tests.server.test_store import make_state


def test_a_rolled_back_batch_leaves_the_cached_channel_as_committed(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    store.save(make_state(accepted=10))
    assert store.channel("Chan111").accepted == 10  # now cached
    with pytest.raises(RuntimeError), store.batch() as b:
        b.put_channel(make_state(accepted=20))
        raise RuntimeError("refused after the write")
    assert store.channel("Chan111").accepted == 10
    store.save(make_state(accepted=30))
    assert store.channel("Chan111").accepted == 30
    store.close()
    assert Store.open(tmp_path / "s.db").channel("Chan111").accepted == 30


def test_raw_sql_on_channels_drops_the_cache(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    store.save(make_state(accepted=10))
    assert store.channel("Chan111") is not None
    with store.batch() as b:
        b.execute("DELETE FROM channels WHERE channel_id = ?", ("Chan111",))
    assert store.channel("Chan111") is None


@pytest.fixture
def issuer() -> RememberingIssuer:
    from solders.keypair import Keypair

    from mppcli.chain.constants import PROGRAM_ID, TOKEN_PROGRAM
    from mppcli.server.config import ServerConfig

    operator = Keypair()
    config = ServerConfig(
        network="localnet", rpc_url="http://127.0.0.1:1", program_id=str(PROGRAM_ID), operator=operator,
        recipient=str(operator.pubkey()), recipient_signer=operator, mint=str(Keypair().pubkey()),
        decimals=6, token_program=str(TOKEN_PROGRAM), secret=b"s" * 32, price=10, chunk_price=1,
    )
    return RememberingIssuer(config)


def test_remembered_verification_still_refuses_an_altered_challenge(issuer: RememberingIssuer) -> None:
    from solders.hash import Hash

    route = Route("/paid", 10, "request", "paid")
    challenge = issuer.new_channel(route, str(Hash.default()), 1, 1_700_000_000)
    first = issuer.verify(challenge)
    assert issuer.verify(challenge) is first  # remembered
    for altered in (dataclasses.replace(challenge, expires="2099-01-01T00:00:00Z"),
                    dataclasses.replace(challenge, realm="elsewhere"),
                    dataclasses.replace(challenge, id=challenge.id[:-2] + "AA")):
        with pytest.raises(problems.Rejection):
            issuer.verify(altered)
    assert issuer.verify(challenge) is first
