"""A lying server, through the real `mpp` command: each lie is refused (exit 4, E_PROTOCOL) or
handled, and the local record never shows a voucher signed for the lie nor a watermark it pushed.

The server is a tampering proxy (tests/client/hostile.py) in front of a real `mpp serve`, so the
channel, the vouchers and the ledger are real. The payer uses a keypair file and signs with it
(`--signer payer`), so these tests need no OS keyring.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.hostile import HostileProxy
from tests.e2e.support import PayerHome, file_payer, served_fixture
from tests.server.harness import ServerProcess

pytestmark = [pytest.mark.slow]

PRICE, CHUNK = 10_000, 1_000


served = served_fixture("--stream-pause", "2")


@pytest.fixture
def proxy(served: ServerProcess) -> Iterator[HostileProxy]:
    running = HostileProxy(served.url).start()
    yield running
    running.stop()


@pytest.fixture
def payer(served: ServerProcess, tmp_path: Path) -> PayerHome:
    return file_payer(tmp_path / "payer", served.chain)


def _pay(payer: PayerHome, proxy: HostileProxy, *args: str):  # type: ignore[no-untyped-def]
    return payer.mpp("--json", *args, "--signer", "payer", "--yes")


def _opened(payer: PayerHome, proxy: HostileProxy) -> str:
    run = _pay(payer, proxy, "request", f"{proxy.url}/paid")
    assert run.exit_code == 0, run
    return str(run.json["channelId"])


def _watermarks(payer: PayerHome, channel: str) -> tuple[int, int]:
    record = payer.record(channel)
    return int(record["signedCumulative"]), int(record["acceptedCumulative"])


def _refused(run, code: str = "E_PROTOCOL") -> str:  # type: ignore[no-untyped-def]
    assert run.exit_code == 4, run
    assert run.json["error"]["code"] == code, run
    return str(run.json["error"]["message"])


def test_metering_more_than_the_price_is_refused_before_signing(payer: PayerHome,
                                                                proxy: HostileProxy) -> None:
    channel = _opened(payer, proxy)
    proxy.mode = "meter-above-price"
    run = _pay(payer, proxy, "stream", f"{proxy.url}/stream?chunks=5")
    assert "more than the price" in _refused(run)
    # the request itself paid chunk 1; nothing was signed for the inflated directive
    assert _watermarks(payer, channel) == (PRICE + CHUNK, PRICE + CHUNK)


def test_a_replayed_receipt_is_refused(payer: PayerHome, proxy: HostileProxy) -> None:
    channel = _opened(payer, proxy)
    proxy.mode, proxy.first_receipt = "replay-receipt", None
    assert _pay(payer, proxy, "request", f"{proxy.url}/paid").exit_code == 0  # its receipt is kept
    run = _pay(payer, proxy, "request", f"{proxy.url}/paid")
    message = _refused(run)
    assert "replayed" in message
    assert "paid content" not in run.stdout
    signed, accepted = _watermarks(payer, channel)
    assert (signed, accepted) == (3 * PRICE, 2 * PRICE)  # the third voucher left; nothing confirmed it


def test_a_receipt_above_what_was_signed_is_refused(payer: PayerHome, proxy: HostileProxy) -> None:
    channel = _opened(payer, proxy)
    proxy.mode = "inflate-receipt"
    run = _pay(payer, proxy, "request", f"{proxy.url}/paid")
    assert "above the 20000 this client signed" in _refused(run)
    assert _watermarks(payer, channel) == (2 * PRICE, PRICE)


def test_a_commit_receipt_above_what_was_signed_is_refused(payer: PayerHome, proxy: HostileProxy) -> None:
    channel = _opened(payer, proxy)
    proxy.mode = "inflate-commit"
    run = _pay(payer, proxy, "stream", f"{proxy.url}/stream?chunks=3")
    assert "does not match the voucher" in _refused(run)
    signed, accepted = _watermarks(payer, channel)
    assert accepted <= signed == PRICE + 3 * CHUNK  # chunks 2-3: one batch, one voucher


@pytest.mark.parametrize(("mode", "what"), [("change-mint", "currency (mint)"),
                                            ("change-program", "channelProgram")])
def test_changing_mint_or_program_mid_session_is_refused(payer: PayerHome, proxy: HostileProxy,
                                                         mode: str, what: str) -> None:
    channel = _opened(payer, proxy)
    proxy.mode = mode
    run = _pay(payer, proxy, "request", f"{proxy.url}/paid")
    assert what in _refused(run)
    assert _watermarks(payer, channel) == (PRICE, PRICE)
    listed = payer.mpp("--json", "channels", "list")
    assert [c["channelId"] for c in listed.json["channels"]] == [channel]  # no second deposit


def test_a_dropped_stream_is_retried_on_the_same_channel(payer: PayerHome, proxy: HostileProxy) -> None:
    channel = _opened(payer, proxy)
    proxy.mode, proxy.drop_after = "drop-stream", 4
    run = _pay(payer, proxy, "stream", f"{proxy.url}/stream?chunks=5")
    assert run.exit_code == 0, run
    assert run.json["channelId"] == channel and run.json["retries"] == 1
    assert proxy.log == ["dropped stream 1 after 4 frames"]
    signed, accepted = _watermarks(payer, channel)
    assert signed == accepted == int(run.json["cumulative"])
    # the first attempt paid chunk 1; the cut came before the directive for chunks 2-5 (nothing
    # metered, nothing signed: the server's unvouched risk); the retry paid 5 chunks
    assert accepted == PRICE + CHUNK + 5 * CHUNK
    assert len(payer.mpp("--json", "channels", "list").json["channels"]) == 1


def _settled_through(payer: PayerHome, proxy: HostileProxy, channel: str) -> int:
    """Close cooperatively through an honest proxy: what the server held is what the chain settles."""
    proxy.mode = None
    run = payer.mpp("--json", "close", channel, "--yes")
    assert run.exit_code == 0, run
    return int(run.json["settled"])


def test_a_refused_voucher_is_re_sent_never_stacked_nor_topped_up(payer: PayerHome,
                                                                  proxy: HostileProxy) -> None:
    channel = _opened(payer, proxy)
    deposit = int(payer.record(channel)["deposit"])
    proxy.mode = "refuse-voucher"
    proxy.refusal_detail = "exceeds the channel deposit; top up"  # words, but no required/available
    for _ in range(3):  # a server that takes every voucher and answers 402
        run = _pay(payer, proxy, "request", f"{proxy.url}/paid", "--max-spend", "100")
        assert run.exit_code == 4, run
        assert run.json["error"]["code"] == "E_PAYMENT_REJECTED", run
    assert _watermarks(payer, channel) == (2 * PRICE, PRICE)  # one new voucher, re-sent, never a higher one
    assert {action for action, _key in proxy.keys} == {"open", "voucher"}  # no top-up
    assert int(payer.record(channel)["deposit"]) == deposit
    assert _settled_through(payer, proxy, channel) == 2 * PRICE  # the server held accepted + 1 price


def test_after_refusals_an_honest_server_is_paid_above_the_voucher_it_holds(payer: PayerHome,
                                                                          proxy: HostileProxy) -> None:
    channel = _opened(payer, proxy)
    proxy.mode = "refuse-voucher"
    assert _pay(payer, proxy, "request", f"{proxy.url}/paid").exit_code == 4
    proxy.mode = None  # the server (which holds 2 P) says so in its refusal's acceptedCumulative
    run = _pay(payer, proxy, "request", f"{proxy.url}/paid")
    assert run.exit_code == 0, run
    assert _watermarks(payer, channel) == (3 * PRICE, 3 * PRICE)


def test_after_a_lying_receipt_the_next_voucher_starts_from_the_signed_watermark(
        payer: PayerHome, proxy: HostileProxy) -> None:
    channel = _opened(payer, proxy)
    proxy.mode = "inflate-receipt"
    _refused(_pay(payer, proxy, "request", f"{proxy.url}/paid"))
    assert _watermarks(payer, channel) == (2 * PRICE, PRICE)
    proxy.mode = None
    for paid in (3, 4):  # the channel keeps working, without `channels sync`
        run = _pay(payer, proxy, "request", f"{proxy.url}/paid")
        assert run.exit_code == 0, run
        assert _watermarks(payer, channel) == (paid * PRICE, paid * PRICE)


def test_a_cut_answer_is_retried_with_the_same_voucher_and_idempotency_key(payer: PayerHome,
                                                                          proxy: HostileProxy) -> None:
    channel = _opened(payer, proxy)
    first_keys = len(proxy.keys)
    proxy.mode = "cut-once"
    run = _pay(payer, proxy, "request", f"{proxy.url}/paid")
    assert run.exit_code == 0, run
    assert proxy.log == ["cut the answer to a voucher the server answered 200"]
    (a, key_a), (b, key_b) = proxy.keys[first_keys:]
    assert a == b == "voucher" and key_a is not None and key_a == key_b
    assert _watermarks(payer, channel) == (2 * PRICE, 2 * PRICE)  # the server charged it once
    assert all(key for _action, key in proxy.keys if _action == "voucher")


def test_an_expired_challenge_gets_no_voucher_top_up_or_close(payer: PayerHome, proxy: HostileProxy) -> None:
    channel = _opened(payer, proxy)
    sent = len(proxy.keys)
    proxy.mode = "expire-challenge"
    for args in (("request", f"{proxy.url}/paid"), ("topup", channel, "0.01"), ("close", channel)):
        run = payer.mpp("--json", *args, "--yes")
        assert "expired" in _refused(run), run
    assert proxy.keys[sent:] == []  # no credential left the machine
    assert _watermarks(payer, channel) == (PRICE, PRICE)
    assert payer.record(channel)["status"] == "open" and payer.record(channel)["pendingTopUp"] is None


def test_a_credential_goes_over_plain_http_only_to_loopback_unless_allowed(payer: PayerHome,
                                                                          proxy: HostileProxy) -> None:
    # shop.example reaches the loopback proxy as an HTTP forward proxy: no traffic leaves the machine
    env = {"HTTP_PROXY": proxy.url, "http_proxy": proxy.url, "NO_PROXY": "127.0.0.1,localhost",
           "no_proxy": "127.0.0.1,localhost"}
    url = "http://shop.example/paid"
    run = payer.mpp("--json", "request", url, "--signer", "payer", "--yes", env=env)
    assert run.exit_code == 5, run
    assert run.json["error"]["code"] == "E_POLICY" and "plain http://" in run.json["error"]["message"], run
    assert "--allow-http" in run.json["error"]["hint"]
    assert proxy.keys == []  # the 402 was fetched; no credential was sent
    assert payer.mpp("--json", "channels", "list", "--all").json["channels"] == []
    allowed = payer.mpp("--json", "request", url, "--signer", "payer", "--yes", "--allow-http", env=env)
    assert allowed.exit_code == 0, allowed
    assert [action for action, _key in proxy.keys] == ["open", "voucher"]


def test_a_close_the_server_settled_before_dying_is_finished_from_the_chain(payer: PayerHome,
                                                                          proxy: HostileProxy) -> None:
    channel = _opened(payer, proxy)
    proxy.mode = "close-then-die"
    first = payer.mpp("--json", "close", channel, "--yes")
    assert first.exit_code == 3, first  # the answer never came
    assert proxy.log == ["cut the answer to a close the server answered 200"]
    assert payer.record(channel)["status"] == "closing"
    again = payer.mpp("--json", "close", channel, "--yes")  # the server is gone (503 for everything)
    assert again.exit_code == 0, again
    assert again.json["settled"] == str(PRICE) and again.json["status"] in ("closed", "pending-finalize")
    record = payer.record(channel)
    assert record["status"] == again.json["status"] and int(record["settled"]) == PRICE


def test_a_refused_open_that_landed_is_recorded_live_and_blocks_a_second_deposit(
        payer: PayerHome, proxy: HostileProxy, served: ServerProcess) -> None:
    from tests.e2e.support import channel_account

    proxy.mode = "refuse-open"  # the server broadcasts the open, then answers 402
    run = _pay(payer, proxy, "request", f"{proxy.url}/paid", "--max-spend", "1")
    assert run.exit_code == 4, run
    channel = run.json["error"]["channelId"]
    assert "put the deposit on chain" in run.json["error"]["message"]
    assert channel_account(served.chain, channel) is not None
    assert payer.record(channel)["status"] == "open"
    for _ in range(2):  # later commands never deposit into another channel: they use that one
        again = _pay(payer, proxy, "request", f"{proxy.url}/paid", "--max-spend", "1")
        assert again.exit_code == 0 and again.json["channelId"] == channel, again
    listed = payer.mpp("--json", "channels", "list", "--all").json["channels"]
    assert [c["channelId"] for c in listed] == [channel]
    assert [action for action, _key in proxy.keys].count("open") == 1


def test_an_unconfirmed_voucher_below_the_price_does_not_stall_the_channel(payer: PayerHome,
                                                                          proxy: HostileProxy) -> None:
    """A stream killed before its commit left left `accepted + chunk` signed: the next request pays
    `accepted + price` (above it), instead of re-sending a voucher that cannot pay for it."""
    import json

    from mppcli.protocol.voucher import Voucher, sign_voucher
    from mppcli.wallet.keypair_file import read_keypair_file

    channel = _opened(payer, proxy)
    assert payer.keypair is not None
    signed = sign_voucher(read_keypair_file(payer.keypair), Voucher(channel, PRICE + 1_000, 4102444800))
    path = payer.home / "state" / "channels" / f"{channel}.json"
    doc = json.loads(path.read_text())
    doc.update(signedCumulative=str(PRICE + 1_000),
               lastSignedVoucher=json.dumps(signed.to_json(), separators=(",", ":"), sort_keys=True))
    path.write_text(json.dumps(doc))
    run = _pay(payer, proxy, "request", f"{proxy.url}/paid")
    assert run.exit_code == 0, run
    assert _watermarks(payer, channel) == (2 * PRICE, 2 * PRICE)


def test_a_refused_open_not_on_chain_stays_opening_and_blocks_a_second_deposit(
        payer: PayerHome, proxy: HostileProxy) -> None:
    proxy.mode = "swallow-open"  # the server keeps the signed open: it could still broadcast it
    run = _pay(payer, proxy, "request", f"{proxy.url}/paid")
    assert run.exit_code == 4, run
    channel = run.json["error"]["channelId"]
    assert payer.record(channel)["status"] == "opening"
    again = _pay(payer, proxy, "request", f"{proxy.url}/paid")
    assert again.exit_code == 5 and again.json["error"]["code"] == "E_POLICY", again
    assert "has not been confirmed or ruled out" in again.json["error"]["message"]
    assert [action for action, _key in proxy.keys] == ["open"]  # no second open left the machine


def test_every_credential_carries_an_idempotency_key(payer: PayerHome, proxy: HostileProxy) -> None:
    channel = _opened(payer, proxy)
    assert payer.mpp("--json", "topup", channel, "0.01", "--yes").exit_code == 0
    assert payer.mpp("--json", "close", channel, "--yes").exit_code == 0
    assert [action for action, _key in proxy.keys] == ["open", "voucher", "topUp", "close"]
    keys = [key for _action, key in proxy.keys]
    assert all(keys) and len(set(keys)) == len(keys), proxy.keys
