"""Crash-safe file writes: a reader sees the old file or the new one, never a torn mix.

The sequence is the classic one (click's `open_stream(atomic=True)` without its gaps): a temp file
created with O_EXCL in the target's directory, written and fsynced, `os.replace`d over the target,
then the directory fsynced so the rename itself survives a power cut. Any failure removes the temp.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from pathlib import Path

TEMP_MARKER = ".tmp-"


def temp_name(target: Path) -> Path:
    """A fresh hidden name next to `target` that says which process wrote it."""
    return target.with_name(f".{target.name}{TEMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}")


def atomic_write(target: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `target` with `data` atomically; the file gets `mode` (default 0600)."""
    tmp = temp_name(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        try:
            os.fchmod(fd, mode)  # the umask may have narrowed or widened what O_CREAT set
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(target.parent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink inside `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_orphan_temps(directory: Path) -> list[Path]:
    """Delete temp files left by writers on this host that died mid-write; return what went."""
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    for path in directory.iterdir():
        pid = _writer_pid(path.name)
        if pid is not None and not pid_alive(pid):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


def _writer_pid(name: str) -> int | None:
    if not name.startswith(".") or TEMP_MARKER not in name:
        return None
    tail = name.rsplit(TEMP_MARKER, 1)[1]
    pid_text = tail.split("-", 1)[0]
    return int(pid_text) if pid_text.isdigit() else None


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists on this host (EPERM still means it exists)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def hostname() -> str:
    return socket.gethostname()
