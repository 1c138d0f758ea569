"""Shared fixtures: real `ems sim` and `ems serve` processes on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.harness import API_KEY, Api, Process


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def sim(logs_dir: Path) -> Iterator[dict[str, Any]]:
    """`ems sim --port 0`: URLs per exchange and the test accounts."""
    process = Process(["sim", "--port", "0"], logs_dir / "sim.log")
    yield process.info
    process.stop()


@pytest.fixture(scope="session")
def ems_server(logs_dir: Path) -> Iterator[Process]:
    process = Process(
        [
            "serve",
            "--key",
            API_KEY,
            "--port",
            "0",
            "--promPort",
            "0",
            "--journal",
            str(logs_dir / "journal.db"),
            "--secrets-key",
            "e2e-secrets-key",
        ],
        logs_dir / "ems.log",
    )
    yield process
    process.stop()


@pytest.fixture(scope="session")
def api(ems_server: Process) -> Api:
    return Api(ems_server.info["url"], API_KEY)
