"""After a session of wallet and channel work, no secret is in any file mpp wrote, nor in its output."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from solders.keypair import Keypair

from mppcli.paths import resolve_paths
from mppcli.state.record import ChannelStatus, SignerKind
from mppcli.state.store import ChannelStore
from mppcli.wallet.keys import keypair_base58, keypair_json
from mppcli.wallet.keystore import Keystore
from tests.state.factory import make_record, voucher_text
from tests.support import Run, mpp
from tests.wallet.keyring_support import real_keyring

__all__ = ["real_keyring"]
pytestmark = [pytest.mark.keyring, pytest.mark.usefixtures("real_keyring")]


def _forms(secret: bytes) -> list[bytes]:
    """Every way a 64-byte keypair (or its 32-byte seed) could end up written down."""
    numbers = list(secret)
    return [keypair_base58(Keypair.from_bytes(secret)).encode(), secret, secret[:32],
            secret.hex().encode(), secret[:32].hex().encode(),
            json.dumps(numbers, separators=(",", ":")).encode(), json.dumps(numbers).encode(),
            json.dumps(numbers, indent=2).encode(), ",".join(map(str, numbers[:32])).encode()]


def test_a_session_leaves_no_secret_in_state_or_config(mpp_home: Path, tmp_path: Path) -> None:
    runs: list[Run] = []

    def ok(*args: str, **kwargs: str) -> Run:
        run = mpp("-vv", *args, home=mpp_home, **kwargs)  # type: ignore[arg-type]
        assert run.exit_code == 0, run
        runs.append(run)
        return run

    imported = Keypair()
    key_file = tmp_path / "import.json"
    key_file.write_text(keypair_json(imported))
    stdin_key = Keypair()
    ok("wallet", "new")
    ok("wallet", "new", "second", "--default")
    ok("wallet", "import", "from-file", "--keypair", str(key_file))
    ok("wallet", "import", "from-stdin", "--stdin", input=keypair_base58(stdin_key))
    ok("wallet", "list")
    ok("--json", "wallet", "show", "main", "-u", "http://127.0.0.1:9")
    ok("wallet", "default", "main")
    exported = mpp("wallet", "export", "second", "--yes", "--out", str(tmp_path / "backup.json"),
                   home=mpp_home)
    assert exported.exit_code == 0, exported

    paths = resolve_paths({"MPP_HOME": str(mpp_home)})
    keystore = Keystore(paths)
    session = keystore.new_session_key()
    kept = keystore.new_session_key()
    store = ChannelStore(paths)
    for signer in (session, kept):
        record = store.create(make_record(authorized_signer=str(signer.pubkey()),
                                          signer_kind=SignerKind.SESSION, payer=keystore.get("main").pubkey))
        store.update(record.channel_id, lambda r: replace(
            r, status=ChannelStatus.OPEN, signed_cumulative=10,
            last_signed_voucher=voucher_text(r.channel_id, 10)))
    forgotten = store.list().records[0]
    ok("channels", "list", "--all")
    ok("--json", "channels", "show", forgotten.channel_id)
    ok("channels", "forget", forgotten.channel_id, "--yes")
    ok("wallet", "remove", "from-file", "--yes", "--force")

    secrets = [bytes(keystore.keypair(name)) for name in ("main", "second", "from-stdin")]
    secrets += [bytes(imported), bytes(session), bytes(kept)]
    files = [p for p in mpp_home.rglob("*") if p.is_file()]
    assert any(p.name == "wallets.json" for p in files) and any(p.suffix == ".json" for p in files)
    for path in files:
        content = path.read_bytes()
        for secret in secrets:
            for form in _forms(secret):
                assert form not in content, f"a secret is written in {path}"
    for run in runs:
        output = (run.stdout + run.stderr).encode()
        for secret in secrets:
            for form in _forms(secret):
                assert form not in output, f"a secret is in the output of mpp {' '.join(run.args)}"
