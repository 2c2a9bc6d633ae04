"""The HTTP edges of the core scheme (issue #10 items 10 and 12): one Payment credential per request,
request bodies bound by the challenge's `digest`, oversize input answered as problem+json."""

from __future__ import annotations

import base64
import hashlib
import socket
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st

from mppcli.protocol.auth import Challenge, Credential, format_authorization, parse_www_authenticate
from mppcli.protocol.problem import parse_problem
from mppcli.server.httpinput import _PAYMENT_CREDENTIAL, payment_credentials
from tests.server.payer import Payer, challenge_of, problem_of, receipt_of

PRICE = 10_000


def _digest(body: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def _refusal(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["cache-control"] == "no-store"
    parse_www_authenticate(response.headers["www-authenticate"])
    problem = parse_problem(response.content)
    assert problem.status == status
    return problem


def test_two_payment_credentials_in_two_headers_are_a_400(opened: Payer) -> None:
    challenge, _ = opened.challenge()
    auth = format_authorization(Credential(challenge, opened.voucher_payload(opened.voucher(PRICE))))
    response = opened.http.get(
        opened.server.url + "/paid", headers=[("Authorization", auth), ("Authorization", auth)]
    )
    assert _refusal(response, 400).name == "malformed-credential"
    assert receipt_of(opened.pay(PRICE)).spent == PRICE  # nothing was debited


def test_two_payment_credentials_joined_in_one_header_are_a_400(opened: Payer) -> None:
    challenge, _ = opened.challenge()
    auth = format_authorization(Credential(challenge, opened.voucher_payload(opened.voucher(PRICE))))
    response = opened.http.get(opened.server.url + "/paid", headers={"Authorization": f"{auth}, {auth}"})
    assert _refusal(response, 400).name == "malformed-credential"


def test_a_bad_chunk_count_is_a_400_in_problem_json_and_spends_nothing(opened: Payer) -> None:
    challenge, _ = opened.challenge("/stream")
    auth = format_authorization(Credential(challenge, opened.voucher_payload(opened.voucher(PRICE))))
    for query in ("chunks=bad", "chunks=0", "chunks=%D9%A5"):
        response = opened.http.get(f"{opened.server.url}/stream?{query}", headers={"Authorization": auth})
        problem = _refusal(response, 400)
        assert problem.type == "about:blank" and "chunks must be an integer" in problem.detail
    assert receipt_of(opened.pay(PRICE)).spent == PRICE  # nothing was debited


def _post(
    payer: Payer, body: bytes, challenge: Challenge | None = None, cumulative: int = PRICE
) -> httpx.Response:
    headers = {}
    if challenge is not None:
        payload = payer.voucher_payload(payer.voucher(cumulative))
        headers["Authorization"] = format_authorization(Credential(challenge, payload))
    return payer.http.post(payer.server.url + "/paid", content=body, headers=headers)


def test_a_post_challenge_binds_the_body_digest(opened: Payer) -> None:
    body = b'{"query": "weather in Lisbon"}'
    challenge, _ = challenge_of(_post(opened, body))
    assert challenge.digest == _digest(body)
    other = problem_of(_post(opened, b'{"query": "something else"}', challenge))
    assert other.name == "verification-failed" and "digest" in other.detail
    bodiless = problem_of(opened.pay(PRICE, challenge=challenge))
    assert bodiless.name == "verification-failed" and "digest" in bodiless.detail
    assert receipt_of(_post(opened, body, challenge)).spent == PRICE


def test_a_refusal_of_a_post_carries_a_challenge_for_its_body(opened: Payer) -> None:
    body = b"payload"
    refused = _post(opened, body, opened.challenge()[0], cumulative=3 * PRICE)  # a GET challenge: no digest
    problem_of(refused)
    fresh, _ = challenge_of(refused)
    assert fresh.digest == _digest(body)
    assert receipt_of(_post(opened, body, fresh)).spent == PRICE


def test_get_challenges_carry_no_digest(payer: Payer) -> None:
    assert payer.challenge()[0].digest is None


def test_hostile_values_in_every_action_are_402s_never_500s(opened: Payer) -> None:
    """Input errors are the project's parse errors (402 malformed-credential); only a bug is a 500."""
    import json
    import random

    rng = random.Random(10)
    challenge, request = opened.challenge()
    valid = [
        opened.open_payload(challenge, request),
        opened.topup_payload(10_000, True, request),
        {"action": "close", "channelId": opened.channel_id, "voucher": opened.voucher(PRICE).to_json()},
        opened.voucher_payload(opened.voucher(PRICE)),
    ]
    junk = [None, 0, -1, 2**53, "", "x" * 70, "1" * 90, [], {}, True, 1.5, "🙂", "AAAA", "-1", "0x10"]
    for _ in range(120):
        payload = json.loads(json.dumps(rng.choice(valid)))
        target = payload
        if "voucher" in payload and rng.random() < 0.5:
            target = payload["voucher"] if rng.random() < 0.5 else payload["voucher"]["voucher"]
        key = rng.choice([*target, "extra"])
        target[key] = rng.choice(junk)
        response = opened.send(payload, challenge)
        assert response.status_code in (200, 402), (key, target[key], response.status_code, response.text)


def test_a_1_mib_header_is_answered_in_problem_json(payer: Payer) -> None:
    response = payer.http.get(payer.server.url + "/paid", headers={"X-Big": "a" * 1_048_576})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert parse_problem(response.content).status == 400


def _declare_a_huge_body(url: str, path: str) -> bytes:
    """Send headers declaring 50 MiB and only 100 bytes of it; return the answer's first bytes."""
    host, port = url.split("//")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {50 * 1024 * 1024}\r\n\r\n"
        conn.sendall(head.encode() + b"{" * 100)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _length(answer):
            chunk = conn.recv(65536)  # head and body may come in separate segments
            if not chunk:
                break
            answer += chunk
        return answer


def _length(answer: bytes) -> int:
    for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_a_paid_request_body_is_read_only_up_to_its_limit(payer: Payer) -> None:
    answer = _declare_a_huge_body(payer.server.url, "/paid")
    assert answer.startswith(b"HTTP/1.1 413") and b"application/problem+json" in answer


def test_a_side_channel_body_is_read_only_up_to_its_limit(payer: Payer) -> None:
    answer = _declare_a_huge_body(payer.server.url, "/__402/session/commit")
    assert answer.startswith(b"HTTP/1.1 400") and b"too large" in answer, answer


_PIECES = st.sampled_from(["Payment", "payment", "PAYMENT ", " ", "\t", ",", "a", "Bearer "])


@given(st.lists(st.lists(_PIECES, max_size=12).map("".join), max_size=3))
def test_counting_payment_credentials_matches_a_full_scan(lines: list[str]) -> None:
    """The comma-less fast path counts exactly what scanning every line would."""
    assert payment_credentials(lines) == sum(len(_PAYMENT_CREDENTIAL.findall(line)) for line in lines)
