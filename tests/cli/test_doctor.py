"""`mpp doctor` through the real command: every check reported, problems named, never a secret.

The RPC is always a loopback address here (a closed port, or `mpp localnet` when it exists):
doctor's default, mainnet, is never contacted by the tests.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mppcli.doctor.remote import OnChain, attention_item
from mppcli.paths import resolve_paths
from tests.e2e.support import Localnet, serve_on, wallet_payer
from tests.support import mpp
from tests.wallet.keyring_support import real_keyring

__all__ = ["real_keyring"]

CHECKS = ["versions", "keyring", "paths", "config", "rpc", "wallets", "channels"]


@pytest.fixture
def dead_rpc() -> str:
    """A loopback URL nobody listens on (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def localnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Localnet]:
    """A real `mpp localnet` on a free loopback port (shared by this module's tests)."""
    running = Localnet.start(tmp_path_factory.mktemp("localnet"))
    yield running
    running.stop()


def doctor(home: Path, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    run = mpp("doctor", "--timeout", "5", *args, home=home, env=env)
    healthy = run.json["healthy"] if "--json" in args else run.stdout.rstrip().endswith("healthy")
    assert run.exit_code in ((0,) if healthy else (2, 3)), run  # a FAIL exits non-zero (#14 item 15)
    return run


def test_reports_every_check_and_an_unreachable_rpc(mpp_home: Path, dead_rpc: str) -> None:
    run = doctor(mpp_home, "-u", dead_rpc, "--json")
    assert run.exit_code == 3, run  # a FAIL is a non-zero exit; the RPC alone failing is 3
    human = mpp("doctor", "--timeout", "5", "-u", dead_rpc, home=mpp_home)
    assert human.exit_code == 3 and human.stdout.rstrip().endswith("problems found"), human
    report = run.json
    assert [key for key in report if key != "healthy"] == CHECKS
    assert report["healthy"] is False
    rpc = report["rpc"]
    assert (rpc["status"], rpc["url"], rpc["source"]) == ("fail", dead_rpc, "flag")
    assert "is not answering" in rpc["summary"]
    assert "-u/--url" in rpc["hint"]
    versions = report["versions"]
    assert versions["status"] == "ok"
    assert {"typer", "solders", "keyring", "tomli-w"} <= set(versions["packages"])
    assert all(versions["packages"].values())
    assert report["config"]["status"] == "ok"
    assert report["wallets"]["status"] == "warn"
    assert report["channels"]["status"] == "ok"


def test_a_live_localnet_is_reachable_and_named(mpp_home: Path, localnet: Localnet) -> None:
    from mppcli.state.record import ChannelStatus
    from mppcli.state.store import ChannelStore
    from tests.state.factory import make_record

    store = ChannelStore(resolve_paths({"MPP_HOME": str(mpp_home)}))
    here = store.create(make_record(status=ChannelStatus.CLOSING, network="localnet"))
    elsewhere = store.create(make_record(status=ChannelStatus.CLOSING, network="devnet"))
    report = doctor(mpp_home, "-u", str(localnet.ready["rpcUrl"]), "--json").json
    rpc = report["rpc"]
    assert rpc["status"] == "ok", rpc
    assert (rpc["genesisHash"], rpc["network"]) == (localnet.ready["genesisHash"], "localnet")
    assert isinstance(rpc["slot"], int) and rpc["slot"] >= 0
    items = {item["channelId"]: item for item in report["channels"]["attention"]}
    assert items[here.channel_id]["chainStatus"] is None, "looked up on the localnet: no such account"
    assert "the chain shows it gone" in items[here.channel_id]["reason"]
    assert "chainStatus" not in items[elsewhere.channel_id], "never asked of the wrong cluster"
    assert "the RPC was not asked" in items[elsewhere.channel_id]["reason"]


@pytest.mark.slow
@pytest.mark.keyring
def test_forced_close_grace_period_is_read_from_the_chain(localnet: Localnet, tmp_path: Path,
                                                          real_keyring: None) -> None:
    chain, rpc_url = localnet.chain, str(localnet.ready["rpcUrl"])
    server = serve_on(tmp_path / "serve", localnet, "--grace-period", "600")
    try:
        payer = wallet_payer(tmp_path / "payer", chain)
        paid = payer.mpp("--json", "request", f"{server.url}/paid", "--yes")
        assert paid.exit_code == 0, paid
    finally:
        server.stop()
    channel = paid.json["channelId"]
    forced = payer.mpp("--json", "close", channel, "--force", "--yes")
    assert forced.exit_code == 0, forced

    item = _attention(payer.home, rpc_url, channel)
    assert (item["status"], item["chainStatus"]) == ("closing", "closing")
    assert item["graceEndsAt"] == forced.json["graceEndsAt"]
    assert "forced close: grace period ends in" in item["reason"] and "(soon)" in item["reason"]
    assert f"mpp close {channel} --finalize" in item["hint"]

    chain.call("mpp_warp", [{"seconds": 602}])
    over = _attention(payer.home, rpc_url, channel)
    assert "the grace period is over" in over["reason"], "judged by the cluster's clock"
    done = payer.mpp("--json", "close", channel, "--finalize")
    assert done.exit_code == 0, done
    after = doctor(payer.home, "-u", rpc_url, "--json").json["channels"]
    assert channel not in {item["channelId"] for item in after["attention"]}


def _attention(home: Path, rpc_url: str, channel: str) -> dict[str, object]:
    channels = doctor(home, "-u", rpc_url, "--json").json["channels"]
    assert channels["status"] == "warn", channels
    return next(item for item in channels["attention"] if item["channelId"] == channel)


def test_text_report_has_one_line_per_check_and_a_verdict(mpp_home: Path, dead_rpc: str) -> None:
    run = doctor(mpp_home, env={"MPP_RPC_URL": dead_rpc})
    lines = run.stdout.splitlines()
    tagged = [line.split()[1] for line in lines if line.startswith("[")]
    assert tagged == CHECKS
    assert any(line.startswith("[FAIL] rpc") for line in lines)
    assert lines[-1] == "mpp doctor: problems found"


def test_rpc_url_comes_from_the_environment_and_config(mpp_home: Path, dead_rpc: str) -> None:
    assert mpp("config", "set", "rpc_url", dead_rpc, home=mpp_home).exit_code == 0
    assert doctor(mpp_home, "--json").json["rpc"]["source"] == "config"
    env_report = doctor(mpp_home, "--json", env={"MPP_RPC_URL": dead_rpc + "/x"}).json
    assert (env_report["rpc"]["url"], env_report["rpc"]["source"]) == (dead_rpc + "/x", "env")


def test_a_broken_config_fails_its_check_but_the_report_goes_on(mpp_home: Path, dead_rpc: str) -> None:
    (mpp_home / "config").mkdir(mode=0o700)
    (mpp_home / "config" / "config.toml").write_text(f'rpc_url = "{dead_rpc}"\nconfirm = "maybe"\n')
    report = doctor(mpp_home, "--json").json
    assert report["config"]["status"] == "fail"
    assert "confirm" in report["config"]["summary"]
    assert report["rpc"]["url"] == dead_rpc, "the RPC URL is still resolved on its own"
    assert report["channels"]["status"] == "ok"


def test_paths_readable_by_others_are_a_warning_with_the_fix(mpp_home: Path, dead_rpc: str) -> None:
    assert mpp("config", "set", "confirm", "always", home=mpp_home).exit_code == 0
    os.chmod(mpp_home / "config", 0o755)
    report = doctor(mpp_home, "-u", dead_rpc, "--json").json
    paths = report["paths"]
    assert paths["status"] == "warn"
    assert f"chmod 700 {mpp_home / 'config'}" in paths["hint"]
    config_dir = next(item for item in paths["paths"] if item["name"] == "config")
    assert (config_dir["mode"], config_dir["private"]) == ("0755", False)
    config_file = next(item for item in paths["paths"] if item["name"] == "configFile")
    assert (config_file["mode"], config_file["private"]) == ("0600", True)


def test_without_a_keyring_backend_the_keyring_check_fails_with_what_to_do(mpp_home: Path,
                                                                            dead_rpc: str) -> None:
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    report = doctor(mpp_home, "-u", dead_rpc, "--json", env=env).json
    keyring = report["keyring"]
    assert keyring["status"] == "fail"
    assert "no OS keyring" in keyring["summary"]
    assert "keypair" in keyring["hint"]


@contextlib.contextmanager
def _silent_server(family: socket.AddressFamily, address: object) -> Iterator[socket.socket]:
    """A listening socket that accepts connections and never answers (a hung peer)."""
    server = socket.socket(family)
    server.bind(address)
    server.listen(8)
    server.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        server.close()


@pytest.fixture
def silent_bus(tmp_path: Path) -> Iterator[str]:
    """A D-Bus address nobody answers on: the keyring hangs like a locked one waiting for a prompt."""
    with _silent_server(socket.AF_UNIX, str(tmp_path / "bus.sock")):
        yield f"unix:path={tmp_path / 'bus.sock'}"


def test_an_rpc_that_never_answers_is_time_boxed(mpp_home: Path) -> None:
    with _silent_server(socket.AF_INET, ("127.0.0.1", 0)) as server:
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        started = time.monotonic()
        run = mpp("doctor", "--timeout", "1", "-u", url, "--json", home=mpp_home, timeout=60)
        elapsed = time.monotonic() - started
    assert run.exit_code == 3, run  # only the RPC failed
    assert elapsed < 20
    rpc = run.json["rpc"]
    assert (rpc["status"], rpc["url"]) == ("fail", url)
    assert "is not answering" in rpc["summary"]


def test_a_keyring_that_never_answers_is_time_boxed(mpp_home: Path, dead_rpc: str, silent_bus: str) -> None:
    env = {"DBUS_SESSION_BUS_ADDRESS": silent_bus,
           "PYTHON_KEYRING_BACKEND": "keyring.backends.SecretService.Keyring"}
    started = time.monotonic()
    run = mpp("doctor", "--timeout", "1", "-u", dead_rpc, "--json", home=mpp_home, env=env, timeout=60)
    assert run.exit_code == 2, run  # the keyring failed too
    assert time.monotonic() - started < 20
    keyring = run.json["keyring"]
    assert keyring["status"] == "fail"
    assert "did not answer within 1 s" in keyring["summary"]
    assert [key for key in run.json if key != "healthy"] == CHECKS, "the rest of the report still comes"


@pytest.mark.keyring
def test_keyring_probe_passes_and_leaves_nothing_behind(mpp_home: Path, dead_rpc: str,
                                                        real_keyring: None) -> None:
    report = doctor(mpp_home, "-u", dead_rpc, "--json").json
    keyring = report["keyring"]
    assert (keyring["status"], keyring["probe"]) == ("ok", "ok")
    assert keyring["service"] == resolve_paths({"MPP_HOME": str(mpp_home)}).keyring_service
    import secretstorage

    connection = secretstorage.dbus_init()
    collection = secretstorage.get_default_collection(connection)
    assert list(collection.search_items({"service": keyring["service"]})) == []


@pytest.mark.keyring
def test_wallets_are_listed_with_pubkeys_and_no_secret(mpp_home: Path, dead_rpc: str,
                                                       real_keyring: None) -> None:
    created = mpp("wallet", "new", "alice", "--json", home=mpp_home)
    assert created.exit_code == 0, created
    exported = mpp("wallet", "export", "alice", "--yes", "--json", home=mpp_home)
    assert exported.exit_code == 0, exported
    secret = exported.json["keypair"]
    report_run = doctor(mpp_home, "-u", dead_rpc, "--json")
    wallets = report_run.json["wallets"]
    assert wallets["status"] == "ok"
    assert wallets["wallets"] == [{"name": "alice", "pubkey": created.json["pubkey"], "default": True}]
    seed = ",".join(str(n) for n in secret[:32])
    for shape in (seed, seed.replace(",", ", "), str(secret[:32])):
        assert shape not in report_run.stdout
    assert mpp("config", "set", "wallet", "bob", home=mpp_home).exit_code == 2  # no such wallet to default to
    missing = doctor(mpp_home, "-u", dead_rpc, "--json", env={"MPP_WALLET": "bob"}).json["wallets"]
    assert missing["status"] == "warn"
    assert "'bob' does not exist" in missing["summary"]


def test_channels_that_need_attention_are_named_with_a_command(mpp_home: Path, dead_rpc: str) -> None:
    from mppcli.state.record import ChannelStatus
    from mppcli.state.store import ChannelStore
    from tests.state.factory import make_record

    store = ChannelStore(resolve_paths({"MPP_HOME": str(mpp_home)}))
    made = {status: store.create(make_record(status=status)).channel_id for status in ChannelStatus}
    report = doctor(mpp_home, "-u", dead_rpc, "--json").json
    channels = report["channels"]
    assert channels["status"] == "warn"
    assert channels["live"] == len(ChannelStatus) - 1  # all but closed
    by_status = {item["status"]: item for item in channels["attention"]}
    assert set(by_status) == {"opening", "closing", "pending-finalize", "orphaned"}
    for status, item in by_status.items():
        assert item["channelId"] == made[ChannelStatus(status)]
    assert f"mpp channels sync {made[ChannelStatus.OPENING]}" in by_status["opening"]["hint"]
    assert "the RPC was not asked" in by_status["closing"]["reason"]
    pending = made[ChannelStatus.PENDING_FINALIZE]
    assert f"mpp close {pending} --finalize" in by_status["pending-finalize"]["hint"]
    assert f"mpp close {made[ChannelStatus.ORPHANED]} --force" in by_status["orphaned"]["hint"]


def test_damaged_channel_records_are_reported(mpp_home: Path, dead_rpc: str) -> None:
    channels_dir = mpp_home / "state" / "channels"
    channels_dir.mkdir(parents=True, mode=0o700)
    bad = channels_dir / "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU.json"
    bad.write_text("{not json")
    channels = doctor(mpp_home, "-u", dead_rpc, "--json").json["channels"]
    assert channels["status"] == "warn"
    assert len(channels["problems"]) == 1
    assert "not valid JSON" in channels["problems"][0]["reason"]


class _Record:
    """Just the fields attention_item reads (the real record is exercised above)."""

    def __init__(self, status: str):
        from mppcli.state.record import ChannelStatus

        self.status, self.channel_id, self.url = ChannelStatus(status), "Chan1", "http://127.0.0.1/paid"


@pytest.mark.parametrize(("ends_in", "needle"), [
    (-5, "grace period is over"), (0, "grace period is over"), (600, "ends in 600 s (soon)"),
    (7200, "ends in 7200 s"),
])
def test_grace_period_wording_follows_the_clock(ends_in: int, needle: str) -> None:
    now = 1_700_000_000.0
    item = attention_item(_Record("closing"), {"Chan1": OnChain("closing", int(now) + ends_in)}, now)
    assert item is not None
    assert needle in item["reason"]
    assert item["graceEndsAt"] == int(now) + ends_in
    if ends_in > 3600:
        assert "soon" not in item["reason"]


@pytest.mark.parametrize(("seen", "needle"), [
    (None, "the RPC was not asked"), (OnChain("open"), "cooperative close did not finish"),
    (OnChain("sealed"), "the chain shows it sealed"), (OnChain(None), "the chain shows it gone"),
])
def test_closing_channels_are_explained_by_what_the_chain_says(seen: OnChain | None, needle: str) -> None:
    chain = {} if seen is None else {"Chan1": seen}
    item = attention_item(_Record("closing"), chain, 0.0)
    assert item is not None and needle in item["reason"]
    assert "graceEndsAt" not in item


def test_open_channels_need_no_attention() -> None:
    assert attention_item(_Record("open"), {}, 0.0) is None
    assert attention_item(_Record("closed"), {}, 0.0) is None


def test_timeout_must_be_positive(mpp_home: Path) -> None:
    run = mpp("--json", "doctor", "--timeout", "0", home=mpp_home)
    assert run.exit_code == 2, run
    assert run.json["error"]["code"] == "E_USAGE"


def test_doctor_creates_nothing_on_disk(mpp_home: Path, dead_rpc: str) -> None:
    doctor(mpp_home, "-u", dead_rpc)
    assert sorted(p.relative_to(mpp_home).as_posix() for p in mpp_home.rglob("*")) == []
    assert stat.S_ISDIR(mpp_home.stat().st_mode)
