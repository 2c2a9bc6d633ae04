"""What the gateway costs per request: the same upstream endpoint called directly, through
`mpp serve --upstream` on a free route, and through it paid (one voucher per request).

    python bench/gateway_requests.py [--requests 300] [--chain-check-ttl 0]

Starts the test upstream (tests/server/upstream_app.py) and `mpp serve --ephemeral --upstream`,
opens one channel with the project's builders (tests/server/payer.py), pre-signs every voucher,
then times N sequential requests of each kind over loopback. Paid requests on one channel are
sequential by nature (each voucher follows the previous one; the gateway holds the channel's lock
while the upstream answers). The figures are ratios against the direct calls of the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mppcli.protocol.auth import Credential, format_authorization  # noqa: E402
from tests.server.harness import ServerProcess  # noqa: E402
from tests.server.payer import Payer  # noqa: E402
from tests.server.upstream_app import running_upstream  # noqa: E402

PRICE = 10_000


def _timed(client: httpx.Client, url: str, headers: list[dict[str, str]]) -> float:
    started = time.perf_counter()
    for header in headers:
        answer = client.get(url, headers=header)
        assert answer.status_code < 300, (answer.status_code, answer.text[:200])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--chain-check-ttl", default="0")
    args = parser.parse_args()
    n = args.requests
    with running_upstream() as upstream, tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess.start(
            Path(tmp) / "home", "--ephemeral", "--db-sync", "full", "--chain-check-ttl", args.chain_check_ttl,
            "--upstream", upstream, "--route", "GET /v1/echo=0.01", "--route", "GET /free/*=0",
        )
        try:
            payer = Payer(server, funds=n * PRICE * 2)
            assert payer.open(deposit=n * PRICE + PRICE, path="/v1/echo").status_code == 200
            challenge = payer.challenge("/v1/echo")[0]
            paid = [
                {"Authorization": format_authorization(
                    Credential(challenge, payer.voucher_payload(payer.voucher(k * PRICE))))}
                for k in range(1, n + 1)
            ]
            plain: list[dict[str, str]] = [{} for _ in range(n)]
            with httpx.Client(timeout=60) as client:
                _timed(client, f"{upstream}/free/ping", plain[:20])  # warm both connections
                _timed(client, f"{server.url}/free/ping", plain[:20])
                direct = _timed(client, f"{upstream}/free/ping", plain)
                free = _timed(client, f"{server.url}/free/ping", plain)
                charged = _timed(client, f"{server.url}/v1/echo", paid)
        finally:
            server.stop()
    print(f"{n} sequential requests each (chain-check-ttl {args.chain_check_ttl}):")
    rows = (("direct to upstream", direct), ("gateway, free route", free), ("gateway, paid", charged))
    for name, t in rows:
        print(f"  {name:<20} {n / t:8.1f} req/s {t / n * 1000:7.2f} ms/req {t / direct:5.2f}x direct")


if __name__ == "__main__":
    main()
