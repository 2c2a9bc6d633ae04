"""Headless agents (#14 item 19): with -k FILE and no keyring the hint names `--signer payer`,
and `--wait` waits for a channel another mpp holds instead of exiting 6."""

from __future__ import annotations

from pathlib import Path

import pytest

from mppcli.files.locks import POLL_SECONDS
from mppcli.paths import resolve_paths
from mppcli.state.store import ChannelStore
from tests.e2e.file_opens import OpenWatch
from tests.e2e.support import PayerHome, file_payer, served_fixture
from tests.server.harness import ServerProcess

pytestmark = [pytest.mark.slow]
NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}

served = served_fixture()


@pytest.fixture
def payer(served: ServerProcess, tmp_path: Path) -> PayerHome:
    return file_payer(tmp_path / "payer", served.chain)


def test_no_keyring_with_a_keypair_file_points_at_signer_payer(served: ServerProcess,
                                                                payer: PayerHome) -> None:
    refused = payer.mpp("--json", "request", f"{served.url}/paid", "--yes", env=NO_KEYRING)
    assert refused.exit_code == 2, refused
    error = refused.json["error"]
    assert error["code"] == "E_KEYRING" and "--signer payer" in error["hint"], error
    worked = payer.mpp("--json", "request", f"{served.url}/paid", "--yes", "--signer", "payer",
                       env=NO_KEYRING)
    assert worked.exit_code == 0, worked


def test_wait_waits_for_a_busy_channel(served: ServerProcess, payer: PayerHome) -> None:
    paid = f"{served.url}/paid"
    opened = payer.mpp("--json", "open", paid, "--yes", "--signer", "payer")
    assert opened.exit_code == 0, opened
    store = ChannelStore(resolve_paths({"MPP_HOME": str(payer.home)}))
    channel_id = opened.json["channelId"]
    with store.lock(channel_id, purpose="a test holding the channel"):
        busy = payer.mpp("--json", "request", paid)
        assert busy.exit_code == 6 and busy.json["error"]["code"] == "E_BUSY", busy
        [lock_file] = store.locks_dir.glob(f"*{channel_id}*")
        with OpenWatch(lock_file) as watch:
            waiting = payer.popen("--json", "request", paid, "--wait", "120")
            # Each try opens the lock file, and a refused try sleeps POLL_SECONDS before the next:
            # this many opens mean it was refused for at least a second and kept trying (without
            # --wait it exits 6 after the first; read as milliseconds, 120 would end after 7).
            tries = 1 + round(1.0 / POLL_SECONDS)
            retrying = watch.wait_for(tries, timeout=120, unless=lambda: waiting.poll() is not None)
            if not retrying:
                waiting.kill()
            assert retrying and waiting.poll() is None, (watch.opens, waiting.communicate())
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, (out, err)
