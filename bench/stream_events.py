"""Billed SSE events per second through `mpp stream` against `mpp serve`, next to the same stream
unmetered.

    python bench/stream_events.py [--chunks 2000] [--plain-chunks 200000] [--runs 3] [--json]

Metered: `mpp serve --ephemeral` (embedded ledger in its process) serves `/stream?chunks=N`; every
chunk after the first is reserved, sent with its `mpp.metering` directive, and paid by a voucher
that `mpp stream` signs, records (fsync'd) and commits on the side channel before the server sends
the next chunk (the server's default credit of 1). Unmetered: a plain Starlette SSE endpoint on
loopback sends the same N data frames and `[DONE]`, and `mpp stream` reads it as a free stream.

Both are timed as the real command (a subprocess); each run is timed at N chunks and at 1 chunk,
and the rate is (N - 1) / (t_N - t_1), which removes start-up, the 402 round trip and the RPC checks.
The unmetered stream is much faster, so it runs with more chunks (`--plain-chunks`) to be measurable.
The payer uses a keypair file and signs with it (`--signer payer`): no OS keyring is needed.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.support import file_payer  # noqa: E402
from tests.server.harness import ServerProcess  # noqa: E402


def run_stream(payer, url: str, metered: bool) -> float:  # type: ignore[no-untyped-def]
    args = ["--json", "stream", url, "--yes", "--max-spend", "1000"]
    if metered:
        args += ["--signer", "payer"]
    full = payer.args(*args) if metered else tuple(args)
    env = {**os.environ, "MPP_HOME": str(payer.home)}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mppcli", *full], env=env, capture_output=True, timeout=900)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"mpp stream failed ({proc.returncode}): {proc.stdout.decode()} "
                         f"{proc.stderr.decode()}")
    return took


def rate(payer, base: str, chunks: int, runs: int, metered: bool) -> dict[str, float]:  # type: ignore[no-untyped-def]
    sep = "&" if "?" in base else "?"
    one = [run_stream(payer, f"{base}{sep}chunks=1", metered) for _ in range(runs)]
    many = [run_stream(payer, f"{base}{sep}chunks={chunks}", metered) for _ in range(runs)]
    t1, tn = statistics.median(one), statistics.median(many)
    return {"chunks": chunks, "secondsOne": round(t1, 3), "secondsN": round(tn, 3),
            "eventsPerSecond": round((chunks - 1) / (tn - t1), 1)}


def unmetered_server(chunks_cap: int = 1_000_000) -> tuple[str, object]:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    from mppcli.protocol.metering import data_frame, done_frame

    async def stream(request):  # type: ignore[no-untyped-def]
        total = min(int(request.query_params.get("chunks", "10")), chunks_cap)

        async def frames():  # type: ignore[no-untyped-def]
            for index in range(1, total + 1):
                yield data_frame({"chunk": index, "of": total, "text": f"metered chunk {index} of {total}"})
            yield done_frame()

        return StreamingResponse(frames(), media_type="text/event-stream")

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/stream", stream)]), log_level="warning",
                                           lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{sock.getsockname()[1]}/stream", server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--plain-chunks", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        served = ServerProcess.start(Path(tmp) / "serve", "--ephemeral", "--suggested-deposit", "100",
                                     "--min-deposit", "1")
        try:
            payer = file_payer(Path(tmp) / "payer", served.chain, tokens=1_000_000_000)
            metered = rate(payer, f"{served.url}/stream", options.chunks, options.runs, metered=True)
        finally:
            served.stop()
        url, server = unmetered_server()
        try:
            plain = rate(payer, url, options.plain_chunks, options.runs, metered=False)
        finally:
            server.should_exit = True  # type: ignore[attr-defined]
    result = {"metered": metered, "unmetered": plain, "cpus": os.cpu_count()}
    if options.json:
        print(json.dumps(result))
        return
    print(f"mpp stream, median of {options.runs} runs (start-up subtracted), {os.cpu_count()} CPUs:")
    print(f"  billed (mpp serve, one voucher commit per chunk, {options.chunks} chunks): "
          f"{metered['eventsPerSecond']:>9} events/s")
    print(f"  unmetered (plain SSE, same frames, {options.plain_chunks} chunks):        "
          f"{plain['eventsPerSecond']:>9} events/s")


if __name__ == "__main__":
    main()
