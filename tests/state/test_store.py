"""ChannelStore on real files: create, update under the lock, forget, lookup, damage handling."""

from __future__ import annotations

import json
import os
import shutil
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from mppcli.errors import InputError, InternalError
from mppcli.paths import Paths, resolve_paths
from mppcli.state.record import SCHEMA_VERSION, ChannelStatus, SignerKind, VoucherSigner
from mppcli.state.store import ChannelStore, RecordUnusable
from tests.state.factory import make_record, voucher_text

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return resolve_paths({"MPP_HOME": str(tmp_path / "home")})


@pytest.fixture
def warnings() -> list[str]:
    return []


@pytest.fixture
def store(paths: Paths, warnings: list[str]) -> ChannelStore:
    return ChannelStore(paths, warn=warnings.append, clock=lambda: 1_800_000_000.0)


def test_create_writes_a_private_file_in_private_dirs(store: ChannelStore, paths: Paths) -> None:
    record = store.create(make_record())
    path = store.path_of(record.channel_id)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.channels_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(paths.state_dir.stat().st_mode) == 0o700
    assert json.loads(path.read_text())["channelId"] == record.channel_id
    assert record.created_at == record.updated_at == 1_800_000_000.0
    assert store.get(record.channel_id) == record


def test_create_refuses_to_replace_a_record(store: ChannelStore) -> None:
    record = store.create(make_record(deposit=5))
    with pytest.raises(InputError, match="already exists"):
        store.create(replace(record, deposit=9))
    assert store.get(record.channel_id).deposit == 5


def test_update_applies_a_change_and_reads_the_freshest_copy(paths: Paths) -> None:
    first, second = ChannelStore(paths), ChannelStore(paths)
    record = first.create(make_record())
    first.update(record.channel_id, lambda r: replace(r, status=ChannelStatus.OPEN, open_tx="sig"))
    # `second` never saw the change; its update must start from the stored record, not a stale one
    updated = second.update(record.channel_id, lambda r: replace(r, deposit=r.deposit + 1))
    assert updated.status is ChannelStatus.OPEN and updated.open_tx == "sig"
    assert updated.deposit == record.deposit + 1
    assert first.get(record.channel_id) == updated


def test_lowering_a_watermark_is_refused_and_logged_but_other_changes_apply(
        store: ChannelStore, warnings: list[str]) -> None:
    cid = store.create(make_record()).channel_id
    store.update(cid, lambda r: replace(r, signed_cumulative=500, last_signed_voucher=voucher_text(cid, 500),
                                        accepted_cumulative=400, spent=300, settled=200, refunded=100))
    after = store.update(cid, lambda r: replace(
        r, signed_cumulative=10, last_signed_voucher=voucher_text(cid, 10), accepted_cumulative=1,
        spent=0, settled=0, refunded=0, status=ChannelStatus.CLOSING))
    assert (after.signed_cumulative, after.accepted_cumulative, after.spent, after.settled,
            after.refunded) == (500, 400, 300, 200, 100)
    assert after.last_signed_voucher == voucher_text(cid, 500)  # the voucher stays with its amount
    assert after.status is ChannelStatus.CLOSING
    assert store.get(cid) == after
    assert len(warnings) == 5
    assert f"channel {cid}: refused to lower signedCumulative from 500 to 10" in warnings


def test_accepted_may_not_pass_what_the_client_signed(store: ChannelStore, warnings: list[str]) -> None:
    cid = store.create(make_record()).channel_id
    store.update(cid, lambda r: replace(r, signed_cumulative=100))
    after = store.update(cid, lambda r: replace(r, accepted_cumulative=150, last_accepted_voucher="{}"))
    assert after.accepted_cumulative == 0 and after.last_accepted_voucher is None
    assert any("above what this client signed (100)" in w for w in warnings)


def test_operator_mode_accepts_without_client_signatures(store: ChannelStore, warnings: list[str]) -> None:
    record = make_record(voucher_signer=VoucherSigner.OPERATOR, signer_kind=SignerKind.OPERATOR)
    cid = store.create(record).channel_id
    assert store.update(cid, lambda r: replace(r, accepted_cumulative=150)).accepted_cumulative == 150
    assert warnings == []


def test_an_update_may_not_change_the_channel_id(store: ChannelStore) -> None:
    cid = store.create(make_record()).channel_id
    with pytest.raises(InternalError):
        store.update(cid, lambda r: make_record())


def test_update_of_an_unknown_channel_is_an_input_error(store: ChannelStore) -> None:
    with pytest.raises(InputError, match="no local record of channel"):
        store.update(make_record().channel_id, lambda r: r)


def test_an_unchanged_update_does_not_rewrite(store: ChannelStore) -> None:
    cid = store.create(make_record()).channel_id
    before = store.path_of(cid).stat().st_ino
    store.update(cid, lambda r: r)
    assert store.path_of(cid).stat().st_ino == before


def test_forget_removes_the_record(store: ChannelStore) -> None:
    cid = store.create(make_record()).channel_id
    assert store.forget(cid).channel_id == cid
    assert store.load(cid) is None
    assert not store.path_of(cid).exists()


