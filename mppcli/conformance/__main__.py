"""`python -m mppcli.conformance [--lines]`: read a request on stdin, write the answer on stdout.

Without `--lines` the whole of stdin is one JSON object; with it, each non-empty line is one
request and gets one answer line, in order, flushed as it is written.
"""

from __future__ import annotations

import sys

from mppcli.conformance import load_modes, run_text

USAGE = "usage: python -m mppcli.conformance [--lines] < request.json"


def main(argv: list[str]) -> int:
    if argv not in ([], ["--lines"]):
        print(USAGE, file=sys.stderr)
        return 2
    modes = load_modes()
    out = sys.stdout.buffer
    if not argv:
        out.write(run_text(sys.stdin.buffer.read(), modes).encode("utf-8") + b"\n")
        out.flush()
        return 0
    for line in sys.stdin.buffer:
        if line.strip():
            out.write(run_text(line, modes).encode("utf-8") + b"\n")
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
