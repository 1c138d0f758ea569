"""Network plumbing shared by venue modules: binding to a named interface."""

from __future__ import annotations

import re
import subprocess

from ems.errors import ApiError


def interface_address(interface: str) -> str:
    """The IPv4 address of a named interface; `eth0:1` is its second address.

    Resolved once per session start, so shelling out to `ip` is acceptable here.
    """
    name, _, index_text = interface.partition(":")
    index = int(index_text) if index_text.isdigit() else 0
    try:
        out = subprocess.run(
            ["ip", "-o", "-4", "addr", "show", "dev", name],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ApiError(f"cannot read addresses of interface {name!r}: {exc}", "interface") from None
    addresses = re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", out)
    if index >= len(addresses):
        raise ApiError(f"interface {interface!r} has no such IPv4 address", "interface")
    return str(addresses[index])


def write_at_once(transport: object) -> None:
    """Makes every write on an order-entry connection reach the socket immediately.

    uvloop queues a write smaller than the transport's high-water mark and performs it
    after every other ready callback of the loop turn, which puts all of the turn's
    bookkeeping between deciding an order and sending it. With a mark of zero each write
    is tried on the socket at once (anything the kernel does not take is still buffered).
    Under TLS the mark belongs on the TCP transport beneath the TLS layer.
    """
    inner = getattr(getattr(transport, "_ssl_protocol", None), "_transport", None)
    target = inner if inner is not None else transport
    set_limits = getattr(target, "set_write_buffer_limits", None)
    if set_limits is not None:
        set_limits(high=0)
