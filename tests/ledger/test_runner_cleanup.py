"""A ledger that fails to start gives its directory back: a busy port must not leave it locked.

The caller keeps the exception (and so its traceback's frames) alive, as an error handler or a
retry loop does: the lock must be released by the runner, not by garbage collection.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mppcli.errors import BusyError, InputError
from mppcli.ledger.runner import serve_foreground, start_ledger


def _listening() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


@pytest.mark.parametrize("start", ["background", "foreground"])
def test_a_busy_port_releases_the_directory_lock(tmp_path: Path, start: str) -> None:
    directory = tmp_path / "chain"
    taken = _listening()
    try:
        port = taken.getsockname()[1]
        with pytest.raises(InputError, match=f"cannot listen on 127.0.0.1:{port}") as failed:
            if start == "background":
                start_ledger(directory, port)
            else:
                serve_foreground(directory, port)
    finally:
        taken.close()
    with start_ledger(directory, 0) as running:  # the same process may lock it again
        assert running.rpc_url.startswith("http://127.0.0.1:")
        with pytest.raises(BusyError):  # and the lock still works while a ledger runs
            start_ledger(directory, 0)
    assert failed.value.__traceback__ is not None
