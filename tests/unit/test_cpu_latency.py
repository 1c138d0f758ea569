"""`--cpu-latency-us`: the request written to the kernel's CPU latency device, and the
refusal when the device cannot be opened."""

from __future__ import annotations

import os
import struct

from ems import server


def test_the_limit_is_written_as_the_kernels_32_bit_integer_and_the_file_stays_open(tmp_path):
    device = tmp_path / "cpu_dma_latency"
    device.write_bytes(b"")
    fd = server.hold_cpu_latency(0, str(device))
    try:
        os.fstat(fd)  # still open: the kernel keeps the request only while it is
        assert device.read_bytes() == struct.pack("i", 0)
    finally:
        os.close(fd)
    fd = server.hold_cpu_latency(25, str(device))
    os.close(fd)
    assert device.read_bytes() == struct.pack("i", 25)


def test_serve_refuses_to_start_when_the_device_cannot_be_opened(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(server, "CPU_LATENCY_DEVICE", str(tmp_path / "absent" / "device"))
    monkeypatch.setattr(server, "configure_logging", lambda debug: None)
    ran = []
    monkeypatch.setattr(server.uvloop, "run", lambda coro: ran.append(coro.close()))
    assert server.main(["--key", "k", "--cpu-latency-us", "0"]) == 2
    err = capsys.readouterr().err
    assert "--cpu-latency-us needs write access to" in err
    assert str(tmp_path / "absent" / "device") in err
    assert ran == []  # the server never started
