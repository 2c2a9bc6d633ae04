"""`mpp voucher sign|verify` through the real command (keyring cases in a real Secret Service)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from solders.keypair import Keypair

from mppcli.paths import resolve_paths
from mppcli.state.store import ChannelStore
from mppcli.wallet.keystore import Keystore
from tests.protocol import kat
from tests.state.factory import make_record
from tests.support import mpp
from tests.wallet.keyring_support import real_keyring

__all__ = ["real_keyring"]

SIGNED_KAT: dict[str, Any] = {
    "voucher": {"channelId": kat.CHANNEL, "cumulativeAmount": "42", "expiresAt": 1234},
    "signer": kat.SIGNER,
    "signature": kat.VOUCHER_42_1234_SIGNATURE,
    "signatureType": "ed25519",
}


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "id.json"
    path.write_text(json.dumps(list(bytes(Keypair.from_seed(kat.RFC8032_SEED)))))
    path.chmod(0o600)
    return path


def test_sign_with_a_keypair_file_gives_the_known_signature(mpp_home: Path, key_file: Path) -> None:
    args = ("voucher", "sign", "--channel", kat.CHANNEL, "--amount", "42", "--expires-at", "1234",
            "-k", str(key_file))
    run = mpp("--json", *args, home=mpp_home)
    assert run.exit_code == 0, run
    assert run.json == SIGNED_KAT
    assert run.stderr == ""  # JSON mode: progress notes stay quiet unless -v
    human = mpp(*args, home=mpp_home)
    assert json.loads(human.stdout) == SIGNED_KAT
    assert f"signed by {kat.SIGNER} (keypair file" in human.stderr


def test_sign_without_expiry_omits_it(mpp_home: Path, key_file: Path) -> None:
    run = mpp(
        "--json", "voucher", "sign", "-c", kat.CHANNEL, "--amount", "7", "-k", str(key_file), home=mpp_home
    )
    assert run.json["voucher"] == {"channelId": kat.CHANNEL, "cumulativeAmount": "7"}


def test_verify_a_file_stdin_and_wrapped_forms(mpp_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    path.write_text(json.dumps(SIGNED_KAT))
    expected = {
        "valid": True,
        "signer": kat.SIGNER,
        "channelId": kat.CHANNEL,
        "cumulativeAmount": "42",
        "expiresAt": 1234,
        "messageHex": "5601" + "09" * 32 + "2a00000000000000" + "d204000000000000",
    }
    assert mpp("--json", "voucher", "verify", str(path), home=mpp_home).json == expected
    assert mpp("--json", "voucher", "verify", home=mpp_home, input=json.dumps(SIGNED_KAT)).json == expected
    action = {"action": "voucher", "channelId": kat.CHANNEL, "voucher": SIGNED_KAT}
    assert mpp("--json", "voucher", "verify", "-", home=mpp_home, input=json.dumps(action)).json == expected
    human = mpp("voucher", "verify", str(path), home=mpp_home)
    assert human.exit_code == 0 and human.stdout.startswith("valid signature\n")


def test_a_tampered_voucher_is_reported_invalid(mpp_home: Path) -> None:
    tampered = {**SIGNED_KAT, "voucher": {**SIGNED_KAT["voucher"], "cumulativeAmount": "4200"}}
    run = mpp("--json", "voucher", "verify", home=mpp_home, input=json.dumps(tampered))
    assert run.exit_code == 2, run  # #14 item 10: an invalid signature is a non-zero exit
    assert run.json["valid"] is False and run.json["cumulativeAmount"] == "4200"
    human = mpp("voucher", "verify", home=mpp_home, input=json.dumps(tampered))
    assert human.exit_code == 2 and human.stdout.startswith("INVALID"), human


def test_human_output_has_no_python_none(mpp_home: Path) -> None:
    never = {**SIGNED_KAT, "voucher": {"channelId": kat.CHANNEL, "cumulativeAmount": "42"}}
    human = mpp("voucher", "verify", home=mpp_home, input=json.dumps(never))
    assert "None" not in human.stdout and "expiresAt: never" in human.stdout, human
    expiring = mpp("voucher", "verify", home=mpp_home, input=json.dumps(SIGNED_KAT))
    assert re.search(r"expiresAt: 19(70-01-01|69-12-31)T\d\d:\d\d:\d\d[+-]\d\d:\d\d\n", expiring.stdout), \
        expiring  # 1234: local ISO 8601, not a number


def test_a_failed_sign_does_not_say_signed_by(mpp_home: Path, tmp_path: Path) -> None:
    absent = str(tmp_path / "absent.json")
    run = mpp("voucher", "sign", "--channel", kat.CHANNEL, "--amount", "1", "-k", absent, home=mpp_home)
    assert run.exit_code == 2, run
    assert "signed by" not in run.stderr and run.stdout == "", run


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "stdin is not valid JSON"),
        (json.dumps({**SIGNED_KAT, "signatureType": "p256"}), "signatureType must be 'ed25519'"),
        (
            json.dumps({**SIGNED_KAT, "voucher": {"channelId": kat.CHANNEL, "cumulativeAmount": 42}}),
            "cumulativeAmount must be an unsigned decimal string",
        ),
        (json.dumps([SIGNED_KAT]), "signed voucher must be a JSON object"),
    ],
)
def test_verify_bad_input_exits_2_naming_the_field(mpp_home: Path, text: str, message: str) -> None:
    run = mpp("--json", "voucher", "verify", home=mpp_home, input=text)
    assert run.exit_code == 2, run
    assert run.json["error"]["code"] == "E_INPUT" and message in run.json["error"]["message"]


def test_verify_a_missing_file_exits_2(mpp_home: Path, tmp_path: Path) -> None:
    run = mpp("--json", "voucher", "verify", str(tmp_path / "nope.json"), home=mpp_home)
    assert run.exit_code == 2 and "cannot read" in run.json["error"]["message"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--amount", "0042"), "E_INPUT", "--amount must not have a leading zero"),
        (("--amount", "-1"), "E_INPUT", "--amount must be an unsigned decimal string"),
        (("--amount", "18446744073709551616"), "E_INPUT", "--amount exceeds the u64 maximum"),
        (("--amount", "1", "--expires-at", "soon"), "E_INPUT", "--expires-at must be an unsigned decimal"),
    ],
)
def test_sign_refuses_bad_amounts(
    mpp_home: Path, key_file: Path, args: tuple[str, ...], code: str, message: str
) -> None:
    run = mpp(
        "--json", "voucher", "sign", "--channel", kat.CHANNEL, *args, "-k", str(key_file), home=mpp_home
    )
    assert run.exit_code == 2, run
    assert run.json["error"]["code"] == code and message in run.json["error"]["message"]


def test_sign_refuses_an_unknown_channel_reference_and_two_signers(mpp_home: Path, key_file: Path) -> None:
    run = mpp(
        "--json", "voucher", "sign", "--channel", "abc", "--amount", "1", "-k", str(key_file), home=mpp_home
    )
    assert run.exit_code == 2 and run.json["error"]["code"] == "E_INPUT"
    run = mpp(
        "--json",
        "voucher",
        "sign",
        "--channel",
        kat.CHANNEL,
        "--amount",
        "1",
        "-k",
        str(key_file),
        "-w",
        "main",
        home=mpp_home,
    )
    assert run.exit_code == 2 and run.json["error"]["code"] == "E_USAGE"


def test_sign_without_any_signer_says_what_to_do(mpp_home: Path) -> None:
    run = mpp("--json", "voucher", "sign", "--channel", kat.CHANNEL, "--amount", "1", home=mpp_home)
    assert run.exit_code == 2, run
    assert run.json["error"]["code"] == "E_CONFIG" and "-k/--keypair" in run.json["error"]["hint"]


@pytest.mark.keyring
@pytest.mark.usefixtures("real_keyring")
def test_sign_with_a_keyring_wallet(mpp_home: Path, key_file: Path) -> None:
    assert mpp("wallet", "import", "kat", "--keypair", str(key_file), home=mpp_home).exit_code == 0
    try:
        run = mpp(
            "--json",
            "voucher",
            "sign",
            "--channel",
            kat.CHANNEL,
            "--amount",
            "42",
            "--expires-at",
            "1234",
            "-w",
            "kat",
            home=mpp_home,
        )
        assert run.exit_code == 0, run
        assert run.json == SIGNED_KAT
    finally:
        Keystore(resolve_paths({"MPP_HOME": str(mpp_home)})).remove("kat")


@pytest.mark.keyring
@pytest.mark.usefixtures("real_keyring")
def test_sign_with_the_channels_session_key_raises_its_signed_watermark(mpp_home: Path) -> None:
    paths = resolve_paths({"MPP_HOME": str(mpp_home)})
    keystore = Keystore(paths)
    session = keystore.new_session_key()
    try:
        record = make_record(authorized_signer=str(session.pubkey()))
        store = ChannelStore(paths)
        store.create(record)
        run = mpp(
            "--json", "voucher", "sign", "--channel", record.channel_id[:12], "--amount", "500", home=mpp_home
        )
        assert run.exit_code == 0, run
        assert run.json["signer"] == str(session.pubkey())
        assert run.json["voucher"]["channelId"] == record.channel_id
        assert mpp("--json", "voucher", "verify", home=mpp_home, input=run.stdout).json["valid"] is True
        stored = store.get(record.channel_id)
        assert stored.signed_cumulative == 500
        assert json.loads(stored.last_signed_voucher or "") == run.json
        lower = mpp(
            "--json", "voucher", "sign", "--channel", record.channel_id, "--amount", "400", home=mpp_home
        )
        assert lower.exit_code == 0, lower
        assert store.get(record.channel_id).signed_cumulative == 500
    finally:
        keystore.delete_session_key(str(session.pubkey()))
