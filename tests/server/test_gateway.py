"""`mpp serve --upstream`: a real upstream process (tests/server/upstream_app.py) behind a real
`mpp serve`, paid for with the real `mpp` commands (a keypair-file payer) and, in the last test,
with the reference implementation's client. What the upstream received is read from the upstream
itself (`GET /__seen`, asked directly), what was charged from the server's database
(`mpp serve channels --json`, read while the server runs) and from the ledger after `mpp close`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.support import PayerHome, file_payer
from tests.server.gateway_support import seen, server_channel, start_gateway
from tests.server.harness import ServerProcess
from tests.server.upstream_app import running_upstream
from tests.support import mpp

pytestmark = [pytest.mark.slow]

PRICE, EVENT, DEPOSIT = 10_000, 1_000, 100_000  # 0.01 per POST, 0.001 per event, --deposit 0.1
API_KEY, BEARER = "k-123-upstream-api-key", "Bearer upstream-secret-token"


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with running_upstream() as url:
        yield url


@pytest.fixture(scope="module")
def gateway(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp("gateway") / "home"
    secret = home.parent / "bearer"
    secret.write_text(BEARER + "\n")
    running = start_gateway(
        home,
        upstream,
        "--route", "POST /v1/*=0.01",
        "--route", "GET /v1/events=0.001/event",
        "--route", "GET /v1/fail=0.01",
        "--route", "GET /v1/echo=0.01",
        "--route", "* /free/*=0",
        "--upstream-header", "X-Api-Key: env:GATEWAY_TEST_KEY",
        "--upstream-header", f"Authorization: @{secret}",
        env={"GATEWAY_TEST_KEY": API_KEY},
    )
    yield running
    running.stop()


@pytest.fixture
def payer(gateway: ServerProcess, tmp_path: Path) -> PayerHome:
    return file_payer(tmp_path / "payer", gateway.chain)


def test_a_paid_post_reaches_the_upstream_once_intact_and_without_the_payment(
    gateway: ServerProcess, upstream: str, payer: PayerHome
) -> None:
    body = {"q": "hello", "n": [1, 2, 3], "nested": {"ok": True}}
    before = len(seen(upstream, "/v1/echo"))
    run = payer.mpp(
        "--json", "request", "-X", "POST", f"{gateway.url}/v1/echo?lang=en&x=1",
        "-H", "Content-Type: application/json", "-H", "X-Custom: hello; v=42",
        "-H", "Authorization: Bearer the-users-own-key",
        "-d", json.dumps(body), "--deposit", "0.1", "--yes", "--signer", "payer",
    )
    assert run.exit_code == 0, run
    assert "Authorization" in run.stderr and "--upstream-header" in run.stderr  # the client warns
    assert run.json["status"] == 201 and run.json["cumulative"] == str(PRICE)

    forwarded = seen(upstream, "/v1/echo")[before:]
    assert len(forwarded) == 1  # open, 402 and voucher round trips: the upstream saw one request
    got = forwarded[0]
    assert got["method"] == "POST" and got["query"] == "lang=en&x=1"
    assert json.loads(got["body"]) == body
    headers = {k: v for k, v in got["headers"]}
    assert headers["content-type"] == "application/json"
    assert headers["x-custom"] == "hello; v=42"
    assert headers["x-api-key"] == API_KEY
    assert headers["authorization"] == BEARER  # the gateway's own credential, not the payment
    assert headers["x-forwarded-for"] == "127.0.0.1" and headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == gateway.url.removeprefix("http://")
    assert not any(k.startswith("payment") or k == "x-payment-channel" for k in headers)
    assert json.loads(run.json["body"])["body"] == json.dumps(body)  # the upstream's answer came back

    log = gateway.log()
    assert f"paid channel {run.json['channelId']} route POST /v1/*: 0.01" in log
    assert f"opened channel {run.json['channelId']}" in log
    for secret in (API_KEY, "upstream-secret-token", "the-users-own-key"):
        assert secret not in log


def test_sse_is_billed_per_event_failures_and_unpriced_paths_cost_nothing_and_close_settles_spent(
    gateway: ServerProcess, upstream: str, payer: PayerHome
) -> None:
    mint, payee = str(gateway.ready["mint"]), str(gateway.ready["recipient"])
    chain = gateway.chain
    payee_before, payer_before = chain.token_balance(payee, mint), chain.token_balance(payer.pubkey, mint)

    streamed = payer.mpp(
        "--json", "stream", f"{gateway.url}/v1/events?n=5", "--deposit", "0.1", "--yes", "--signer", "payer"
    )
    assert streamed.exit_code == 0, streamed
    channel = streamed.json["channelId"]
    assert streamed.json["dataEvents"] == 5 and streamed.json["ended"] == "complete"
    spent = 5 * EVENT
    assert streamed.json["cumulative"] == str(spent)
    assert server_channel(gateway, channel)["spent"] == str(spent)
    assert len(seen(upstream, "/v1/events")) >= 1

    failing_before = len(seen(upstream, "/v1/fail"))
    failed = payer.mpp("--json", "request", "--fail", f"{gateway.url}/v1/fail", "--yes", "--signer", "payer")
    assert failed.exit_code == 4 and failed.json["error"]["code"] == "E_HTTP_STATUS", failed
    assert "upstream answered 500" in failed.stdout + failed.stderr
    assert len(seen(upstream, "/v1/fail")) == failing_before + 1  # forwarded once, answered 502
    record = server_channel(gateway, channel)
    assert (record["spent"], record["acceptedCumulative"]) == (str(spent), str(spent))  # not charged

    missing = payer.mpp("--json", "request", "-X", "POST", "-d", "{}", f"{gateway.url}/v1/gone", "--yes",
                        "--signer", "payer")
    assert missing.exit_code == 0 and missing.json["status"] == 404, missing  # the upstream's 404, uncharged
    assert len(seen(upstream, "/v1/gone")) == 1
    record = server_channel(gateway, channel)
    assert (record["spent"], record["acceptedCumulative"]) == (str(spent), str(spent))  # a 4xx is free

    direct = httpx.get(f"{gateway.url}/v1/fail", headers={"Authorization": "Payment not-a-credential"})
    assert direct.status_code == 402  # a priced route asks for payment before forwarding anything
    assert len(seen(upstream, "/v1/fail")) == failing_before + 1
    unpriced = httpx.get(f"{gateway.url}/not/sold")
    assert unpriced.status_code == 404
    assert unpriced.headers["content-type"].startswith("application/problem+json")
    assert seen(upstream, "/not/sold") == []
    free = httpx.get(f"{gateway.url}/free/ping", headers={"Authorization": "Bearer nope"})
    assert free.status_code == 200 and free.text == "pong" and "payment-receipt" not in free.headers
    assert dict(seen(upstream, "/free/ping")[-1]["headers"])["authorization"] == BEARER

    text = mpp("serve", "channels", "--db", str(gateway.home.parent / "server.db"))
    row = next(line for line in text.stdout.splitlines() if line.startswith(channel))
    assert row.split()[1:5] == ["open", "0.1", "0.005", "0.005"]  # status, deposit, accepted, spent
    live = server_channel(gateway, channel)
    assert live["status"] == "open" and live["idleDeadline"] and live["deposit"] == str(DEPOSIT)

    closed = payer.mpp("--json", "close", channel)
    assert closed.exit_code == 0, closed
    assert closed.json["settled"] == str(spent) and closed.json["refunded"] == str(DEPOSIT - spent)
    assert chain.token_balance(payee, mint) - payee_before == spent
    assert payer_before - chain.token_balance(payer.pubkey, mint) == spent
    after = server_channel(gateway, channel)
    assert (after["status"], after["settled"]) == ("closed", str(spent))
    log = gateway.log()
    assert f"metered channel {channel}" in log and f"closed channel {channel}" in log
    assert "GET /v1/fail 502" in log
    assert not [line for line in log.splitlines() if "paid channel" in line and "GET /v1/fail" in line]
    assert "refused route GET /v1/fail: " in log  # the garbage credential above


def test_a_long_upstream_stream_is_charged_in_batches_and_billed_to_the_event(
    gateway: ServerProcess, payer: PayerHome
) -> None:
    """The gateway reads the upstream ahead and charges what arrived together as one batch: every
    event is still charged before it leaves, and the bill is exactly events x price."""
    streamed = payer.mpp(
        "--json", "stream", f"{gateway.url}/v1/events?n=3000", "--deposit", "5", "--max-spend", "5", "--yes",
        "--signer", "payer",
    )
    assert streamed.exit_code == 0, streamed
    assert streamed.json["dataEvents"] == 3000 and streamed.json["ended"] == "complete", streamed.json
    assert streamed.json["cumulative"] == str(3000 * EVENT)
    assert server_channel(gateway, streamed.json["channelId"])["spent"] == str(3000 * EVENT)


def test_the_reference_client_pays_a_gateway_route_and_stream(
    gateway: ServerProcess, upstream: str, tmp_path: Path
) -> None:
    from solders.keypair import Keypair

    from tests.interop.conftest import _ref_python_path
    from tests.interop.refkit_runner import RefKit

    python = _ref_python_path()
    if python is None or not python.exists():
        pytest.skip("no reference implementation venv (set MPP_REF_PYTHON; scripts/test creates .ref/)")
    payer = Keypair()
    gateway.chain.mint_tokens(str(payer.pubkey()), 5_000_000)
    echoed = len([e for e in seen(upstream, "/v1/echo") if e["method"] == "GET"])
    answer = RefKit(python, tmp_path).ok(
        "client.py",
        {
            "url": gateway.url,
            "payerSecret": str(payer),
            "paidPath": "/v1/echo",
            "requests": 2,
            "streamPath": "/v1/events?n=3",
            "streams": 1,
            "streamCommit": "each",
            "rpcUrl": gateway.ready["rpcUrl"],
            "close": True,
        },
        timeout=240,
    )
    assert [s["status"] for s in answer["steps"]] == [200] * len(answer["steps"])
    spent = 2 * PRICE + 3 * EVENT
    assert int(answer["cumulative"]) == spent, answer
    assert int(answer["steps"][-1]["receipt"]["spent"]) == spent
    assert len([e for e in seen(upstream, "/v1/echo") if e["method"] == "GET"]) == echoed + 2


def test_an_open_is_not_forwarded_and_an_idempotent_retry_is_answered_from_the_store(
    gateway: ServerProcess, upstream: str
) -> None:
    from tests.server.payer import Payer, challenge_of

    def echoes() -> int:
        return len([e for e in seen(upstream, "/v1/echo") if e["method"] == "GET"])

    payer = Payer(gateway)
    before = echoes()
    opened = payer.open(deposit=DEPOSIT, path="/v1/echo")
    assert opened.status_code == 200 and opened.json()["action"] == "open"
    assert echoes() == before  # the open round trip never reaches the upstream

    challenge = payer.challenge("/v1/echo")[0]
    first = payer.pay(PRICE, "/v1/echo", challenge, {"Idempotency-Key": "retry-1"})
    again = payer.pay(PRICE, "/v1/echo", challenge, {"Idempotency-Key": "retry-1"})
    assert first.status_code == again.status_code == 200
    assert json.loads(first.content)["path"] == "/v1/echo" and again.content == first.content
    assert again.headers["payment-receipt"] == first.headers["payment-receipt"]
    assert first.headers["cache-control"] == "private" and first.headers["x-upstream"] == "yes"
    assert echoes() == before + 1  # the retry was answered from the store
    assert server_channel(gateway, str(payer.channel_id))["spent"] == str(PRICE)

    post_challenge = challenge_of(payer.get("/v1/gone", method="POST"))[0]
    gone = payer.pay(2 * PRICE, "/v1/gone", post_challenge, method="POST")
    assert gone.status_code == 404 and gone.json() == {"error": "no such thing"}  # relayed as given
    assert "payment-receipt" not in gone.headers  # spec: no receipt on an error response...
    assert server_channel(gateway, str(payer.channel_id))["spent"] == str(PRICE)  # ...and no charge
    again = payer.pay(2 * PRICE, "/v1/echo", challenge)  # the same cumulative now pays a success
    assert again.status_code == 200 and "payment-receipt" in again.headers


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("--upstream", "http://127.0.0.1:9"), "E_CONFIG", "at least one --route"),
        (("--route", "GET /x=0.01"), "E_CONFIG", "need --upstream"),
        (("--upstream", "http://127.0.0.1:9", "--route", "GET x=0.01"), "E_USAGE", "must start with /"),
        (("--upstream", "ftp://h", "--route", "GET /x=0.01"), "E_CONFIG", "http(s) URL"),
        (
            ("--upstream", "http://127.0.0.1:9", "--route", "GET /x=1", "--upstream-header", "X: env:NO_X"),
            "E_CONFIG",
            "NO_X is not set",
        ),
    ],
)
def test_unusable_gateway_settings_are_refused_with_exit_2(
    tmp_path: Path, args: tuple[str, ...], code: str, words: str
) -> None:
    run = mpp("serve", "--port", "0", "--ephemeral", "--json", *args, home=tmp_path)
    assert run.exit_code == 2, run
    error = run.json["error"]
    assert error["code"] == code and words in error["message"] + error["hint"], error


def test_routes_from_config_toml_and_json_event_lines(upstream: str, tmp_path: Path) -> None:
    from tests.server.payer import Payer

    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text(
        f'[serve]\nupstream = "{upstream}"\n\n'
        '[[serve.routes]]\nmethod = "GET"\npath = "/v1/echo"\nprice = "0.02"\n\n'
        '[[serve.routes]]\npath = "/v1/events"\nprice = "0.001"\nunit = "event"\n'
    )
    server = ServerProcess.start(home, "--ephemeral", "--log-json")
    try:
        assert f"GET /v1/echo -> {upstream}" in server.ready["endpoints"]
        payer = Payer(server)
        assert payer.challenge("/v1/echo")[1].amount == 20_000
        assert payer.challenge("/v1/events")[1].amount == 1_000
        assert payer.open(deposit=DEPOSIT, path="/v1/echo").status_code == 200
        assert payer.pay(20_000, "/v1/echo").status_code == 200
    finally:
        server.stop()
    events = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    assert [e["event"] for e in events] == ["opened", "paid"]
    assert events[1] == {
        "event": "paid", "channel": payer.channel_id, "route": "GET /v1/echo", "amount": "0.02",
        "amountBaseUnits": "20000", "spent": "0.02", "deposit": "0.1",
    }


def test_operator_signed_channels_pay_gateway_routes_and_streams(upstream: str, tmp_path: Path) -> None:
    from tests.server.payer import Payer

    db = tmp_path / "operator.db"
    server = ServerProcess.start(
        tmp_path / "home", "--ephemeral", "--db", str(db), "--voucher-signer", "operator",
        "--upstream", upstream, "--route", "GET /v1/*=0.01", "--route", "GET /v1/events=0.001/event",
    )
    try:
        payer = Payer(server)
        assert payer.open(deposit=DEPOSIT, path="/v1/echo").status_code == 200
        channel = str(payer.channel_id)
        before = len(seen(upstream, "/v1/echo"))
        used = payer.use("/v1/echo")
        assert used.status_code == 200 and json.loads(used.content)["path"] == "/v1/echo"
        assert len(seen(upstream, "/v1/echo")) == before + 1
        failed = payer.use("/v1/fail")
        assert failed.status_code == 502 and "payment-receipt" not in failed.headers
        streamed = payer.use("/v1/events?n=4")
        assert streamed.status_code == 200
        data = [line for line in streamed.text.splitlines() if line.startswith("data: {\"n\"")]
        assert len(data) == 4
        listed = mpp("--json", "serve", "channels", "--db", str(db))
        row = next(c for c in listed.json["channels"] if c["channelId"] == channel)
        assert row["spent"] == row["acceptedCumulative"] == str(PRICE + 4 * EVENT)  # the 502 cost nothing
    finally:
        server.stop()


def test_a_paid_body_above_the_demo_limit_reaches_the_upstream_whole(
    gateway: ServerProcess, upstream: str, payer: PayerHome, tmp_path: Path
) -> None:
    """The body digest is checked up to the gateway's own body limit (10 MiB), not the 1 MiB of
    the demo endpoints: a 2 MiB POST is paid and forwarded intact, once."""
    body = tmp_path / "big.json"
    body.write_text(json.dumps({"blob": "x" * (2 * 1024 * 1024)}))
    before = len(seen(upstream, "/v1/echo"))
    run = payer.mpp("--json", "request", "-X", "POST", f"{gateway.url}/v1/echo", "-d", f"@{body}",
                    "-H", "Content-Type: application/json", "--deposit", "0.1", "--yes", "--signer", "payer")
    assert run.exit_code == 0, run
    forwarded = seen(upstream, "/v1/echo")[before:]
    assert len(forwarded) == 1 and forwarded[0]["body"] == body.read_text()
