"""Start-up time of `mpp`: the median of several runs, next to bare Python and `import typer`.

    python bench/startup.py [--runs 15] [--json] [--check]

Each command runs once to warm the file cache, then `--runs` times; the median wall time and the
median CPU time (user + system, from getrusage) are reported. On a shared machine the CPU time is
the steadier figure; the targets apply to wall time. `--check` exits 1 when `mpp --help` or
`mpp --version` is over its target. Run it with the interpreter mppcli is installed in.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"mpp --help": 0.200, "mpp --version": 0.060}


def mpp_command() -> list[str]:
    """The installed console script next to this interpreter, as a user runs it, else `-m mppcli`."""
    script = Path(sys.executable).with_name("mpp")
    if script.exists():
        return [str(script)]
    found = shutil.which("mpp")
    return [found] if found else [sys.executable, "-m", "mppcli"]


def commands() -> dict[str, list[str]]:
    mpp = mpp_command()
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import typer'": [sys.executable, "-c", "import typer"],
        "mpp --version": [*mpp, "--version"],
        "mpp --help": [*mpp, "--help"],
        # No targets for these two: they show what a group's help and a light command cost (Typer
        # coerces non-flag options through pydantic, imported on first use).
        "mpp config --help": [*mpp, "config", "--help"],
        "mpp config get output": [*mpp, "config", "get", "output"],
    }


def median_seconds(argv: list[str], runs: int, home: str) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds) of `runs` runs after one warm-up run."""
    env = {**os.environ, "NO_COLOR": "1", "MPP_HOME": home}
    walls, cpus = [], []
    for index in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if index:  # the first run only warms the cache
            walls.append(wall)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:  # a throwaway MPP_HOME: no user config is read
        results = {name: median_seconds(argv, args.runs, home) for name, argv in commands().items()}
    missed = [name for name, limit in TARGETS.items() if results[name][0] > limit]
    if args.json:
        print(json.dumps({"runs": args.runs, "targets": TARGETS, "missed": missed,
                          "medianWallSeconds": {name: wall for name, (wall, _) in results.items()},
                          "medianCpuSeconds": {name: cpu for name, (_, cpu) in results.items()}}))
    else:
        print(f"median of {args.runs} runs ({sys.executable}); load average {os.getloadavg()[0]:.2f}")
        print(f"  {'':<26} {'wall':>7} {'cpu':>7}")
        for name, (wall, cpu) in results.items():
            target = f"  (target <= {TARGETS[name]:.3f} s wall)" if name in TARGETS else ""
            print(f"  {name:<26} {wall:.3f} s {cpu:.3f} s{target}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
