"""`mpp inspect URL` against a real HTTP server on 127.0.0.1 that answers crafted 402s."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mppcli.protocol.auth import format_www_authenticate, new_challenge
from mppcli.protocol.problem import problem
from tests.protocol.kat import new_channel_request
from tests.support import mpp

SECRET = b"inspect-test-secret"
EXPIRES = "2099-01-01T00:00:00.000Z"


def session_header(challenge_id_hint: str = "", **details: object) -> str:
    request = new_channel_request(**details)
    challenge = new_challenge(
        SECRET,
        realm="127.0.0.1",
        method="solana",
        intent="session",
        request=request,
        expires=EXPIRES,
        description=challenge_id_hint or None,
    )
    return format_www_authenticate(challenge)


def charge_header() -> str:
    challenge = new_challenge(
        SECRET,
        realm="127.0.0.1",
        method="tempo",
        intent="charge",
        request={"amount": "1000", "currency": "usd"},
        expires="2001-01-01T00:00:00Z",
    )
    return format_www_authenticate(challenge)


ROUTES: dict[str, tuple[int, list[str]]] = {
    "/session": (402, [session_header()]),
    "/multi": (402, [session_header("first") + ", " + charge_header(), session_header("third")]),
    "/malformed": (402, ['Payment id="x", realm="r", method="SOLANA", intent="session", request="e30"']),
    "/bad-session": (402, [session_header(gracePeriodSeconds=None)]),
    "/no-challenge": (402, []),
    "/other-scheme": (402, ['Bearer realm="r"']),
    "/free": (200, []),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._answer(b"")

    def do_POST(self) -> None:
        self._answer(self.rfile.read(int(self.headers.get("content-length", "0"))))

    def _answer(self, body: bytes) -> None:
        if self.path == "/echo":  # the request as received, in a challenge description
            seen = f"{self.command} {self.headers.get('x-test')} {body.decode()}"
            status, headers = 402, [session_header(seen)]
        else:
            status, headers = ROUTES.get(self.path, (404, []))
        payload = json.dumps(problem("payment-required", "pay first").to_json()).encode()
        self.send_response(status)
        for value in headers:
            self.send_header("WWW-Authenticate", value)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_session_challenge_is_decoded(base_url: str, mpp_home: Path) -> None:
    run = mpp("--json", "inspect", f"{base_url}/session", home=mpp_home)
    assert run.exit_code == 0, run
    data = run.json
    assert data["url"] == f"{base_url}/session" and data["status"] == 402
    (entry,) = data["challenges"]
    assert {k: entry[k] for k in ("realm", "method", "intent", "expires", "description", "expired")} == {
        "realm": "127.0.0.1",
        "method": "solana",
        "intent": "session",
        "expires": EXPIRES,
        "description": None,
        "expired": False,
    }
    assert entry["request"] == new_channel_request()
    assert len(entry["id"]) == 43


def test_human_output_summarises_the_session_terms(base_url: str, mpp_home: Path) -> None:
    run = mpp("inspect", f"{base_url}/session", home=mpp_home)
    assert run.exit_code == 0, run
    assert "HTTP 402" in run.stdout and "1 payment challenge" in run.stdout
    assert "price        0.0001 (100 base units) per unit" in run.stdout
    assert "deposit      suggested 1 (1000000 base units), minimum 0.001 (1000 base units)" in run.stdout
    assert "idle close   30, 600, 86400 s" in run.stdout


def test_several_challenges_in_several_headers(base_url: str, mpp_home: Path) -> None:
    run = mpp("--json", "inspect", f"{base_url}/multi", home=mpp_home)
    assert run.exit_code == 0, run
    entries = run.json["challenges"]
    assert [(e["method"], e["intent"], e["description"]) for e in entries] == [
        ("solana", "session", "first"),
        ("tempo", "charge", None),
        ("solana", "session", "third"),
    ]
    assert entries[1]["request"] == {"amount": "1000", "currency": "usd"}
    assert entries[1]["expired"] is True


def test_method_headers_and_body_are_sent_as_given(base_url: str, mpp_home: Path, tmp_path: Path) -> None:
    run = mpp("--json", "inspect", f"{base_url}/echo", "-H", "X-Test: yes", "-d", "hello", home=mpp_home)
    assert run.json["challenges"][0]["description"] == "POST yes hello"
    body = tmp_path / "body.txt"
    body.write_text("from-file")
    run = mpp("--json", "inspect", f"{base_url}/echo", "-X", "post", "-d", f"@{body}", home=mpp_home)
    assert run.json["challenges"][0]["description"] == "POST None from-file"
    run = mpp("--json", "inspect", f"{base_url}/echo", home=mpp_home)
    assert run.json["challenges"][0]["description"] == "GET None "


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/malformed", "malformed payment challenge: Payment challenge parameter 'method' must be lowercase"),
        ("/bad-session", "methodDetails.gracePeriodSeconds is required for a new channel"),
        ("/no-challenge", "402 without a WWW-Authenticate: Payment challenge"),
        ("/other-scheme", "WWW-Authenticate carries no Payment challenge"),
    ],
)
def test_a_402_that_breaks_the_protocol_exits_4(
    base_url: str, mpp_home: Path, path: str, message: str
) -> None:
    run = mpp("--json", "inspect", base_url + path, home=mpp_home)
    assert run.exit_code == 4, run
    assert run.json["error"]["code"] == "E_PROTOCOL"
    assert message in run.json["error"]["message"]
    human = mpp("inspect", base_url + path, home=mpp_home)
    assert human.exit_code == 4 and "error[E_PROTOCOL]" in human.stderr and human.stdout == ""


def test_a_non_402_answer_has_no_challenges(base_url: str, mpp_home: Path) -> None:
    run = mpp("--json", "inspect", f"{base_url}/free", home=mpp_home)
    assert run.exit_code == 0, run
    assert run.json == {"url": f"{base_url}/free", "status": 200, "challenges": []}
    assert "no payment challenge" in mpp("inspect", f"{base_url}/free", home=mpp_home).stdout


def test_an_unreachable_server_exits_3(mpp_home: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = mpp("--json", "inspect", f"http://127.0.0.1:{port}/x", home=mpp_home)
    assert run.exit_code == 3, run
    assert run.json["error"]["code"] == "E_NETWORK"


@pytest.mark.parametrize(
    "args",
    [
        ("ftp://127.0.0.1/x",),
        ("not a url",),
        ("http://127.0.0.1:1/x", "-H", "no colon"),
        ("http://127.0.0.1:1/x", "-d", "@/no/such/file"),
    ],
)
def test_bad_local_input_exits_2(mpp_home: Path, args: tuple[str, ...]) -> None:
    run = mpp("--json", "inspect", *args, home=mpp_home)
    assert run.exit_code == 2, run
    assert run.json["error"]["code"] == "E_INPUT"
