"""Seeing another process open a file (Linux inotify, through ctypes: no dependency).

Why: a test that must know another process has *reached* a file (e.g. a `--wait` child polling a
lock the test holds) can wait for the kernel's report of its opens instead of sleeping and hoping
it got there. Each open is reported as IN_OPEN; the closes in between (IN_CLOSE_*) keep the kernel
from merging two consecutive opens into one event.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import struct
import time
from collections.abc import Callable
from pathlib import Path

IN_OPEN = 0x20
IN_CLOSE = 0x08 | 0x10  # IN_CLOSE_WRITE | IN_CLOSE_NOWRITE
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then len bytes of name)

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class OpenWatch:
    """Counts the opens of one file (by any process) from the moment it is created."""

    def __init__(self, path: Path) -> None:
        self._fd = _libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if _libc.inotify_add_watch(self._fd, os.fsencode(path), IN_OPEN | IN_CLOSE) < 0:
            errno = ctypes.get_errno()
            os.close(self._fd)
            raise OSError(errno, f"inotify_add_watch {path}")
        self.opens = 0

    def wait_for(self, opens: int, *, timeout: float, unless: Callable[[], bool]) -> bool:
        """Whether `opens` opens were seen before `timeout` seconds, or before `unless()` held."""
        deadline = time.monotonic() + timeout
        while self.opens < opens and not unless():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if select.select([self._fd], [], [], min(left, 0.5))[0]:
                self._read()
        return self.opens >= opens

    def _read(self) -> None:
        data = os.read(self._fd, 64 * 1024)
        offset = 0
        while offset < len(data):
            _, mask, _, length = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size + length
            self.opens += bool(mask & IN_OPEN)

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> OpenWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
