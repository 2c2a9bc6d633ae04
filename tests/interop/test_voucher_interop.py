"""Vouchers cross the implementation boundary both ways: ours ↔ solana-pay-kit 0.10.0.

`mpp voucher sign` output verifies in the reference; a reference voucher verifies with
`mpp voucher verify`; both sides sign the same 50 bytes and, Ed25519 being deterministic, produce
the same signature for the same key and terms.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.interop.refkit_runner import RefKit
from tests.interop.samples import new_pubkey, new_secret, pubkey_of
from tests.support import mpp

pytestmark = [pytest.mark.reference]

FAR_FUTURE = 4102444800  # the reference client's default voucher expiry (2100-01-01)


def _keypair_file(tmp_path: Path, secret: str) -> Path:
    from solders.keypair import Keypair

    path = tmp_path / "signer.json"
    path.write_text(json.dumps(list(bytes(Keypair.from_base58_string(secret)))))
    path.chmod(0o600)
    return path


def _mpp_sign(tmp_path: Path, home: Path, secret: str, channel: str, amount: str,
              expires_at: int | None) -> dict[str, Any]:
    args = ["--json", "voucher", "sign", "--channel", channel, "--amount", amount,
            "-k", str(_keypair_file(tmp_path, secret))]
    if expires_at is not None:
        args += ["--expires-at", str(expires_at)]
    run = mpp(*args, home=home)
    assert run.exit_code == 0, run
    signed: dict[str, Any] = run.json
    return signed


def _mpp_verify(tmp_path: Path, home: Path, signed: dict[str, Any]) -> Any:
    path = tmp_path / "voucher.json"
    path.write_text(json.dumps(signed))
    return mpp("--json", "voucher", "verify", str(path), home=home)


@pytest.mark.parametrize("expires_at", [FAR_FUTURE, None], ids=["expiring", "no-expiry"])
def test_a_voucher_signed_by_mpp_verifies_in_the_reference(refkit: RefKit, tmp_path: Path, mpp_home: Path,
                                                           expires_at: int | None) -> None:
    secret, channel = new_secret(), new_pubkey()
    ours = _mpp_sign(tmp_path, mpp_home, secret, channel, "650", expires_at)
    assert ours["signer"] == pubkey_of(secret)
    verdict = refkit.ok("voucher.py", {"op": "verify", "signedVoucher": ours, "channel": {"deposit": "1000"}})
    assert verdict["valid"] is True, verdict
    assert verdict["channelCheck"]["status"] == "accepted", verdict
    assert verdict["channelCheck"]["newCumulative"] == "650"


def test_mpp_and_the_reference_sign_identical_vouchers(refkit: RefKit, tmp_path: Path,
                                                        mpp_home: Path) -> None:
    secret, channel = new_secret(), new_pubkey()
    ours = _mpp_sign(tmp_path, mpp_home, secret, channel, "123456789", FAR_FUTURE)
    theirs = refkit.ok("voucher.py", {"op": "sign", "secretKey": secret, "channelId": channel,
                                      "cumulativeAmount": "123456789", "expiresAt": FAR_FUTURE})
    assert ours["signature"] == theirs["signedVoucher"]["signature"]
    assert ours == theirs["signedVoucher"]


def test_a_voucher_signed_by_the_reference_verifies_with_mpp(refkit: RefKit, tmp_path: Path,
                                                             mpp_home: Path) -> None:
    secret, channel = new_secret(), new_pubkey()
    theirs = refkit.ok("voucher.py", {"op": "sign", "secretKey": secret, "channelId": channel,
                                      "cumulativeAmount": "650"})
    run = _mpp_verify(tmp_path, mpp_home, theirs["signedVoucher"])
    assert run.exit_code == 0, run
    result = run.json
    assert result["valid"] is True
    assert result["signer"] == pubkey_of(secret)
    assert result["channelId"] == channel
    assert result["cumulativeAmount"] == "650"
    assert result["expiresAt"] == FAR_FUTURE
    assert result["messageHex"] == theirs["messageHex"]


def test_a_tampered_voucher_is_refused_by_both(refkit: RefKit, tmp_path: Path, mpp_home: Path) -> None:
    secret, channel = new_secret(), new_pubkey()
    signed = refkit.ok("voucher.py", {"op": "sign", "secretKey": secret, "channelId": channel,
                                      "cumulativeAmount": "650"})["signedVoucher"]
    tampered = {**signed, "voucher": {**signed["voucher"], "cumulativeAmount": "65000"}}
    assert refkit.ok("voucher.py", {"op": "verify", "signedVoucher": tampered})["valid"] is False
    run = _mpp_verify(tmp_path, mpp_home, tampered)
    refused = run.exit_code != 0 or run.json.get("valid") is False
    assert refused, run


def test_the_library_signs_the_bytes_the_reference_signs(refkit: RefKit) -> None:
    from solders.keypair import Keypair

    from mppcli.protocol.voucher import Voucher, sign_voucher, voucher_message

    secret, channel = new_secret(), new_pubkey()
    for amount, expires in ((1, FAR_FUTURE), (2**64 - 1, FAR_FUTURE), (987654321, 1_700_000_000)):
        theirs = refkit.ok("voucher.py", {"op": "sign", "secretKey": secret, "channelId": channel,
                                          "cumulativeAmount": str(amount), "expiresAt": expires})
        voucher = Voucher(channel_id=channel, cumulative_amount=amount, expires_at=expires)
        assert voucher_message(voucher).hex() == theirs["messageHex"]
        ours = sign_voucher(Keypair.from_base58_string(secret), voucher)
        assert ours.to_json() == theirs["signedVoucher"]
