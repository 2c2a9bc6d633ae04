"""The live spend meter never shares a terminal line with data (#14 item 2).

On a terminal stdout and stderr land on one screen: this feeds the meter the events of a stream
and its data lines, with both streams written into one buffer (as a terminal shows them), then
replays the buffer as a terminal would (`\\r` returns to the start of the line, `ESC[2K` erases
it) and checks that every data line stands alone. The meter's throttle is disabled so it redraws
on every event: the worst case."""

from __future__ import annotations

import io
import json
from pathlib import Path

from mppcli.cli.env import Env
from mppcli.cli.paying import SpendMeter
from mppcli.client.events import Event
from mppcli.paths import resolve_paths


def screen(raw: str) -> list[str]:
    """The lines a terminal shows for `raw` (only CR, LF and erase-line are interpreted)."""
    lines, current = [], ""
    i = 0
    while i < len(raw):
        if raw.startswith("\x1b[2K", i):
            current, i = "", i + 4
            continue
        char = raw[i]
        if char == "\n":
            lines.append(current)
            current = ""
        elif char == "\r":
            current = ""  # the next characters overwrite from column 0 (the line was just erased)
        else:
            current += char
        i += 1
    return lines + ([current] if current else [])


def test_data_lines_never_share_the_meters_line(tmp_path: Path) -> None:
    terminal = io.StringIO()
    env = Env(paths=resolve_paths({"MPP_HOME": str(tmp_path)}), stdout=terminal, stderr=terminal,
              stderr_is_tty=True)
    data = [json.dumps({"chunk": n}) for n in range(1, 6)]
    with SpendMeter(env, enabled=True) as meter:
        meter.REDRAW_EVERY = 0.0
        for number, text in enumerate(data, start=1):
            meter(Event("data", {"data": {"chunk": number}}))
            meter(Event("voucher", {"cumulative": str(number * 1000), "channelId": "4DR6z2Ly" + "x" * 36}))
            meter.data(text)
    shown = screen(terminal.getvalue())
    assert [line for line in shown if line.startswith("{")] == data, shown
    assert shown[-1].startswith("mpp: 5 data events, 5 vouchers, cumulative 5000"), shown
