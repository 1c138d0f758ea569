"""Latency-mode placement: `--cpus` with two CPUs gives the event loop the first and
ems's other threads the rest; `--cpu-latency-us` holds the kernel's CPU latency limit
while ems runs."""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import pytest
from tests.harness import Process, secret

LATENCY_DEVICE = "/dev/cpu_dma_latency"


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


def _latency_limit() -> int:
    """The limit the kernel applies now: the lowest of every open request (reading opens
    one more at the default, which asks for nothing)."""
    fd = os.open(LATENCY_DEVICE, os.O_RDONLY)
    try:
        return int(struct.unpack("i", os.read(fd, 4))[0])
    finally:
        os.close(fd)


@pytest.mark.skipif(
    not os.access(LATENCY_DEVICE, os.R_OK | os.W_OK), reason=f"needs {LATENCY_DEVICE} (root)"
)
def test_cpu_latency_is_held_while_ems_runs_and_released_when_it_stops(logs_dir: Path):
    before = _latency_limit()
    assert before > 0, "another process already holds the CPU latency limit at 0"
    server = Process(
        [
            *("serve", "--key", secret("latency-" + os.urandom(8).hex())),
            *("--port", "0", "--promPort", "0", "--journal", "none"),
            *("--cpu-latency-us", "0"),
        ],
        logs_dir / "ems-cpu-latency.log",
    )
    try:
        assert _latency_limit() == 0
    finally:
        server.stop()
    deadline = time.monotonic() + 5
    while _latency_limit() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _latency_limit() == before
    assert "idle CPUs held to a wake-up latency of 0 µs (they poll)" in (
        (logs_dir / "ems-cpu-latency.log").read_text()
    )
