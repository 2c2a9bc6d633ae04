"""Fixtures: one real `mpp serve` (embedded ledger) per test module, and fresh payers on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.harness import ServerProcess
from tests.server.payer import Payer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = ServerProcess.start(tmp_path_factory.mktemp("serve") / "home", "--ephemeral")
    yield running
    running.stop()


@pytest.fixture
def payer(server: ServerProcess) -> Payer:
    return Payer(server)


@pytest.fixture
def opened(payer: Payer) -> Payer:
    response = payer.open()
    assert response.status_code == 200, response.text
    return payer


def start(home: Path, *args: str) -> ServerProcess:
    return ServerProcess.start(home, *args)
