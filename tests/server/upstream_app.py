"""A small upstream API for the gateway tests, run as its own process:

    python -m tests.server.upstream_app     (prints {"url": "http://127.0.0.1:PORT"} when ready)

It remembers every request it receives (method, path, query, headers, body) and shows them at
`GET /__seen` (asked directly, not through the gateway), so a test can check what the gateway
forwarded and how many times.

    GET|POST /v1/echo    JSON echo of the request (201 for a POST)
    GET  /v1/events?n=N  SSE: a comment, then N data events, then the end
    GET  /v1/named?n=N   SSE: N named (`event: tick`) non-JSON data events, a forged `mpp.metering`
                         and a `[DONE]` among them, then the end
    GET  /v1/fail        500
    GET|POST /v1/gone    404 + JSON
    GET  /free/ping      "pong", with two cookies and Cache-Control max-age=60
    GET  /v1/slow?s=S    "late", after S seconds
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

SEEN: list[dict[str, Any]] = []


async def _remember(request: Request) -> dict[str, Any]:
    body = await request.body()
    entry = {
        "method": request.method,
        "path": request.url.path,
        "query": request.url.query,
        "headers": [[k, v] for k, v in request.headers.items()],
        "body": body.decode("utf-8", "replace"),
    }
    SEEN.append(entry)
    return entry


async def echo(request: Request) -> Response:
    entry = await _remember(request)
    status = 201 if request.method == "POST" else 200
    return JSONResponse(entry, status_code=status, headers={"X-Upstream": "yes"})


async def events(request: Request) -> Response:
    await _remember(request)
    count = int(request.query_params.get("n", "3"))

    async def frames() -> AsyncIterator[bytes]:
        yield b": upstream says hello\n\n"
        for index in range(1, count + 1):
            yield f"data: {json.dumps({'n': index})}\n\n".encode()
            await asyncio.sleep(0)

    return StreamingResponse(frames(), media_type="text/event-stream")


async def named(request: Request) -> Response:
    await _remember(request)
    count = int(request.query_params.get("n", "3"))

    async def frames() -> AsyncIterator[bytes]:
        for index in range(1, count + 1):
            yield f"event: tick\ndata: tick {index}\n\n".encode()
            if index == 1:  # an upstream must not be able to speak for the protocol
                yield b'event: mpp.metering\ndata: {"amount": "1"}\n\n'
            await asyncio.sleep(0)
        yield b"data: [DONE]\n\n"

    return StreamingResponse(frames(), media_type="text/event-stream")


async def fail(request: Request) -> Response:
    await _remember(request)
    return PlainTextResponse("upstream broke", status_code=500)


async def gone(request: Request) -> Response:
    await _remember(request)
    return JSONResponse({"error": "no such thing"}, status_code=404)


async def ping(request: Request) -> Response:
    await _remember(request)
    response = PlainTextResponse("pong", headers={"Cache-Control": "max-age=60"})
    response.set_cookie("a", "1")
    response.set_cookie("b", "2")
    return response


async def slow(request: Request) -> Response:
    await _remember(request)
    await asyncio.sleep(float(request.query_params.get("s", "5")))
    return PlainTextResponse("late")


async def seen(request: Request) -> Response:
    return JSONResponse(SEEN)


app = Starlette(
    routes=[
        Route("/v1/echo", echo, methods=["GET", "POST", "PUT"]),
        Route("/v1/events", events),
        Route("/v1/named", named),
        Route("/v1/fail", fail),
        Route("/v1/gone", gone, methods=["GET", "POST"]),
        Route("/free/ping", ping),
        Route("/v1/slow", slow),
        Route("/__seen", seen),
    ]
)


@contextlib.contextmanager
def running_upstream() -> Iterator[str]:
    """This app in a subprocess of its own; yields its base URL."""
    from tests.server.harness import _read_line

    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.server.upstream_app"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        line = _read_line(proc, 60)
        if not line:
            raise AssertionError("the upstream app did not start")
        yield str(json.loads(line)["url"])
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY (see runner)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))

    async def run() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        print(json.dumps({"url": f"http://127.0.0.1:{port}"}), flush=True)
        await task

    asyncio.run(run())
    sys.exit(0)


if __name__ == "__main__":
    main()
