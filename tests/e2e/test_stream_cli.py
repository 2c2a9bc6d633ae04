"""`mpp stream` and `mpp request` as a user sees them: output modes, top-ups within --max-spend,
a clean stop when the cap forbids one, and Ctrl-C (state saved, exit 130, the next run continues).

These use a keypair-file payer signing with its own key (`--signer payer`): no OS keyring needed.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.support import PayerHome, file_payer, served_fixture, wait_for
from tests.server.harness import ServerProcess

pytestmark = [pytest.mark.slow]

CHUNK, DEPOSIT = 1_000, 5_000  # --chunk-price 0.001, --suggested-deposit 0.005
NDJSON_TYPES = {"data", "metering", "voucher", "receipt", "usage", "topup", "done", "error", "open", "retry",
                "info", "payment-required"}


served = served_fixture("--min-deposit", "0.001", "--suggested-deposit", "0.005", "--price", "0.001",
                        "--stream-pause", "5")


@pytest.fixture
def payer(served: ServerProcess, tmp_path: Path) -> PayerHome:
    return file_payer(tmp_path / "payer", served.chain)


def stream(payer: PayerHome, url: str, *args: str, pre: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    return payer.mpp(*pre, "stream", url, "--signer", "payer", "--yes", *args)


def test_text_mode_prints_the_data_and_progress_goes_to_stderr(served: ServerProcess,
                                                               payer: PayerHome) -> None:
    run = stream(payer, f"{served.url}/stream?chunks=3", pre=("-v",))
    assert run.exit_code == 0, run
    lines = run.stdout.splitlines()
    assert [json.loads(line)["chunk"] for line in lines] == [1, 2, 3]
    assert "vouchers, cumulative 0.003 USDC" in run.stderr, run.stderr  # token units, not base units
    assert "deposit=0.005 USDC" in run.stderr, run.stderr


def test_ndjson_mode_is_one_typed_event_per_line(served: ServerProcess, payer: PayerHome) -> None:
    run = stream(payer, f"{served.url}/stream?chunks=3", "--ndjson")
    assert run.exit_code == 0, run
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert {e["type"] for e in events} <= NDJSON_TYPES
    assert [e["data"]["chunk"] for e in events if e["type"] == "data"] == [1, 2, 3]
    # the request pays chunk 1; chunks 2-3 come as one batch, paid by one cumulative voucher
    assert [e["cumulative"] for e in events if e["type"] == "voucher"] == ["1000", "3000"]
    assert events[-1]["type"] == "done"


def test_the_stream_tops_up_within_max_spend(served: ServerProcess, payer: PayerHome) -> None:
    run = stream(payer, f"{served.url}/stream?chunks=8", "--ndjson", "--max-spend", "0.02")
    assert run.exit_code == 0, run
    events = [json.loads(line) for line in run.stdout.splitlines()]
    topups = [e for e in events if e["type"] == "topup"]
    assert topups and topups[0]["amount"] == str(DEPOSIT)
    assert len([e for e in events if e["type"] == "data"]) == 8
    channel = events[0]["channelId"]
    record = payer.record(channel)
    assert record["deposit"] == str(2 * DEPOSIT) and record["acceptedCumulative"] == str(8 * CHUNK)


def test_without_room_to_top_up_the_stream_stops_cleanly_with_exit_5(served: ServerProcess,
                                                                    payer: PayerHome) -> None:
    run = stream(payer, f"{served.url}/stream?chunks=8", "--json")
    assert run.exit_code == 5, run
    assert run.json["error"]["code"] == "E_POLICY" and "--max-spend" in run.json["error"]["hint"]
    record = payer.record(run.json["error"]["channelId"])
    assert record["signedCumulative"] == record["acceptedCumulative"] == str(DEPOSIT)


def test_back_to_back_top_ups_in_one_slot_each_add_to_the_deposit(served: ServerProcess,
                                                                  payer: PayerHome) -> None:
    """A stream that tops up every few chunks asks for the same amount many times a second: each
    top-up must be a new transaction (the same channel, amount and blockhash would be the same
    bytes, which the chain and the server take once), and every one must land."""
    run = stream(payer, f"{served.url}/stream?chunks=40", "--json", "--max-spend", "100")
    assert run.exit_code == 0, run
    record = payer.record(run.json["channelId"])
    assert run.json["cumulative"] == str(40 * CHUNK) == record["acceptedCumulative"]
    assert int(record["deposit"]) >= 40 * CHUNK
    account = served.chain.channel(run.json["channelId"])
    assert account is not None and account.deposit == int(record["deposit"])


def test_ctrl_c_saves_state_exits_130_and_the_next_run_continues(served: ServerProcess,
                                                                 payer: PayerHome) -> None:
    opened = payer.mpp("--json", "open", f"{served.url}/paid", "--signer", "payer", "--yes",
                       "--deposit", "0.005")
    channel = opened.json["channelId"]
    proc = payer.popen("--json", "stream", f"{served.url}/stream?chunks=100000", "--signer", "payer",
                       "--max-spend", "100")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and int(payer.record(channel)["acceptedCumulative"]) < 3 * CHUNK:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, _err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    error = json.loads(out)["error"]
    assert error["code"] == "E_INTERRUPTED"
    assert "starts the stream over from its first chunk" in error["hint"], error  # what a rerun does
    record = payer.record(channel)
    signed, accepted = int(record["signedCumulative"]), int(record["acceptedCumulative"])
    assert accepted >= 3 * CHUNK and 0 <= signed - accepted <= CHUNK
    again = stream(payer, f"{served.url}/stream?chunks=2", "--json", "--max-spend", "100")
    assert again.exit_code == 0, (again.stdout, record)
    assert again.json["channelId"] == channel and int(again.json["cumulative"]) > accepted


def test_request_include_and_output_file(served: ServerProcess, payer: PayerHome, tmp_path: Path) -> None:
    shown = payer.mpp("request", f"{served.url}/paid", "-i", "--signer", "payer", "--yes")
    assert shown.exit_code == 0, shown
    head, _, body = shown.stdout.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200") and "payment-receipt:" in head.lower()
    assert json.loads(body)["message"] == "paid content"
    target = tmp_path / "body.json"
    saved = payer.mpp("request", f"{served.url}/paid", "-o", str(target))
    assert saved.exit_code == 0 and saved.stdout == "", saved
    assert json.loads(target.read_text())["acceptedCumulative"] == "2000"
    assert "paid 0.001 USDC on channel" in saved.stderr  # token units and symbol (#14 item 3)


def test_a_payer_without_sol_opens_and_tops_up_in_the_sponsored_form(served: ServerProcess,
                                                                      tmp_path: Path) -> None:
    payer = file_payer(tmp_path / "solless", served.chain, sol=0)
    opened = payer.mpp("--json", "open", f"{served.url}/paid", "--signer", "payer", "--yes")
    assert opened.exit_code == 0, opened
    topped = payer.mpp("--json", "topup", opened.json["channelId"], "0.005", "--yes")
    assert topped.exit_code == 0, topped
    assert topped.json["sponsored"] is True and topped.json["deposit"] == str(2 * DEPOSIT)
    assert served.chain.call("getBalance", [payer.pubkey])["value"] == 0  # the server paid every fee


def test_a_channel_the_server_closed_for_idleness_is_replaced(tmp_path: Path) -> None:
    server = ServerProcess.start(tmp_path / "serve", "--ephemeral", "--idle-timeout-options", "none",
                                 "--idle-timeout", "1")
    try:
        payer = file_payer(tmp_path / "payer", server.chain)
        first = payer.mpp("--json", "request", f"{server.url}/paid", "--signer", "payer", "--yes")
        assert first.exit_code == 0, first
        old = first.json["channelId"]
        assert wait_for(lambda: f"closed channel {old}" in server.log(), 30)
        second = payer.mpp("--json", "request", f"{server.url}/paid", "--signer", "payer")
        assert second.exit_code == 0, second
        assert second.json["channelId"] != old
        assert payer.record(old)["status"] == "closed" and payer.record(old)["settled"] == "10000"
    finally:
        server.stop()


def test_stream_on_a_plain_paid_url_delivers_the_body(served: ServerProcess, payer: PayerHome) -> None:
    """#14 item 7: the body was paid for; `mpp stream` prints it instead of throwing it away."""
    run = stream(payer, f"{served.url}/paid")
    assert run.exit_code == 0, run
    assert json.loads(run.stdout)["message"] == "paid content"
    shown = stream(payer, f"{served.url}/paid", "--json")
    assert shown.exit_code == 0, shown
    assert shown.json["ended"] == "not-an-event-stream" and shown.json["dataEvents"] == 1
