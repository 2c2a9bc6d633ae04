"""Secret formats: solana-keygen arrays and base58, checked; errors never echo the secret."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from solders.keypair import Keypair

from mppcli.errors import InputError, MalformedError
from mppcli.protocol.base58 import b58encode
from mppcli.wallet.keypair_file import is_private, read_keypair_file, write_keypair_file
from mppcli.wallet.keys import keypair_base58, keypair_json, parse_secret_text

# solana-keygen's format for the all-zero seed: the seed, then the public key it derives.
ZERO_SEED_PUBKEY = "4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS"


def test_known_answer_for_the_zero_seed() -> None:
    keypair = Keypair.from_seed(bytes(32))
    assert str(keypair.pubkey()) == ZERO_SEED_PUBKEY
    text = keypair_json(keypair)
    assert text.startswith("[0,0,0,") and text.count(",") == 63 and " " not in text
    assert parse_secret_text(text) == bytes(keypair)


def test_json_array_and_base58_give_the_same_secret() -> None:
    keypair = Keypair()
    assert parse_secret_text(keypair_json(keypair)) == bytes(keypair)
    assert parse_secret_text(" " + keypair_base58(keypair) + "\n") == bytes(keypair)
    assert keypair_base58(keypair) == str(keypair)  # the form wallets export
    assert parse_secret_text(json.dumps(list(bytes(keypair)), indent=1)) == bytes(keypair)


def test_a_public_key_that_does_not_match_the_secret_is_refused() -> None:
    raw = bytearray(bytes(Keypair()))
    raw[32:] = bytes(Keypair().pubkey())
    for text in (json.dumps(list(raw)), b58encode(bytes(raw))):
        with pytest.raises(MalformedError, match="does not match its secret key"):
            parse_secret_text(text)


@pytest.mark.parametrize("text", ["", "[1,2,3]", "[" + ",".join(["256"] * 64) + "]",
                                  "[" + ",".join(["1.0"] * 64) + "]", "{}", "0OIl", "[1,2"])
def test_malformed_secrets_are_refused(text: str) -> None:
    with pytest.raises(MalformedError):
        parse_secret_text(text)


def test_a_32_byte_seed_is_refused_with_a_reason() -> None:
    with pytest.raises(MalformedError, match="32-byte seed has no public key"):
        parse_secret_text(b58encode(bytes(range(1, 33))))


def test_errors_do_not_echo_the_secret() -> None:
    damaged = keypair_base58(Keypair())[:-3] + "0OI"  # characters outside base58
    with pytest.raises(MalformedError) as info:
        parse_secret_text(damaged)
    assert str(info.value) == "not a base58 secret key (nor a JSON array)"


def test_keypair_files_round_trip_private_and_never_overwrite(tmp_path: Path) -> None:
    keypair = Keypair()
    path = write_keypair_file(tmp_path / "id.json", keypair)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and is_private(path)
    assert path.read_text() == keypair_json(keypair)
    assert read_keypair_file(path).pubkey() == keypair.pubkey()
    with pytest.raises(InputError, match="already exists"):
        write_keypair_file(path, Keypair())
    other = Keypair()
    write_keypair_file(path, other, overwrite=True)
    assert read_keypair_file(path).pubkey() == other.pubkey()
    assert sorted(os.listdir(tmp_path)) == ["id.json"]


def test_reading_a_bad_keypair_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("[1,2,3]")
    with pytest.raises(InputError, match=f"{path} is not a usable keypair file"):
        read_keypair_file(path)
    with pytest.raises(InputError, match="cannot read keypair file"):
        read_keypair_file(tmp_path / "missing.json")
    path.write_text(keypair_json(Keypair()))
    path.chmod(0o644)
    assert not is_private(path)
