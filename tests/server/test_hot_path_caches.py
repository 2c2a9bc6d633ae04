"""The hot path's memories never outlive the truth: the store's decoded channel rows and pending
deliveries follow what is committed (not what a rolled-back batch wrote, nor a batch in progress),
and remembered challenge verifications never turn an altered challenge into an accepted one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mppcli.server import problems
from mppcli.server.challenges import Route
from mppcli.server.context import RememberingIssuer
from mppcli.server.state import Delivery
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


def test_pending_deliveries_follow_commits_and_never_a_batch_in_progress(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    assert store.pending_deliveries("A") == []  # now remembered as "none"
    with store.batch() as b:
        b.put_delivery(Delivery("A:1", "A", 1, 700, 99))
    assert [d.amount for d in store.pending_deliveries("A")] == [700]
    with pytest.raises(RuntimeError), store.batch() as b:
        b.put_delivery(Delivery("A:2", "A", 2, 50, 99))
        # read inside the batch: sees its own uncommitted row, which must not be remembered
        assert [d.amount for d in store.pending_deliveries("A")] == [700, 50]
        raise RuntimeError("refused after the write")
    assert [d.amount for d in store.pending_deliveries("A")] == [700]
    with store.batch() as b:
        b.put_delivery(Delivery("A:1", "A", 1, 700, 99, status="committed"))
    assert store.pending_deliveries("A") == []
    with store.batch() as b:
        b.put_delivery(Delivery("A:3", "A", 3, 5, 99))
    store.pending_deliveries("A").clear()  # a caller's copy: the store's memory is untouched
    assert [d.amount for d in store.pending_deliveries("A")] == [5]
    store.forget_details("A")
    assert store.pending_deliveries("A") == []
    store.close()
    reopened = Store.open(tmp_path / "s.db")
    assert reopened.pending_deliveries("A") == []


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


def test_the_row_status_is_the_last_one_written_in_a_batch(tmp_path: Path) -> None:
    """The cheaper body-only update is taken only when the row's status stays what it is, judged by
    what this batch already wrote as well as by what was committed."""
    from mppcli.server.state import Status

    store = Store.open(tmp_path / "s.db")
    store.save(make_state(accepted=10))
    assert store.channel("Chan111") is not None  # remembered: the next write may update the body only
    with store.batch() as b:
        b.put_channel(make_state(accepted=11, status=Status.CLOSING))
        b.put_channel(make_state(accepted=12))
    store.close()
    reopened = Store.open(tmp_path / "s.db")
    assert [s.accepted for s in reopened.channels(Status.OPEN)] == [12]
    assert reopened.channels(Status.CLOSING) == []


def test_the_wal_wraps_early_so_its_fsyncs_stop_growing_the_file(tmp_path: Path) -> None:
    """Every commit is fsync'd; a WAL that still grows makes each fsync a journal commit too."""
    from mppcli.server.store import WAL_CHECKPOINT_PAGES

    store = Store.open(tmp_path / "s.db")
    for accepted in range(5 * WAL_CHECKPOINT_PAGES):
        store.save(make_state(accepted=accepted))
    frame = 24 + 4096
    assert (tmp_path / "s.db-wal").stat().st_size <= 32 + (WAL_CHECKPOINT_PAGES + 10) * frame
    store.close()
    assert Store.open(tmp_path / "s.db").channel("Chan111").accepted == 5 * WAL_CHECKPOINT_PAGES - 1


def test_a_channel_row_holds_exactly_the_record_fields() -> None:
    """`encode_channel` copies the instance dict: nothing but the dataclass fields may be in it."""
    import json
    from dataclasses import fields

    from mppcli.server.state import ChannelState
    from mppcli.server.store import decode_channel, encode_channel

    state = make_state(accepted=5, highest_voucher={"signature": "s"}, extra={"note": 1})
    assert set(json.loads(encode_channel(state))) == {f.name for f in fields(ChannelState)}
    assert decode_channel(encode_channel(state)) == state
