"""`mpp stream`: consume a metered SSE stream, paying as the server meters.

The request itself is paid like any paid request (a voucher for the price: the first unit); every
further unit arrives as data plus an `mpp.metering` directive that `Meter` commits. A connection
that drops before the end (`[DONE]`) is retried with the same channel, up to `--retries` times: the
watermarks in the record say exactly what was paid, so a retry never pays twice for a commit.
The transport has no read timeout (a quiet stream is not a dead one; NOTES: httpx-sse), but no
stream waits forever: `read_timeout` seconds without a data or metering event (keep-alive comments
and a byte-by-byte trickle make no progress) end it with `StreamTimeout` (exit 3, not retried:
the server is alive but not delivering), the record saved and the channel lock released.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mppcli.client.answer import Answer
from mppcli.client.challenge import offer_of
from mppcli.client.context import Client, PayOptions, budget_for
from mppcli.client.credentials import Sender
from mppcli.client.http import RequestSpec, collect_headers
from mppcli.client.meter import Meter
from mppcli.client.request import pay
from mppcli.client.resolve import channel_for, retire_if_gone
from mppcli.errors import NetworkError, PaymentRejected, ProtocolViolation, channel_context
from mppcli.protocol.metering import (
    EVENT_PAYMENT_REQUIRED,
    METERING_NAMES,
    USAGE_NAMES,
    is_data_event,
)

if TYPE_CHECKING:
    import httpx

    from mppcli.client import machine as m

BACKOFF_SECONDS = 0.5
PROGRESS_EVENTS = frozenset((*METERING_NAMES, *USAGE_NAMES, EVENT_PAYMENT_REQUIRED))
YIELD_EVERY = 16  # data frames read between turns given to a commit on its way (a read of 64 KiB
# holds ~800 frames, which the reader would otherwise parse before the commit's answer is looked at)
READ_TIMEOUT = 60.0  # seconds without a data or metering event before a stream is given up


@dataclass(frozen=True)
class StreamResult:
    channel_id: str | None
    events: int
    data_events: int
    cumulative: int
    spent: int
    retries: int
    ended: str

    def to_json(self) -> dict[str, Any]:
        return {"channelId": self.channel_id, "events": self.events, "dataEvents": self.data_events,
                "cumulative": str(self.cumulative), "spent": str(self.spent), "retries": self.retries,
                "ended": self.ended}


class Dropped(NetworkError):
    """The stream ended before its `[DONE]`."""


class StreamTimeout(NetworkError):
    """No data or metering event for `--read-timeout` seconds."""

    default_hint = ("The server answered but stopped delivering; what arrived is paid and saved. "
                    "Retry later, or raise --read-timeout for a server that is slow to start.")


@dataclass
class _Watchdog:
    """Cancels the reading task when no progress came for `seconds` (clock injectable)."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    last: float = 0.0
    fired: bool = False
    busy: bool = False  # this client is acting (paying, topping up): not the server's silence

    def progress(self) -> None:
        self.last = self.clock()

    async def guard(self, reader: asyncio.Task[Any]) -> None:
        self.progress()
        while True:
            idle = self.clock() - self.last
            if self.busy:
                idle = 0.0
            elif idle >= self.seconds:
                self.fired = True
                reader.cancel()
                return
            await asyncio.sleep(self.seconds - idle)


@dataclass
class _Progress:
    budget: m.Budget | None = None
    events: int = 0
    data_events: int = 0
    channel_id: str | None = None
    ended: str = "complete"
    watchdog: _Watchdog = field(default_factory=lambda: _Watchdog(READ_TIMEOUT))


async def stream(client: Client, spec: RequestSpec, options: PayOptions,
                 on_data: Callable[[str], None], read_timeout: float = READ_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic) -> StreamResult:
    """Consume `spec` as a metered stream; `on_data` receives each application data frame."""
    spec = spec.with_header("Accept", "text/event-stream")
    progress = _Progress(watchdog=_Watchdog(read_timeout, clock))
    retries = 0
    while True:
        try:
            await _attempt(client, spec, options, on_data, progress)
            if progress.ended != "replayed" or retries >= options.retries:
                break
            retries += 1  # the server took our voucher as a replay and sent nothing: pay afresh
            client.emit("retry", attempt=retries, reason="replayed", channelId=progress.channel_id)
        except NetworkError as exc:
            if retries >= options.retries or isinstance(exc, StreamTimeout):
                raise
            retries += 1
            client.emit("retry", attempt=retries, reason=exc.message, channelId=progress.channel_id)
            await asyncio.sleep(BACKOFF_SECONDS * retries)
    return _result(client, progress, retries)


def _result(client: Client, progress: _Progress, retries: int) -> StreamResult:
    cumulative = spent = 0
    if progress.channel_id is not None:
        record = client.store.get(progress.channel_id)
        cumulative, spent = record.cumulative, record.spent
    return StreamResult(progress.channel_id, progress.events, progress.data_events, cumulative, spent,
                        retries, progress.ended)


