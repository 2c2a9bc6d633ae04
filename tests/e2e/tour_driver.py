"""Runs the README tour's commands in order (argv as a shell would split them) and writes what each
did as JSON. Started by tests/e2e/test_readme_tour.py inside a private network namespace, so the
tour's fixed ports (8402, and 8899 for the ledger) are free whatever else runs on the machine.

    python tour_driver.py COMMANDS.json RESULTS.json
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time

READY_TIMEOUT = 120.0


def main() -> int:
    with open(sys.argv[1]) as handle:
        commands = json.load(handle)
    results_path = sys.argv[2]
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    results: list[dict[str, object]] = []
    server: subprocess.Popen[bytes] | None = None
    try:
        for argv in commands:
            if argv[:2] == ["mpp", "serve"]:
                server = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                line = _ready_line(server)
                results.append({"argv": argv, "code": None if line else server.poll(), "stdout": line,
                                "stderr": "", "background": True})
                if not line:
                    break
                continue
            done = subprocess.run(argv, env=env, capture_output=True, timeout=300, check=False)
            results.append({"argv": argv, "code": done.returncode, "stdout": done.stdout.decode(),
                            "stderr": done.stderr.decode()})
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGINT)
            server.wait(60)
        with open(results_path, "w") as handle:
            json.dump(results, handle)
    return 0


def _ready_line(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        if selector.select(0.2):
            return proc.stdout.readline().decode()
    return ""


if __name__ == "__main__":
    sys.exit(main())
