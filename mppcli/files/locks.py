"""Cross-process locks on files: flock for exclusion, a JSON note saying who holds it.

Why flock and a note: the kernel drops an flock when its holder dies, so the lock of a process
that crashed or was killed is reclaimed by the next acquirer at once (logged, naming the dead
holder); the note (pid, hostname, token, purpose, since) lets a busy error name the other process.
A holder unlinks the file while still holding it on release, and every acquirer re-checks after
locking that the path still names the inode it locked, so two processes can never both win. A
held lock is never broken by force: the only way a dead pid's note can sit on a held flock is an fd
inherited by a child, and that child really can still write.

Locks are re-entrant inside one thread of one process (a flow holding a channel's lock may call
`ChannelStore.update`, which takes the same lock); another thread of the same process is busy.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mppcli.errors import BusyError
from mppcli.files.atomic import hostname

log = logging.getLogger(__name__)

POLL_SECONDS = 0.02


@dataclass(frozen=True)
class LockInfo:
    """Who holds a lock; written into the lock file by its holder."""

    pid: int
    hostname: str
    token: str
    purpose: str
    since: float

    def to_json(self) -> dict[str, object]:
        return {"pid": self.pid, "hostname": self.hostname, "token": self.token,
                "purpose": self.purpose, "since": self.since}

    @classmethod
    def from_bytes(cls, raw: bytes) -> LockInfo | None:
        """The note, or None while the holder has not finished writing it."""
        try:
            doc = json.loads(raw)
            return cls(int(doc["pid"]), str(doc["hostname"]), str(doc["token"]),
                       str(doc["purpose"]), float(doc["since"]))
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"mpp process {self.pid} on {self.hostname} ({self.purpose}, since {since})"


@dataclass
class _Held:
    fd: int
    info: LockInfo
    thread: int
    depth: int = 1


_held: dict[str, _Held] = {}
_held_guard = threading.Lock()


@contextlib.contextmanager
def file_lock(path: Path, purpose: str, *, wait: float = 0.0, what: str = "this",
              clock: Callable[[], float] = time.time) -> Iterator[LockInfo]:
    """Hold the lock at `path` for the block; BusyError (naming the holder) after `wait` seconds."""
    key = str(path)
    if _reenter(key):
        try:
            yield _held[key].info
        finally:
            _leave(key)
        return
    held = _acquire(path, purpose, wait, what, clock)
    with _held_guard:
        _held[key] = held
    try:
        yield held.info
    finally:
        _leave(key)


def _reenter(key: str) -> bool:
    with _held_guard:
        held = _held.get(key)
        if held is None or held.thread != threading.get_ident():
            return False
        held.depth += 1
        return True


def _leave(key: str) -> None:
    with _held_guard:
        held = _held[key]
        held.depth -= 1
        if held.depth:
            return
        del _held[key]
    _release(Path(key), held.fd)


def _acquire(path: Path, purpose: str, wait: float, what: str, clock: Callable[[], float]) -> _Held:
    deadline = time.monotonic() + wait
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if _try_flock(fd):
            if _still_linked(fd, path):
                return _take(fd, path, purpose, clock)
            os.close(fd)
            continue
        holder = _read_note(fd)
        os.close(fd)
        if time.monotonic() >= deadline:
            raise _busy(path, holder, what)
        time.sleep(POLL_SECONDS)


def flock_nonblocking(fd: int) -> bool:
    """An exclusive flock on `fd` without waiting: False when another process holds it.

    Also the primitive of the single-holder locks held for a process's life (`mpp serve`'s store,
    the ledger directory); `file_lock` adds the holder note, waiting and re-entrancy on top.
    """
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _try_flock(fd: int) -> bool:
    try:
        return flock_nonblocking(fd)
    except OSError:
        os.close(fd)
        raise


def _still_linked(fd: int, path: Path) -> bool:
    """After locking: is `path` still this inode (not unlinked meanwhile by a releasing holder)?"""
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)


def _write_note(fd: int, info: LockInfo) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info.to_json()).encode(), 0)


def _read_note(fd: int) -> LockInfo | None:
    return LockInfo.from_bytes(os.pread(fd, 4096, 0))


def _take(fd: int, path: Path, purpose: str, clock: Callable[[], float]) -> _Held:
    previous = _read_note(fd)
    if previous is not None:
        log.warning("reclaimed the lock %s left behind by %s, which is gone", path.name,
                    previous.describe())
    info = LockInfo(os.getpid(), hostname(), secrets.token_hex(8), purpose, clock())
    _write_note(fd, info)
    return _Held(fd, info, threading.get_ident())


def _release(path: Path, fd: int) -> None:
    """Unlink while still holding the flock (waiters then retry on a fresh file), then unlock."""
    try:
        if _still_linked(fd, path):
            path.unlink()
    finally:
        os.close(fd)


def _busy(path: Path, holder: LockInfo | None, what: str) -> BusyError:
    who = holder.describe() if holder else "another mpp process (it is still starting)"
    return BusyError(f"{what} is in use by {who}",
                     hint=f"Wait for it to finish, then retry (lock file: {path}).")


def read_holder(path: Path) -> LockInfo | None:
    """The current note of a lock file, for diagnostics (None when free or unreadable)."""
    try:
        return LockInfo.from_bytes(path.read_bytes())
    except OSError:
        return None
