"""Writers SIGKILLed at random points: what is on disk is always a whole old or new version."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import time
from pathlib import Path

import pytest

from mppcli.files.atomic import atomic_write
from mppcli.paths import resolve_paths
from mppcli.state.store import ChannelStore
from tests.state.factory import make_record
from tests.state.procs import start

KILLS = 15


def _kill_after_progress(args: tuple[str, ...], rng: random.Random) -> None:
    """Start a writer, let it get going, then SIGKILL it at a random moment."""
    proc = start(*args)
    assert proc.stdout is not None
    proc.stdout.readline()  # at least one version is complete, however slowly the worker started
    time.sleep(rng.uniform(0.0, 0.25))
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_killed_atomic_writes_leave_a_whole_version(tmp_path: Path) -> None:
    rng = random.Random(1)
    target = tmp_path / "doc.json"
    atomic_write(target, json.dumps({"version": 0, "filler": []}).encode())
    last = 0
    for _ in range(KILLS):
        _kill_after_progress(("crash-writer", str(target)), rng)
        doc = json.loads(target.read_bytes())  # never torn: always parses
        assert set(doc["filler"]) <= {doc["version"]}  # every part from one single write
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        last = doc["version"]
    assert last >= 1


def test_killed_store_updates_never_corrupt_or_lower_the_record(tmp_path: Path) -> None:
    rng = random.Random(2)
    home = tmp_path / "home"
    store = ChannelStore(resolve_paths({"MPP_HOME": str(home)}))
    cid = store.create(make_record()).channel_id
    previous = 0
    for _ in range(KILLS):
        _kill_after_progress(("crash-updater", str(home), cid), rng)
        record = store.get(cid)  # parses, or it would be moved aside and raised
        assert record.spent == record.signed_cumulative >= previous
        voucher = record.last_signed_voucher
        assert voucher is None or f'"{record.signed_cumulative}"' in voucher
        previous = record.signed_cumulative
    assert previous > 0, "the updater never completed a write; the test proved nothing"
    assert not list(store.dir.glob("*.corrupt-*"))
    store.list()  # sweeps the temp files the killed writers left
    assert not [p for p in store.dir.iterdir() if p.name.startswith(".")]


def test_a_failed_write_removes_its_temp_and_keeps_the_target(tmp_path: Path) -> None:
    target = tmp_path / "record.json"
    target.mkdir()  # os.replace of a file over a directory fails: a real failure mid-write
    with pytest.raises(IsADirectoryError):
        atomic_write(target, b"{}")
    assert os.listdir(tmp_path) == ["record.json"]
    assert target.is_dir()
