"""Cross-process channel locks: exclusion, busy errors naming the holder, waits, dead holders."""

from __future__ import annotations

import logging
import os
import signal
import socket
import stat
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from mppcli.errors import BusyError
from mppcli.files.locks import read_holder
from mppcli.paths import Paths, resolve_paths
from mppcli.state.store import ChannelStore
from tests.state.factory import make_record
from tests.state.procs import start, wait_for_line


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def paths(home: Path) -> Paths:
    return resolve_paths({"MPP_HOME": str(home)})


def test_a_held_lock_makes_others_busy_naming_the_holder(home: Path, paths: Paths) -> None:
    store = ChannelStore(paths)
    cid = store.create(make_record()).channel_id
    holder = start("hold", str(home), cid, "30")
    try:
        wait_for_line(holder, "locked")
        with pytest.raises(BusyError) as info:  # at once: the holder keeps it for 30 s
            store.update(cid, lambda r: r)
        assert f"mpp process {holder.pid} on {socket.gethostname()}" in info.value.message
        assert info.value.exit_code == 6 and info.value.code == "E_BUSY"
        with pytest.raises(BusyError):
            store.update(cid, lambda r: r, wait=0.3)
    finally:
        holder.kill()
        holder.wait()


def test_a_waiter_gets_the_lock_when_the_holder_finishes(home: Path, paths: Paths) -> None:
    store = ChannelStore(paths)
    cid = store.create(make_record()).channel_id
    holder = start("hold", str(home), cid, "0.5")
    try:
        wait_for_line(holder, "locked")
        updated = store.update(cid, lambda r: replace(r, deposit=7), wait=20)
        assert updated.deposit == 7
        assert holder.wait(timeout=20) == 0
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_of_a_killed_process_is_reclaimed_and_logged(
        home: Path, paths: Paths, caplog: pytest.LogCaptureFixture) -> None:
    store = ChannelStore(paths)
    cid = store.create(make_record()).channel_id
    holder = start("hold", str(home), cid, "30")
    wait_for_line(holder, "locked")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    lock_file = paths.state_dir / "locks" / f"channel-{cid}.lock"
    left = read_holder(lock_file)
    assert left is not None and left.pid == holder.pid  # it died holding the lock
    with caplog.at_level(logging.WARNING, logger="mppcli.files.locks"):
        assert store.update(cid, lambda r: replace(r, deposit=8)).deposit == 8
    assert f"mpp process {holder.pid}" in caplog.text and "gone" in caplog.text


def test_locks_are_reentrant_in_one_thread_and_busy_for_another(paths: Paths) -> None:
    store = ChannelStore(paths)
    cid = store.create(make_record()).channel_id
    seen: list[BaseException] = []

    def other_thread() -> None:
        try:
            with store.lock(cid):
                pass
        except BaseException as exc:
            seen.append(exc)

    with store.lock(cid, purpose="a long flow"):
        assert store.update(cid, lambda r: replace(r, deposit=9)).deposit == 9
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert len(seen) == 1 and isinstance(seen[0], BusyError)
    assert f"mpp process {os.getpid()}" in str(seen[0]) and "a long flow" in str(seen[0])
    with store.lock(cid):  # released: free again
        pass


def test_lock_files_are_private_and_removed_on_release(paths: Paths) -> None:
    store = ChannelStore(paths)
    cid = store.create(make_record()).channel_id
    lock_file = paths.state_dir / "locks" / f"channel-{cid}.lock"
    with store.lock(cid):
        assert stat.S_IMODE(lock_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(lock_file.parent.stat().st_mode) == 0o700
        holder = read_holder(lock_file)
        assert holder is not None and holder.pid == os.getpid() and len(holder.token) == 16
    assert not lock_file.exists()


def test_only_one_of_many_racing_openers_opens(home: Path, paths: Paths) -> None:
    payer, origin = make_record().payer, "http://127.0.0.1:8402"
    procs = [start("open-race", str(home), payer, origin) for _ in range(6)]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(out.strip())
    assert sorted(outputs) == ["created"] + ["reused"] * 5
    assert len(ChannelStore(paths).list().records) == 1
