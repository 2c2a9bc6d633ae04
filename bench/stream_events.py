"""Billed SSE events per second through `mpp stream` against default `mpp serve`, next to the same
frames unmetered, and 20 metered streams at once.

    python bench/stream_events.py [--chunks 100000] [--runs 3] [--concurrent 20]
                                  [--concurrent-chunks 10000] [--gateway-events 20000]
                                  [--serve-arg=--stream-credit=64x] [--json]

Metered: `mpp serve --ephemeral --db FILE` (a durable store) with its default stream settings
(credit window, batching) serves `/stream?chunks=N`; `mpp stream` pays chunk 1 with the request and
every batch after it with pipelined, coalesced commits (each voucher recorded, fsync'd, before it
leaves). Unmetered: a plain Starlette SSE endpoint on loopback sends the same N data frames and
`[DONE]`, and `mpp stream` reads it as a free stream. Both are timed as the real command (a
subprocess), with the same N, alternating metered and unmetered runs so machine load hits both
alike; each is also timed at 1 chunk, and the rate is (N - 1) / (t_N - t_1), which removes start-up,
the 402 round trip and the RPC checks. The ratio billed / unmetered is the figure to watch (target
>= 0.5). The unmetered server writes one event per write, as a plain SSE server does (the baseline
the issue defines); it is also timed writing the same batches of events per write as `mpp serve`
writes its metered chunks (the client then parses several times faster), with that ratio too: the
first says what metering costs against a plain SSE source, the second against the client's own
parsing speed. 100,000 chunks by default: at 20,000 the timed difference is a few tenths of a second and
the ratio moved by +-0.07 between identical runs on a 2-CPU machine.

Concurrent: `--concurrent` payers (one channel each, opened beforehand) run `mpp stream` on
`--concurrent-chunks` chunks at the same time; reported: total billed events/s over the wall time
(process start-up included, so a lower bound: 10,000 chunks each by default, because twenty
start-ups of half a CPU-second each dominated 2,000), and each stream's completion (a stream that
did not get all its chunks, or took far longer than the others, starved).

Gateway: a seller's own SSE API behind `mpp serve --upstream` on a per-event route: the test
upstream (tests/server/upstream_app.py, which writes each event as its own HTTP chunk) sends
`--gateway-events` events, timed through the gateway (billed per event) and read from the upstream
directly (free), alternating, with the same start-up subtraction.
The payers use keypair files and sign with them (`--signer payer`): no OS keyring is needed.
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
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.support import PayerHome, file_payer  # noqa: E402
from tests.server.harness import ServerProcess  # noqa: E402


def stream_command(payer: PayerHome, url: str, metered: bool) -> tuple[list[str], dict[str, str]]:
    args = ["--json", "stream", url, "--yes", "--max-spend", "1000"]
    full = payer.args(*args, "--signer", "payer") if metered else tuple(args)
    return [sys.executable, "-m", "mppcli", *full], {**os.environ, "MPP_HOME": str(payer.home)}


def run_stream(payer: PayerHome, url: str, metered: bool) -> float:
    command, env = stream_command(payer, url, metered)
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, timeout=900)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        output = f"{proc.stdout.decode()} {proc.stderr.decode()}"
        raise SystemExit(f"mpp stream failed ({proc.returncode}): {output}")
    return took


def with_chunks(base: str, chunks: int) -> str:
    return f"{base}{'&' if '?' in base else '?'}chunks={chunks}"


def rates(payer: PayerHome, metered_url: str, plain_url: str, chunks: int, runs: int) -> dict[str, Any]:
    """Alternate metered and unmetered runs at 1 and N chunks; rates from the medians. Unmetered
    twice: one write per event (a plain SSE server; the baseline the issue defines), and in
    writes of `BATCH_CHUNKS` events, as `mpp serve` writes its metered chunks."""
    from mppcli.server.metering import BATCH_CHUNKS

    sources = {"metered": (True, metered_url), "unmetered": (False, plain_url),
               "unmeteredBatched": (False, f"{plain_url}?batch={BATCH_CHUNKS}")}
    times: dict[tuple[str, int], list[float]] = {}
    for _ in range(runs):
        for name, (metered, base) in sources.items():
            for n in (1, chunks):
                times.setdefault((name, n), []).append(run_stream(payer, with_chunks(base, n), metered))

    def rate(name: str) -> dict[str, float]:
        t1, tn = statistics.median(times[(name, 1)]), statistics.median(times[(name, chunks)])
        return {"chunks": chunks, "secondsOne": round(t1, 3), "secondsN": round(tn, 3),
                "eventsPerSecond": round((chunks - 1) / max(tn - t1, 1e-9), 1)}

    result: dict[str, Any] = {name: rate(name) for name in sources}
    billed = result["metered"]["eventsPerSecond"]
    result["ratio"] = round(billed / result["unmetered"]["eventsPerSecond"], 3)
    result["ratioBatched"] = round(billed / result["unmeteredBatched"]["eventsPerSecond"], 3)
    return result


def concurrent(served: ServerProcess, home: Path, count: int, chunks: int) -> dict[str, Any]:
    """`count` payers, one channel each, streaming at once."""
    url = f"{served.url}/stream"
    payers = [file_payer(home / f"c{i}", served.chain, tokens=1_000_000_000) for i in range(count)]
    for payer in payers:  # open each payer's channel first: the concurrent runs only stream
        run_stream(payer, with_chunks(url, 1), True)
    started = time.perf_counter()
    procs = []
    for payer in payers:
        command, env = stream_command(payer, with_chunks(url, chunks), True)
        procs.append((time.perf_counter(), subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                                            stderr=subprocess.PIPE)))
    streams = []
    for launched, proc in procs:
        out, err = proc.communicate(timeout=1800)
        done = time.perf_counter()
        result = json.loads(out) if proc.returncode == 0 else {"error": err.decode()[-300:]}
        streams.append({"exit": proc.returncode, "dataEvents": result.get("dataEvents"),
                        "seconds": round(done - launched, 2)})
    wall = time.perf_counter() - started
    billed = sum((s["dataEvents"] or 1) - 1 for s in streams)
    seconds = [s["seconds"] for s in streams]
    return {"streams": count, "chunksEach": chunks, "wallSeconds": round(wall, 2),
            "billedEventsPerSecond": round(billed / wall, 1),
            "allComplete": all(s["exit"] == 0 and s["dataEvents"] == chunks for s in streams),
            "slowestSeconds": max(seconds), "fastestSeconds": min(seconds),
            "perStream": streams}


def gateway_rates(home: Path, events: int, runs: int) -> dict[str, Any]:
    """Billed events/s through a per-event gateway route against the same upstream read directly."""
    from tests.server.upstream_app import running_upstream

    with running_upstream() as upstream:
        gateway = ServerProcess.start(home / "gateway", "--ephemeral", "--db", str(home / "gateway.db"),
                                      "--suggested-deposit", "100", "--min-deposit", "1",
                                      "--upstream", upstream, "--route", "GET /v1/events=0.000001/event")
        try:
            payer = file_payer(home / "gateway-payer", gateway.chain, tokens=1_000_000_000)
            times: dict[tuple[str, int], list[float]] = {}
            for _ in range(runs):
                for name, base, metered in (("billed", gateway.url, True), ("direct", upstream, False)):
                    for n in (1, events):
                        url = f"{base}/v1/events?n={n}"
                        times.setdefault((name, n), []).append(run_stream(payer, url, metered))
        finally:
            gateway.stop()
    rate = {name: round((events - 1) / max(statistics.median(times[(name, events)])
                                           - statistics.median(times[(name, 1)]), 1e-9), 1)
            for name in ("billed", "direct")}
    return {"events": events, "billedEventsPerSecond": rate["billed"],
            "directEventsPerSecond": rate["direct"], "ratio": round(rate["billed"] / rate["direct"], 3)}


def unmetered_server(chunks_cap: int = 1_000_000) -> tuple[str, Any]:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    from mppcli.protocol.metering import data_frame, done_frame
    from mppcli.server.metering import chunk_payload

    async def stream(request: Request) -> StreamingResponse:
        total = min(int(request.query_params.get("chunks", "10")), chunks_cap)
        batch = max(1, int(request.query_params.get("batch", "1")))  # events per write

        async def frames():  # type: ignore[no-untyped-def]
            for first in range(1, total + 1, batch):
                last = min(first + batch, total + 1)
                yield "".join(data_frame(chunk_payload(index, total)) for index in range(first, last))
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
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--concurrent-chunks", type=int, default=10_000)
    parser.add_argument("--gateway-events", type=int, default=20_000, help="0 skips the gateway figures")
    parser.add_argument("--serve-arg", action="append", default=[], help="extra `mpp serve` argument")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # A throwaway chain, but a real database file: `spent` is made durable (fsync'd, group
        # commit) before each batch leaves, as with a default `mpp serve`.
        served = ServerProcess.start(Path(tmp) / "serve", "--ephemeral", "--db", str(Path(tmp) / "server.db"),
                                     "--suggested-deposit", "100", "--min-deposit", "1", *options.serve_arg)
        plain_url, plain_server = unmetered_server()
        try:
            payer = file_payer(Path(tmp) / "payer", served.chain, tokens=1_000_000_000)
            result = rates(payer, f"{served.url}/stream", plain_url, options.chunks, options.runs)
            if options.concurrent:
                result["concurrent"] = concurrent(served, Path(tmp), options.concurrent,
                                                  options.concurrent_chunks)
            if options.gateway_events:
                result["gateway"] = gateway_rates(Path(tmp), options.gateway_events, options.runs)
        finally:
            served.stop()
            plain_server.should_exit = True
    result["cpus"] = os.cpu_count()
    if options.json:
        print(json.dumps(result))
        return
    billed, plain, batched = result["metered"], result["unmetered"], result["unmeteredBatched"]
    print(f"mpp stream, {options.chunks} chunks, median of {options.runs} alternating runs "
          f"(start-up subtracted), {os.cpu_count()} CPUs:")
    print(f"  billed (default mpp serve):                  {billed['eventsPerSecond']:>10} events/s")
    print(f"  unmetered (plain SSE, one write per event):  {plain['eventsPerSecond']:>10} events/s")
    print(f"  ratio billed / unmetered:                    {result['ratio']:>10}")
    print(f"  unmetered, written in batches as mpp serve:  {batched['eventsPerSecond']:>10} events/s")
    print(f"  ratio billed / unmetered batched:            {result['ratioBatched']:>10}")
    if "concurrent" in result:
        c = result["concurrent"]
        print(f"  {c['streams']} concurrent metered streams x {c['chunksEach']} chunks: "
              f"{c['billedEventsPerSecond']} billed events/s in total (wall {c['wallSeconds']} s, start-up "
              f"included); all complete: {c['allComplete']}; per stream {c['fastestSeconds']}-"
              f"{c['slowestSeconds']} s")
    if "gateway" in result:
        g = result["gateway"]
        print(f"  gateway, per-event route, {g['events']} upstream events: billed "
              f"{g['billedEventsPerSecond']} events/s, the upstream read directly "
              f"{g['directEventsPerSecond']} events/s, ratio {g['ratio']}")


if __name__ == "__main__":
    main()
