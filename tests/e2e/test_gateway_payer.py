"""The payer (`mpp stream`, `mpp request`) against a real `mpp serve --upstream` gateway in front of a
real upstream process (tests/server/upstream_app.py): what is billed as a stream's data event, and
how an upstream failure the gateway did not charge for is reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.support import PayerHome, file_payer
from tests.server.gateway_support import seen, server_channel, start_gateway
from tests.server.harness import ServerProcess
from tests.server.upstream_app import running_upstream

pytestmark = [pytest.mark.slow]

EVENT = 1_000  # 0.001 per event


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with running_upstream() as url:
        yield url


@pytest.fixture(scope="module")
def gateway(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("gateway") / "home"
    running = start_gateway(
        home,
        upstream,
        "--route", "GET /v1/named=0.001/event",
        "--route", "GET /v1/fail=0.01",
        "--route", "* /v1/gone=0.01",
        "--route", "GET /v1/echo=0.01",
    )
    yield running
    running.stop()


@pytest.fixture
def payer(gateway: ServerProcess, tmp_path: Path) -> PayerHome:
    return file_payer(tmp_path / "payer", gateway.chain)


def server_spent(gateway: ServerProcess, channel_id: str) -> tuple[str, str]:
    found = server_channel(gateway, channel_id)
    return str(found["spent"]), str(found["acceptedCumulative"])


def test_named_non_json_upstream_events_are_billed_paid_and_printed(
    gateway: ServerProcess, payer: PayerHome
) -> None:
    streamed = payer.mpp(
        "--json", "stream", f"{gateway.url}/v1/named?n=4", "--deposit", "0.1", "--yes", "--signer", "payer"
    )
    assert streamed.exit_code == 0, streamed
    assert streamed.json["ended"] == "complete", streamed
    assert streamed.json["dataEvents"] == 4, streamed
    assert streamed.json["cumulative"] == str(4 * EVENT), streamed
    channel = streamed.json["channelId"]
    assert server_spent(gateway, channel) == (str(4 * EVENT), str(4 * EVENT))

    printed = payer.mpp("stream", f"{gateway.url}/v1/named?n=2", "--yes", "--signer", "payer")
    assert printed.exit_code == 0, printed
    assert [line for line in printed.stdout.splitlines() if line] == ["tick 1", "tick 2"], printed
    assert "mpp.metering" not in printed.stdout and "[DONE]" not in printed.stdout


def test_a_non_ascii_header_is_a_usage_error_naming_the_header_and_sends_nothing(
    gateway: ServerProcess, upstream: str, payer: PayerHome
) -> None:
    before = len(seen(upstream, "/v1/fail"))
    run = payer.mpp("--json", "request", "-H", "X-Name: café", f"{gateway.url}/v1/fail", "--yes",
                    "--signer", "payer")
    assert run.exit_code == 2, run
    assert run.json["error"]["code"] == "E_INPUT", run
    assert "X-Name" in run.json["error"]["message"], run
    secret = payer.mpp("request", "-H", "Authorization: Bearer sécret-tøken", f"{gateway.url}/v1/fail",
                       "--yes",
                       "--signer", "payer")
    assert secret.exit_code == 2 and "Authorization" in secret.stderr, secret
    assert "sécret" not in secret.stdout + secret.stderr  # a credential is never echoed
    assert len(seen(upstream, "/v1/fail")) == before


def test_an_uncharged_upstream_failure_is_shown_as_what_it_is_and_signs_nothing_more(
    gateway: ServerProcess, payer: PayerHome
) -> None:
    failed = payer.mpp("request", f"{gateway.url}/v1/fail", "--deposit", "0.1", "--yes", "--signer", "payer")
    assert failed.exit_code == 0, failed  # an HTTP answer like any other: its body, no refusal
    assert "refused" not in failed.stderr, failed
    assert "HTTP 502" in failed.stderr and "upstream answered 500" in failed.stderr, failed
    assert "did not charge" in failed.stderr, failed
    assert "upstream answered 500" in failed.stdout  # the problem body itself

    strict = payer.mpp("--json", "request", "--fail", f"{gateway.url}/v1/fail", "--yes", "--signer", "payer")
    assert strict.exit_code == 4 and strict.json["error"]["code"] == "E_HTTP_STATUS", strict
    assert "502" in strict.json["error"]["message"] and "did not charge" in strict.json["error"]["message"]
    channel = strict.json["error"]["channelId"]
    assert server_spent(gateway, channel) == ("0", "0")

    missing = payer.mpp("--json", "request", "-X", "POST", "-d", "{}", f"{gateway.url}/v1/gone", "--yes",
                        "--signer", "payer")
    assert missing.exit_code == 0 and missing.json["status"] == 404, missing  # the upstream's own 404
    assert missing.json["body"] == '{"error":"no such thing"}' and missing.json["paid"] == "0", missing
    missing_strict = payer.mpp("request", "-f", "-X", "POST", "-d", "{}", f"{gateway.url}/v1/gone", "--yes",
                               "--signer", "payer")
    assert missing_strict.exit_code == 4 and "E_HTTP_STATUS" in missing_strict.stderr, missing_strict
    assert server_spent(gateway, channel) == ("0", "0")

    paid = payer.mpp("--json", "request", f"{gateway.url}/v1/echo", "--yes", "--signer", "payer")
    assert paid.exit_code == 0 and paid.json["channelId"] == channel, paid
    assert paid.json["cumulative"] == "10000", paid  # the voucher the failures left unconfirmed, not more
    assert server_spent(gateway, channel) == ("10000", "10000")


def test_a_minimum_deposit_above_what_was_allowed_is_told_in_token_units(
    gateway: ServerProcess, payer: PayerHome
) -> None:
    run = payer.mpp("request", f"{gateway.url}/v1/echo", "--deposit", "0.005", "--yes", "--signer", "payer")
    assert run.exit_code == 5, run
    assert "minimumDeposit 0.01 USDC is above what you allowed (0.005 USDC)" in run.stderr, run
    assert "10000" not in run.stderr and "5000" not in run.stderr, run
