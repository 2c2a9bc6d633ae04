"""`mpp channels list|show|forget` through the real command, on real records and the real keyring."""

from __future__ import annotations

from pathlib import Path

import pytest

from mppcli.paths import resolve_paths
from mppcli.state.record import ChannelRecord, ChannelStatus, SignerKind
from mppcli.state.store import ChannelStore
from mppcli.wallet.keystore import Keystore
from tests.state.factory import make_record
from tests.support import mpp
from tests.wallet.keyring_support import real_keyring

__all__ = ["real_keyring"]


def _store(home: Path) -> ChannelStore:
    return ChannelStore(resolve_paths({"MPP_HOME": str(home)}))


def test_list_shows_live_channels_and_all_with_all(mpp_home: Path) -> None:
    store = _store(mpp_home)
    live = store.create(make_record(status=ChannelStatus.OPEN, deposit=250000, signed_cumulative=1500,
                                    accepted_cumulative=1500, spent=1000))
    closed = store.create(make_record(status=ChannelStatus.CLOSED))
    run = mpp("channels", "list", "--json", home=mpp_home)
    assert run.exit_code == 0, run
    assert run.json["channels"] == [{
        "channelId": live.channel_id, "url": live.url, "network": "localnet", "status": "open",
        "mint": live.mint, "deposit": "250000", "cumulative": "1500", "spent": "1000"}]
    assert run.json["problems"] == []
    every = mpp("channels", "list", "--all", "--json", home=mpp_home).json["channels"]
    assert {c["channelId"] for c in every} == {live.channel_id, closed.channel_id}
    human = mpp("channels", "list", home=mpp_home)
    assert live.channel_id in human.stdout and "0.25" in human.stdout and "0.0015" in human.stdout


def test_empty_list(mpp_home: Path) -> None:
    run = mpp("channels", "list", home=mpp_home)
    assert run.exit_code == 0 and "no open channels" in run.stdout


def test_show_by_prefix_and_by_url(mpp_home: Path) -> None:
    record = _store(mpp_home).create(make_record(status=ChannelStatus.OPEN))
    by_prefix = mpp("channels", "show", record.channel_id[:8], "--json", home=mpp_home)
    assert by_prefix.exit_code == 0, by_prefix
    shown = dict(by_prefix.json)
    chain, error = shown.pop("chain"), shown.pop("chainError", None)
    assert shown == record.to_json()
    assert chain is not None or error, by_prefix  # the on-chain view, or why there is none
    by_url = mpp("channels", "show", record.url, "--json", home=mpp_home)
    assert by_url.json["channelId"] == record.channel_id


def test_an_ambiguous_channel_lists_the_candidates(mpp_home: Path) -> None:
    store = _store(mpp_home)
    first = store.create(make_record(status=ChannelStatus.OPEN))
    second = store.create(make_record(status=ChannelStatus.OPEN))
    run = mpp("--json", "channels", "show", first.url, home=mpp_home)
    assert run.exit_code == 2, run
    message = run.json["error"]["message"]
    assert first.channel_id in message and second.channel_id in message
    missing = mpp("--json", "channels", "show", "zzzzzz", home=mpp_home)
    assert missing.exit_code == 2 and "no local channel matches" in missing.json["error"]["message"]


def test_a_damaged_record_is_named_in_list_output(mpp_home: Path) -> None:
    store = _store(mpp_home)
    record = store.create(make_record(status=ChannelStatus.OPEN))
    store.path_of(record.channel_id).write_text('{"version": 1, "channelId": ')
    run = mpp("channels", "list", "--json", home=mpp_home)
    assert run.exit_code == 0, run
    (problem,) = run.json["problems"]
    assert f"{record.channel_id}.json.corrupt-" in problem["file"]
    assert "not valid JSON" in problem["reason"]
    assert f"warning: channel record {record.channel_id}.json: damaged" in run.stderr
    later = mpp("channels", "list", home=mpp_home)
    assert "moved aside" in later.stderr and record.channel_id in later.stderr


def test_forget_needs_yes_without_a_terminal(mpp_home: Path) -> None:
    record = _store(mpp_home).create(make_record(signer_kind=SignerKind.PAYER))
    run = mpp("--json", "channels", "forget", record.channel_id, home=mpp_home)
    assert run.exit_code == 5 and run.json["error"]["code"] == "E_CONFIRMATION_REQUIRED", run
    assert _store(mpp_home).load(record.channel_id) is not None


@pytest.mark.keyring
@pytest.mark.usefixtures("real_keyring")
def test_forget_deletes_the_record_and_its_session_key(mpp_home: Path) -> None:
    keystore = Keystore(resolve_paths({"MPP_HOME": str(mpp_home)}))
    session = keystore.new_session_key()
    record = _create_with_signer(mpp_home, str(session.pubkey()))
    run = mpp("--json", "channels", "forget", record.channel_id[:10], "--yes", home=mpp_home)
    assert run.exit_code == 0, run
    assert run.json == {"channelId": record.channel_id, "sessionKeyDeleted": True}
    assert _store(mpp_home).load(record.channel_id) is None
    assert keystore.secrets.get(f"session:{session.pubkey()}") is None


def _create_with_signer(home: Path, signer: str) -> ChannelRecord:
    return _store(home).create(make_record(authorized_signer=signer, signer_kind=SignerKind.SESSION,
                                           status=ChannelStatus.CLOSED))


def test_a_channel_in_use_by_another_mpp_is_busy_exit_6(mpp_home: Path) -> None:
    from tests.state.procs import start, wait_for_line

    record = _store(mpp_home).create(make_record(signer_kind=SignerKind.PAYER))
    holder = start("hold", str(mpp_home), record.channel_id, "60")
    try:
        wait_for_line(holder, "locked")
        run = mpp("--json", "channels", "forget", record.channel_id, "--yes", home=mpp_home)
        assert run.exit_code == 6, run
        assert run.json["error"]["code"] == "E_BUSY"
        assert f"mpp process {holder.pid} on " in run.json["error"]["message"]
    finally:
        holder.kill()
        holder.wait()
    assert _store(mpp_home).load(record.channel_id) is not None


def test_forget_keeps_the_record_when_the_session_key_cannot_be_deleted(mpp_home: Path) -> None:
    record = _create_with_signer(mpp_home, make_record().authorized_signer)
    run = mpp("--json", "channels", "forget", record.channel_id, "--yes", home=mpp_home,
              env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert run.exit_code == 2 and run.json["error"]["code"] == "E_KEYRING", run
    assert _store(mpp_home).load(record.channel_id) is not None
