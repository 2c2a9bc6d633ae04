"""A metered-stream consumer for the tests: reads the SSE stream of `mpp serve`, commits each
`mpp.metering` directive with a voucher (or not, to test the server's pauses), records everything."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import connect_sse

from mppcli.protocol.auth import Credential, format_authorization
from mppcli.protocol.metering import classify_event, data_value, parse_commit_receipt
from tests.server.payer import Payer


@dataclass
class StreamLog:
    status: int = 0
    data: list[Any] = field(default_factory=list)
    directives: list[Any] = field(default_factory=list)
    commits: list[Any] = field(default_factory=list)
    payment_required: list[dict[str, Any]] = field(default_factory=list)
    usage: list[Any] = field(default_factory=list)
    receipt: dict[str, Any] | None = None
    done: bool = False
    body: str = ""


def consume(
    payer: Payer,
    cumulative: int,
    chunks: int,
    commit: bool = True,
    on_pause: Callable[[dict[str, Any]], None] | None = None,
    headers: dict[str, str] | None = None,
) -> StreamLog:
    """Pay chunk 1 with a voucher for `cumulative`, then follow the stream to its end."""
    challenge, _ = payer.challenge("/stream")
    signed = payer.voucher(cumulative)
    auth = format_authorization(Credential(challenge, payer.voucher_payload(signed)))
    watermark = cumulative
    log = StreamLog()
    with (
        httpx.Client(timeout=httpx.Timeout(60, read=None)) as http,
        connect_sse(
            http,
            "GET",
            f"{payer.server.url}/stream?chunks={chunks}",
            headers={"Authorization": auth, **(headers or {})},
        ) as source,
    ):
        log.status = source.response.status_code
        if log.status != 200:
            source.response.read()
            log.body = source.response.text
            return log
        for sse in source.iter_sse():
            event = classify_event(sse.event if sse.event != "message" else None, sse.data)
            if event.kind == "message":
                log.data.append(data_value(event.data))
            elif event.kind == "metering":
                directive = event.directive
                log.directives.append(directive)
                if commit:
                    watermark = _commit(payer, http, directive, watermark, log)
            elif event.kind == "usage":
                log.usage.append(event.usage)
            elif event.kind == "done":
                log.done = True
            elif event.event == "mpp.payment-required":
                pause = json.loads(event.data)
                log.payment_required.append(pause)
                if on_pause is not None:
                    on_pause(pause)
            elif event.event == "mpp.receipt":
                log.receipt = json.loads(event.data)
    payer.last_voucher = payer.last_voucher if watermark == cumulative else payer.voucher(watermark)
    return log


def _commit(payer: Payer, http: httpx.Client, directive: Any, watermark: int, log: StreamLog) -> int:
    signed = payer.voucher(watermark + directive.amount)
    answer = http.post(
        str(directive.commit_url), json={"deliveryId": directive.delivery_id, "voucher": signed.to_json()}
    )
    assert answer.status_code == 200, answer.text
    log.commits.append(parse_commit_receipt(answer.json()))
    return watermark + directive.amount


def reserve(payer: Payer, amount: int, delivery_id: str, *, key: Any = None,
            expires_at: int | None = None) -> httpx.Response:
    """POST a side-channel reservation with the voucher signer's proof (or `key`'s)."""
    import dataclasses
    import time

    from mppcli.protocol.metering import DeliveryRequest, sign_reservation

    request = DeliveryRequest(str(payer.channel_id), amount, delivery_id,
                              expires_at=expires_at or int(time.time()) + 60)
    proof = sign_reservation(key or payer.signer, request)
    body = dataclasses.replace(request, proof=proof).to_json()
    return httpx.post(payer.server.url + "/__402/session/deliveries", json=body)