def test_a_damaged_record_is_moved_aside_and_reported(store: ChannelStore, warnings: list[str]) -> None:
    good = store.create(make_record()).channel_id
    bad = store.create(make_record()).channel_id
    path = store.path_of(bad)
    path.write_text(path.read_text()[:100])  # torn by something that is not mpp
    listing = store.list()
    assert [r.channel_id for r in listing.records] == [good]
    (problem,) = listing.problems
    assert problem.path == path and problem.moved_to is not None
    assert problem.moved_to.name.startswith(f"{bad}.json.corrupt-")
    assert problem.moved_to.read_text() == path.with_name(problem.moved_to.name).read_text()
    assert not path.exists()
    assert any(bad in w and "moved aside" in w for w in warnings)
    # still reported later, never silently dropped
    (later,) = store.list().problems
    assert later.path == problem.moved_to and "moved aside earlier" in later.reason
    assert problem.moved_to.name in warnings[-1]


def test_get_of_a_damaged_record_raises_and_moves_it(store: ChannelStore) -> None:
    cid = store.create(make_record()).channel_id
    doc = json.loads(store.path_of(cid).read_text())
    doc["deposit"] = 12  # a number: not the decimal string the schema demands
    store.path_of(cid).write_text(json.dumps(doc))
    with pytest.raises(RecordUnusable, match="deposit must be an unsigned decimal string"):
        store.get(cid)
    assert list(store.dir.glob(f"{cid}.json.corrupt-*"))


def test_a_record_from_a_newer_mpp_is_reported_and_left_alone(store: ChannelStore) -> None:
    cid = store.create(make_record()).channel_id
    doc = json.loads(store.path_of(cid).read_text())
    doc["version"] = 99
    store.path_of(cid).write_text(json.dumps(doc))
    (problem,) = store.list().problems
    assert "newer mpp" in problem.reason and problem.moved_to is None
    assert json.loads(store.path_of(cid).read_text())["version"] == 99


def test_a_v0_record_on_disk_is_read_and_rewritten_as_current(store: ChannelStore) -> None:
    store.dir.mkdir(parents=True)
    fixture = FIXTURES / "channel-v0.json"
    cid = json.loads(fixture.read_text())["channelId"]
    shutil.copy(fixture, store.path_of(cid))
    record = store.get(cid)
    assert record.signed_cumulative == 120000 and record.status is ChannelStatus.OPEN
    store.update(cid, lambda r: replace(r, spent=115000))
    doc = json.loads(store.path_of(cid).read_text())
    assert doc["version"] == SCHEMA_VERSION and doc["spent"] == "115000"
    assert doc["signedCumulative"] == "120000" and doc["pendingTopUp"] is None


def test_find_by_id_prefix_url_and_origin(store: ChannelStore) -> None:
    one = store.create(make_record(url="http://127.0.0.1:8402/paid", status=ChannelStatus.CLOSED))
    two = store.create(make_record(url="http://127.0.0.1:8402/paid", status=ChannelStatus.OPEN))
    three = store.create(make_record(url="http://127.0.0.1:9000/stream", origin="http://127.0.0.1:9000"))
    assert store.find(one.channel_id) == one
    assert store.find(three.channel_id[:10]) == three
    assert store.find("http://127.0.0.1:8402/paid#x") == two  # the one live channel of that URL
    assert store.find("http://127.0.0.1:9000") == three


def test_an_ambiguous_reference_lists_the_candidates(store: ChannelStore) -> None:
    a = store.create(make_record(status=ChannelStatus.OPEN))
    b = store.create(make_record(status=ChannelStatus.OPEN))
    with pytest.raises(InputError) as info:
        store.find("http://127.0.0.1:8402/paid")
    assert a.channel_id in info.value.message and b.channel_id in info.value.message
    with pytest.raises(InputError, match="no local channel matches"):
        store.find("zzzz")


def test_orphan_temp_files_of_dead_writers_are_cleaned(store: ChannelStore) -> None:
    cid = store.create(make_record()).channel_id
    dead = store.dir / f".{cid}.json.tmp-{_dead_pid()}-abcd"
    mine = store.dir / f".{cid}.json.tmp-{os.getpid()}-abcd"
    dead.write_text("partial")
    mine.write_text("partial")
    assert [r.channel_id for r in store.list().records] == [cid]
    assert not dead.exists() and mine.exists()


def test_list_hides_closed_channels_unless_asked(store: ChannelStore) -> None:
    store.create(make_record(status=ChannelStatus.CLOSED))
    live = store.create(make_record(status=ChannelStatus.ORPHANED))
    assert [r.channel_id for r in store.list(include_closed=False).records] == [live.channel_id]
    assert len(store.list().records) == 2


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_record_the_next_read_would_refuse_is_never_written(tmp_path: Path) -> None:
    store = ChannelStore(Paths(tmp_path / "c", tmp_path / "s", tmp_path / "d", tmp_path))
    with pytest.raises(InternalError, match="invalid channel record"):
        store.create(make_record(url=""))
    assert list(store.dir.glob("*.json")) == []
    good = store.create(make_record())
    assert store.get(good.channel_id) == good


def test_a_record_nested_100000_deep_is_moved_aside_like_other_damage(store: ChannelStore,
                                                                      paths: Paths) -> None:
    good = store.create(make_record()).channel_id
    bad = store.create(make_record()).channel_id
    store.path_of(bad).write_text("[" * 100_000 + "]" * 100_000)
    listing = store.list()
    assert [r.channel_id for r in listing.records] == [good]
    (problem,) = listing.problems
    assert problem.moved_to is not None and "nested too deeply" in problem.reason
    # and through the real command: every channel command keeps working (no exit 1)
    from tests.support import mpp

    store.path_of(good).with_name(f"{bad}.json").write_text("{" * 50_000 + "}" * 50_000)
    for args in (("channels", "list"), ("channels", "show", good)):
        run = mpp("--json", *args, home=paths.home_override)
        assert run.exit_code == 0, run
