"""Networks, program error descriptions, events and the IDL's JSON form."""

from __future__ import annotations

import pytest
from solders.pubkey import Pubkey

from mppcli.chain import networks
from mppcli.chain.constants import PROGRAM_ID, TOKEN_2022_PROGRAM, TOKEN_PROGRAM
from mppcli.chain.events import decode_event, encode_event
from mppcli.chain.idl_json import args_from_json, args_to_json, u64_from_json
from mppcli.chain.program_errors import code_of, describe, errors
from mppcli.errors import MalformedError
from tests.chain.helpers import seeded


def test_every_network_uses_the_deployed_program() -> None:
    assert {n.channel_program for n in networks.NETWORKS.values()} == {PROGRAM_ID}
    assert str(PROGRAM_ID) == "CHNLxYvVA28MJP9PrFuDXccuoGXAx7jBacfLEkahyGsX"


def test_known_mints_and_their_token_programs() -> None:
    usdc = networks.MAINNET.mint("usdc")
    assert usdc is not None and str(usdc.address) == "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
    assert (usdc.decimals, usdc.token_program) == (6, TOKEN_PROGRAM)
    for symbol in ("PYUSD", "USDG", "CASH"):
        found = networks.MAINNET.mint(symbol)
        assert found is not None and found.token_program == TOKEN_2022_PROGRAM, symbol
    devnet_usdc = networks.DEVNET.mint("4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU")
    assert devnet_usdc is not None and devnet_usdc.symbol == "USDC"
    assert networks.MAINNET.mint("DOGE") is None


def test_localnet_leaves_a_slot_for_the_ledgers_mint_and_genesis() -> None:
    assert networks.LOCALNET.mints == () and networks.LOCALNET.genesis_hashes == ()
    mint = networks.KnownMint("USDC", seeded(5).pubkey(), networks.TEST_MINT_DECIMALS, TOKEN_PROGRAM)
    local = networks.LOCALNET.with_mint(mint).with_genesis_hash("GenesisOfTheLedger")
    assert local.mint(str(mint.address)) == mint
    assert networks.LOCALNET.mints == ()  # frozen: the module's table is unchanged
    assert local.genesis_hashes == ("GenesisOfTheLedger",)


def test_genesis_hashes_and_monikers() -> None:
    assert networks.network_for_genesis("5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d") is networks.MAINNET
    assert networks.network_for_genesis("EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG") is networks.DEVNET
    assert networks.network_for_genesis("somethingelse") is None
    assert networks.network_for_moniker("m") is networks.MAINNET
    assert networks.network_for_moniker("mainnet-beta") is networks.MAINNET
    assert networks.network_for_moniker("d") is networks.DEVNET
    assert networks.network_for_moniker("localhost") is networks.LOCALNET
    assert networks.network_for_moniker("x") is None
    assert networks.MAINNET.rpc_url == "https://api.mainnet-beta.solana.com"
    assert networks.LOCALNET.rpc_url == "http://127.0.0.1:8899"


def test_a_challenge_network_name_is_exact() -> None:
    assert networks.network("devnet") is networks.DEVNET
    with pytest.raises(MalformedError, match="network must be one of mainnet, devnet, localnet"):
        networks.network("mainnet-beta")


def test_program_errors() -> None:
    assert describe(2003) == ("openSlotOutOfWindow (2003): openSlot is in the future or older than the "
                              "open-slot window")
    assert code_of("channelCloseTooEarly") == 2414
    assert "not one of the channel program's codes" in describe(7777)
    assert len(errors()) == 65
    with pytest.raises(KeyError):
        code_of("nope")


def test_opened_event_round_trip() -> None:
    channel = seeded(90).pubkey()
    data = encode_event("opened", {"channel": channel, "openSlot": 77})
    assert data[:16].hex() == "e445a52e51cb9a1d" "a6ac61094d4cbd6d"
    assert data[16:48] == bytes(channel) and data[48:] == (77).to_bytes(8, "little")
    event = decode_event(data)
    assert (event.name, event.fields) == ("opened", {"channel": channel, "openSlot": 77})


def test_payout_redirected_event_round_trip() -> None:
    fields = {"channel": seeded(91).pubkey(), "owner": seeded(92).pubkey(), "amount": 5,
              "beneficiary": "payer", "reason": "notInitialized"}
    data = encode_event("payoutRedirected", fields)
    assert data[-2:] == bytes([2, 2])
    assert decode_event(data).fields == fields


@pytest.mark.parametrize(("data", "match"), [
    (b"\x00" * 16, "does not start with the event tag"),
    (bytes.fromhex("e445a52e51cb9a1d") + bytes(8), "unknown event discriminator"),
    (encode_event("opened", {"channel": Pubkey(bytes(32)), "openSlot": 1}) + b"\x00", "1 trailing bytes"),
])
def test_event_decoding_refuses(data: bytes, match: str) -> None:
    with pytest.raises(MalformedError, match=match):
        decode_event(data)


def test_args_json_round_trip() -> None:
    recipient = seeded(93).pubkey()
    wire = {"openArgs": {"salt": "18446744073709551615", "deposit": "1", "gracePeriod": 900,
                         "openSlot": "0", "recipients": [{"recipient": str(recipient), "bps": 250}]}}
    typed = args_from_json("open", wire)
    assert typed["openArgs"]["salt"] == 2**64 - 1
    assert typed["openArgs"]["recipients"][0]["recipient"] == recipient
    assert args_to_json("open", typed) == wire


@pytest.mark.parametrize(("value", "match"), [
    (1, "must be a decimal string"), ("01", "without leading zeros"), ("-1", "without leading zeros"),
    ("18446744073709551616", "out of range for u64"), ("1.0", "decimal string"), ("", "decimal string"),
])
def test_u64_json_is_strict(value: object, match: str) -> None:
    with pytest.raises(MalformedError, match=match):
        u64_from_json(value, "x")


@pytest.mark.parametrize(("args", "match"), [
    ({"topUpArgs": {"amount": 5}}, r"topUp args\.topUpArgs\.amount must be a decimal string"),
    ({"settleAndSealArgs": {"hasVoucher": "1"}}, "hasVoucher must be a JSON integer"),
    ({"settleAndSealArgs": {"hasVoucher": True}}, "hasVoucher must be a JSON integer"),
    ({"settleAndSealArgs": {"hasVoucher": 256}}, "out of range for u8"),
    ({"settleAndSealArgs": {}}, "hasVoucher is required"),
    ({"settleAndSealArgs": {"hasVoucher": 1}, "more": {}}, "has no field 'more'"),
])
def test_args_json_refuses(args: object, match: str) -> None:
    name = "topUp" if "topUpArgs" in args else "settleAndSeal"  # type: ignore[operator]
    with pytest.raises(MalformedError, match=match):
        args_from_json(name, args)


def test_pubkeys_in_json_must_be_base58_keys() -> None:
    with pytest.raises(MalformedError, match=r"recipient is not a base58 public key"):
        args_from_json("distribute", {"distributeArgs": {"recipients": [{"recipient": "0OIl", "bps": 1}]}})
