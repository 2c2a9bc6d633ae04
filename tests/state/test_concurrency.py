"""Many `mpp` processes racing on one channel record: never lower, never torn, nothing lost."""

from __future__ import annotations

import json
import time
from pathlib import Path

from mppcli.paths import resolve_paths
from mppcli.state.codec import parse_record
from mppcli.state.store import ChannelStore
from tests.state.factory import make_record
from tests.state.procs import start

PROCESSES = 8
UPDATES = 50


def test_racing_processes_leave_the_maximum_and_lose_no_update(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = ChannelStore(resolve_paths({"MPP_HOME": str(home)}))
    cid = store.create(make_record()).channel_id
    path = store.path_of(cid)
    procs = [start("race", str(home), cid, str(UPDATES), str(seed)) for seed in range(PROCESSES)]
    observed = _watch(path, procs)
    maxima = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        maxima.append(json.loads(out)["max"])
    final = store.get(cid)
    assert final.signed_cumulative == max(maxima)
    assert final.last_signed_voucher is not None and f'"{max(maxima)}"' in final.last_signed_voucher
    assert final.spent == PROCESSES * UPDATES  # every read-modify-write saw the one before it
    assert observed == sorted(observed), "a reader saw the watermark go down"
    assert len(observed) > 10
    assert not list(path.parent.glob(".*tmp-*")), "temp files were left behind"


def _watch(path: Path, procs: list) -> list[int]:  # type: ignore[type-arg]
    """Read the record while the writers run: every read must parse; watermarks only rise."""
    seen: list[int] = []
    while any(p.poll() is None for p in procs):
        record = parse_record(json.loads(path.read_bytes()))
        assert f'"{record.signed_cumulative}"' in (record.last_signed_voucher or '"0"')
        seen.append(record.signed_cumulative)
        time.sleep(0.005)
    return seen
