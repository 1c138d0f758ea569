"""`--cpus` with two CPUs: the event loop gets the first, ems's other threads the rest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.harness import Process, secret


def _allowed(pid: int, tid: int) -> str:
    for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no Cpus_allowed_list for thread {tid}")


def _thread_name(pid: int, tid: int) -> str:
    return Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_two_cpus_put_the_loop_on_the_first_and_the_journal_writer_on_the_second(
    logs_dir: Path,
):
    first, second = sorted(os.sched_getaffinity(0))[:2]
    server = Process(
        [
            "serve",
            "--key",
            secret("cpus-" + os.urandom(8).hex()),
            "--port",
            "0",
            "--promPort",
            "0",
            "--journal",
            str(logs_dir / "cpus-journal.db"),
            "--cpus",
            f"{first},{second}",
        ],
        logs_dir / "ems-cpus.log",
    )
    try:
        pid = server.proc.pid
        threads = {tid: _thread_name(pid, tid) for tid in map(int, os.listdir(f"/proc/{pid}/task"))}
        assert _allowed(pid, pid) == str(first)  # the main thread runs the event loop
        journal = [tid for tid, name in threads.items() if name.startswith("ems-journal")]
        assert journal, threads
        assert {_allowed(pid, tid) for tid in journal} == {str(second)}
    finally:
        server.stop()
