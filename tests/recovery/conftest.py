"""Fixtures for crash tests: an `ems serve` that the test itself kills and restarts."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.harness import Api, Process

SECRETS_KEY = "recovery-" + uuid.uuid4().hex


class Ems:
    """One journal, many lives: start, kill -9, start again."""

    def __init__(
        self,
        tmp: Path,
        secrets_key: str | None = SECRETS_KEY,
        env: dict[str, str] | None = None,
        logs: Path | None = None,
    ) -> None:
        self.journal = tmp / "journal.db"
        self.state = tmp
        self.logs = logs or tmp
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = {"EMS_STATE_DIR": str(tmp), **(env or {})}
        self.key = "rec-" + uuid.uuid4().hex
        self.secrets_key = secrets_key
        self.process: Process | None = None
        self.lives = 0
        self.start()

    def start(self) -> None:
        args = [
            "serve",
            "--key",
            self.key,
            "--port",
            "0",
            "--promPort",
            "0",
            "--journal",
            str(self.journal),
        ]
        if self.secrets_key:
            args += ["--secrets-key", self.secrets_key]
        self.lives += 1
        self.process = Process(args, self.logs / f"ems-{self.lives}.log", env=self.env)
        self.api = Api(self.process.info["url"], self.key)

    def kill9(self) -> None:
        assert self.process is not None
        os.kill(self.process.proc.pid, signal.SIGKILL)
        self.process.proc.wait(10)
        self.process.stop()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def journal_rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.journal) as db:
            return db.execute(sql, args).fetchall()

    def wait_session(self, session_id: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code, _ = self.api.get("/orders", sessionId=session_id)
            if code == 200:
                return
            time.sleep(0.05)
        raise AssertionError(f"session {session_id} did not come back")


def lagging_ems(tmp_path: Path, logs_dir: Path, commit_delay_ms: int) -> Ems:
    """An ems whose journal writer commits `commit_delay_ms` late (a wide crash window)."""
    return Ems(
        tmp_path,
        env={"EMS_JOURNAL_COMMIT_DELAY_MS": str(commit_delay_ms)},
        logs=logs_dir / f"recovery-{tmp_path.name}",
    )


@pytest.fixture
def ems(tmp_path: Path, logs_dir: Path) -> Iterator[Ems]:
    instance = Ems(tmp_path, logs=logs_dir / f"recovery-{tmp_path.name}")
    yield instance
    instance.stop()
