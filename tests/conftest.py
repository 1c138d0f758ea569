"""Shared fixtures: real `ems sim` and `ems serve` processes on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests import harness
from tests.harness import API_KEY, Api, Process
from tests.security.leaks import find_leaks, log_files

_LOG_ROOTS: list[Path] = []
"""Folders whose *.log files the end-of-run secrets check reads (the run's temp folder)."""


@pytest.fixture(scope="session", autouse=True)
def _log_root(tmp_path_factory: pytest.TempPathFactory) -> None:
    _LOG_ROOTS.append(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one folder server and simulator logs go to (in sub-folders per test where a
    test starts its own servers)."""
    return tmp_path_factory.mktemp("logs")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After every server has stopped: no secret the run used is in any log it wrote."""
    logs = log_files(_LOG_ROOTS, harness.LOG_FILES)
    if not logs:
        return
    leaks = find_leaks(logs, harness.SECRETS)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"secrets check: {len(harness.SECRETS)} secrets, {len(logs)} log files, "
            f"{len(leaks)} leaks"
        )
        for leak in leaks:
            reporter.write_line(f"SECRET IN LOG: {leak}", red=True)
    if leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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
