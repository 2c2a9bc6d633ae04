"""Headless agents (#14 item 19): with -k FILE and no keyring the hint names `--signer payer`,
and `--wait` waits for a channel another mpp holds instead of exiting 6."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mppcli.paths import resolve_paths
from mppcli.state.store import ChannelStore
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
    with store.lock(opened.json["channelId"], purpose="a test holding the channel"):
        busy = payer.mpp("--json", "request", paid)
        assert busy.exit_code == 6 and busy.json["error"]["code"] == "E_BUSY", busy
        waiting = payer.popen("--json", "request", paid, "--wait", "120")
        time.sleep(3)  # long enough for the child to reach the lock; it must still be waiting
        assert waiting.poll() is None, waiting.communicate()
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, (out, err)
