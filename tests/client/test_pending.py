"""Settling a pending top-up against the chain's deposit: the pure judgement and the stored result."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mppcli.client.pending import reconcile_pending, settle_pending
from mppcli.paths import resolve_paths
from mppcli.state.record import ChannelStatus, PendingTopUp
from mppcli.state.store import ChannelStore
from tests.state.factory import make_record

DEPOSIT = 1_000_000
PENDING = PendingTopUp(amount=250_000, deposit_before=DEPOSIT, transaction="AQID", created_at=7.0)

@pytest.mark.parametrize("chain", [DEPOSIT + 250_000, DEPOSIT + 900_000])
def test_a_deposit_grown_by_the_amount_means_it_landed(chain: int) -> None:
    record = make_record(status=ChannelStatus.OPEN, deposit=DEPOSIT, pending_top_up=PENDING)
    settled = settle_pending(record, chain)
    assert settled.landed and settled.record.deposit == chain
    assert settled.record.pending_top_up is None
    assert settled.record == replace(record, deposit=chain, pending_top_up=None)
    assert "landed" in settled.message and str(chain) in settled.message


@pytest.mark.parametrize("chain", [DEPOSIT, DEPOSIT + 249_999, None])
def test_anything_short_of_the_amount_means_it_did_not_land(chain: int | None) -> None:
    record = make_record(status=ChannelStatus.OPEN, deposit=DEPOSIT, pending_top_up=PENDING)
    settled = settle_pending(record, chain)
    assert not settled.landed
    assert settled.record == replace(record, pending_top_up=None)  # the deposit stays as recorded
    assert "did not land" in settled.message
    assert ("account is gone" if chain is None else f"chain holds {chain}") in settled.message


def test_a_record_without_a_pending_top_up_is_left_as_it_is() -> None:
    record = make_record(status=ChannelStatus.OPEN, deposit=DEPOSIT)
    settled = settle_pending(record, DEPOSIT * 5)
    assert settled.record is record and not settled.landed and settled.message == ""


def test_the_stored_record_is_settled_and_written(tmp_path: Path) -> None:
    store = ChannelStore(resolve_paths({"MPP_HOME": str(tmp_path)}), clock=lambda: 100.0)
    landed = store.create(make_record(status=ChannelStatus.OPEN, deposit=DEPOSIT, pending_top_up=PENDING))
    missed = store.create(make_record(status=ChannelStatus.OPEN, deposit=DEPOSIT, pending_top_up=PENDING))
    with store.lock(landed.channel_id, purpose="test"):
        first = reconcile_pending(store, landed.channel_id, DEPOSIT + 250_000)
    second = reconcile_pending(store, missed.channel_id, DEPOSIT)
    assert first.landed and first.record == store.get(landed.channel_id)
    assert store.get(landed.channel_id).deposit == DEPOSIT + 250_000
    assert not second.landed and store.get(missed.channel_id).deposit == DEPOSIT
    for cid in (landed.channel_id, missed.channel_id):
        assert store.get(cid).pending_top_up is None
        assert ChannelStore(resolve_paths({"MPP_HOME": str(tmp_path)})).get(cid).pending_top_up is None
    again = reconcile_pending(store, landed.channel_id, DEPOSIT)  # nothing pending: nothing moves
    assert again.record == store.get(landed.channel_id) and again.message == ""