async def _attempt(client: Client, spec: RequestSpec, options: PayOptions, on_data: Callable[[str], None],
                   progress: _Progress) -> None:
    async with contextlib.AsyncExitStack() as stack:
        probe, response = await _open(client, spec, stack)
        if response is not None:  # not a paid resource: an unmetered stream
            await _consume(response, None, on_data, progress)
            return
        offer = offer_of(probe)
        budget = progress.budget or budget_for(options, offer.details.decimals or 0)
        record, budget = await channel_for(client, spec, offer, options, budget)
        progress.channel_id = record.channel_id
        with channel_context(record.channel_id), client.store.lock(record.channel_id, purpose="streaming"):
            if record.opening_challenge_id == offer.challenge.id:
                offer = offer_of((await _open(client, spec, stack))[0])
            opened: list[httpx.Response] = []
            try:
                paid = await pay(client, spec, offer, record, options, budget, _sender(client, stack, opened))
            except PaymentRejected:
                if options.channel == "auto" and await retire_if_gone(client, record):
                    raise Dropped(f"channel {record.channel_id} was closed by the server") from None
                raise
            if paid.answer.status >= 300 or not opened:
                raise PaymentRejected(f"the stream answered {paid.answer.status} after payment")
            meter = Meter(client, spec, offer, record.channel_id, options, paid.budget,
                          start_accepted=paid.record.accepted_cumulative)
            try:
                await _consume(opened[0], meter, on_data, progress)
            finally:
                await meter.abandon()
                progress.budget = meter.budget
                meter.flush()


async def _open(client: Client, spec: RequestSpec, stack: contextlib.AsyncExitStack
                ) -> tuple[Answer, httpx.Response | None]:
    """Probe without payment: a 402 (buffered) or an open free stream."""
    response = await stack.enter_async_context(client.http.stream(spec, read_timeout=None))
    if response.status_code == 402:
        body = await response.aread()
        return Answer(402, collect_headers(response), body), None
    if response.status_code >= 300:
        body = await response.aread()
        raise PaymentRejected(f"{spec.url} answered {response.status_code}: {body[:200]!r}")
    return Answer(response.status_code, collect_headers(response)), response


def _sender(client: Client, stack: contextlib.AsyncExitStack, opened: list[httpx.Response]) -> Sender:
    """A credential sender that keeps a successful response open for streaming."""
    async def send(request: RequestSpec) -> Answer:
        response = await stack.enter_async_context(client.http.stream(request, read_timeout=None))
        headers = collect_headers(response)
        if not 200 <= response.status_code < 300:
            body = await response.aread()
            return Answer(response.status_code, headers, body)
        opened[:] = [response]
        return Answer(response.status_code, headers)

    return send


async def _consume(response: httpx.Response, meter: Meter | None, on_data: Callable[[str], None],
                   progress: _Progress) -> None:
    """Read SSE frames to the end under the watchdog; an end without `[DONE]` is a dropped
    connection."""
    if "text/event-stream" not in response.headers.get("content-type", ""):
        # not a stream after all (e.g. `mpp stream` on a plain paid URL): deliver what was paid for
        body = await response.aread()
        if body:
            progress.data_events += 1
            on_data(body.decode("utf-8", "replace").removesuffix("\n"))
        progress.ended = "not-an-event-stream"
        return
    watchdog = progress.watchdog
    reader = asyncio.current_task()
    assert reader is not None
    guard = asyncio.create_task(watchdog.guard(reader))
    try:
        await _read(response, meter, on_data, progress)
    except asyncio.CancelledError:
        if not watchdog.fired:
            raise
        reader.uncancel()
        raise StreamTimeout(f"no data or metering event for {watchdog.seconds:g} s (--read-timeout)",
                            channel_id=progress.channel_id) from None
    finally:
        guard.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await guard


async def _read(response: httpx.Response, meter: Meter | None, on_data: Callable[[str], None],
                progress: _Progress) -> None:
    from httpx_sse import EventSource, SSEError

    done = False
    watchdog = progress.watchdog
    try:
        async for sse in EventSource(response).aiter_sse():
            progress.events += 1
            if meter is None:
                if is_data_event(sse.event, sse.data):
                    watchdog.progress()
                done = _free_frame(sse.event, sse.data, on_data, progress) or done
                continue
            name = None if sse.event == "message" else sse.event
            if meter.take_data(name, sse.data):
                watchdog.progress()
                progress.data_events += 1
                on_data(sse.data)
                if meter.committing and progress.data_events % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                continue
            watchdog.busy = sse.event == EVENT_PAYMENT_REQUIRED  # a pause may mean a top-up
            text = await meter.handle(name, sse.data)
            watchdog.busy = False
            if text is not None or sse.event in PROGRESS_EVENTS:
                watchdog.progress()
            if text is not None:
                progress.data_events += 1
                on_data(text)
            if meter.done:
                done = True
                progress.ended = meter.ended or "complete"
                break
    except SSEError as exc:
        raise ProtocolViolation(f"the server's stream is not an event stream: {exc}") from None
    if not done and meter is not None:
        await meter.finish()  # pay for what did arrive under a held reservation
        raise Dropped("the stream ended before [DONE]")


def _free_frame(event: str, data: str, on_data: Callable[[str], None], progress: _Progress) -> bool:
    if data.strip() == "[DONE]" or event == "done":
        return True
    if is_data_event(event, data):
        progress.data_events += 1
        on_data(data)
    return False

