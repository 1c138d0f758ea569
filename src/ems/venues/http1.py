"""A small HTTP/1.1 client for order entry: persistent connections, synchronous writes.

Order requests are written to the socket in the same call that builds them, so a
trigger fired inside a market-data callback puts its order on the wire before control
returns to the event loop; only the reply is awaited. Each connection carries one
request at a time (no pipelining), and the pool opens another when all are busy.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import socket
import ssl
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

from ems.venues.net import write_at_once

log = logging.getLogger("ems.http1")

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024


class HttpError(ConnectionError):
    """The connection failed or the reply could not be read; the outcome is unknown."""


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes


class _Connection(asyncio.Protocol):
    def __init__(self, pool: Http1Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[Response] | None = None
        self.closed = False
        self._head: tuple[int, dict[str, str], int] | None = None  # status, headers, body start

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport but have its methods.
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            except (OSError, AttributeError):
                pass
        write_at_once(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool._forget(self)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HttpError(f"connection lost: {exc or 'closed by peer'}"))
        self.waiter = None

    def send(self, data: bytes) -> asyncio.Future[Response]:
        transport = self.transport
        if transport is None or self.waiter is not None:
            raise HttpError("connection is not ready for a request")
        transport.write(data)
        # The reply is read by a later loop callback, so the waiter can follow the write.
        waiter = self.waiter = self.pool.loop.create_future()
        return waiter

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.waiter is not None:
            if not self._parse():
                return

    def _fail(self, message: str) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HttpError(message))
        self.waiter = None
        if self.transport is not None:
            self.transport.close()

    def _parse(self) -> bool:
        """Completes the waiting response if the buffer holds it; False if more is needed."""
        if self._head is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEADER_BYTES:
                    self._fail("response header too large")
                return False
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                self._fail(f"malformed status line {lines[0][:80]!r}")
                return False
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self._head = (int(parts[1]), headers, end + 4)
        status, headers, start = self._head
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._dechunk(start)
            if body is None:
                return False
            consumed = body[1]
            payload = body[0]
        else:
            length = int(headers.get("content-length", "0") or 0)
            if length > MAX_BODY_BYTES:
                self._fail("response body too large")
                return False
            if len(self.buffer) - start < length:
                return False
            payload = bytes(self.buffer[start : start + length])
            consumed = start + length
        del self.buffer[:consumed]
        self._head = None
        waiter, self.waiter = self.waiter, None
        if headers.get("connection", "").lower() == "close" and self.transport is not None:
            self.transport.close()
        else:
            self.pool._release(self)
        if waiter is not None and not waiter.done():
            waiter.set_result(Response(status, headers, payload))
        return True

    def _dechunk(self, start: int) -> tuple[bytes, int] | None:
        out = bytearray()
        pos = start
        while True:
            line_end = self.buffer.find(b"\r\n", pos)
            if line_end < 0:
                return None
            size_text = bytes(self.buffer[pos:line_end]).split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                self._fail("malformed chunk size")
                return None
            chunk_start = line_end + 2
            if len(self.buffer) < chunk_start + size + 2:
                return None
            if size == 0:
                trailer_end = self.buffer.find(b"\r\n", chunk_start)
                if trailer_end < 0:
                    return None
                return bytes(out), trailer_end + 2
            out += self.buffer[chunk_start : chunk_start + size]
            pos = chunk_start + size + 2


class Http1Pool:
    """Keep-alive connections to one origin (`http://host:port` or `https://...`)."""

    def __init__(
        self,
        base_url: str,
        local_address: str | None = None,
        max_connections: int = 16,
        timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.host_header = parts.netloc
        self.base_path = parts.path.rstrip("/")
        self.local_address = local_address
        self.max_connections = max_connections
        self.timeout = timeout
        self.loop = asyncio.get_running_loop()
        self._idle: collections.deque[_Connection] = collections.deque()
        self._all: set[_Connection] = set()
        self._connecting = 0
        self._waiters: collections.deque[asyncio.Future[_Connection]] = collections.deque()

    def _forget(self, conn: _Connection) -> None:
        self._all.discard(conn)
        with contextlib.suppress(ValueError):
            self._idle.remove(conn)

    def _release(self, conn: _Connection) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    async def _open(self) -> _Connection:
        self._connecting += 1
        try:
            _, conn = await asyncio.wait_for(
                self.loop.create_connection(
                    lambda: _Connection(self),
                    self.host,
                    self.port,
                    ssl=self.ssl,
                    local_addr=(self.local_address, 0) if self.local_address else None,
                ),
                self.timeout,
            )
        except (TimeoutError, OSError) as exc:
            raise HttpError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        finally:
            self._connecting -= 1
        self._all.add(conn)
        return conn

    async def warm(self, connections: int = 2) -> None:
        """Opens connections ahead of need so the first order does not pay for a handshake."""
        for conn in await asyncio.gather(*(self._open() for _ in range(connections))):
            self._release(conn)

    def _request_bytes(self, method: str, target: str, headers: dict[str, str]) -> bytes:
        head = [f"{method} {self.base_path}{target} HTTP/1.1", f"Host: {self.host_header}"]
        head.extend(f"{k}: {v}" for k, v in headers.items())
        if method in ("POST", "PUT", "DELETE"):
            head.append("Content-Length: 0")
        return ("\r\n".join(head) + "\r\n\r\n").encode()

    def send_now(
        self, method: str, target: str, headers: dict[str, str]
    ) -> asyncio.Future[Response] | None:
        """Writes the request at once on an idle connection; None if none is idle."""
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn.send(self._request_bytes(method, target, headers))
        return None

    def send_raw(self, data: bytes) -> asyncio.Future[Response] | None:
        """Writes a complete pre-built request at once; None if no connection is idle.

        The trigger path: `_Connection.send` is inlined, one Python frame fewer between a
        trade and its order on the wire."""
        idle = self._idle
        while idle:
            conn = idle.pop()
            transport = conn.transport
            if conn.closed or transport is None or conn.waiter is not None:
                continue
            transport.write(data)
            waiter = conn.waiter = self.loop.create_future()
            return waiter
        return None

    def request_head(self, method: str, path: str) -> str:
        """`METHOD /base/path` for callers that assemble requests themselves."""
        return f"{method} {self.base_path}{path}"

    def request_tail(self, method: str, headers: dict[str, str]) -> str:
        """Everything after the request target, for callers that assemble requests."""
        lines = [f" HTTP/1.1\r\nHost: {self.host_header}"]
        lines.extend(f"{k}: {v}" for k, v in headers.items())
        if method in ("POST", "PUT", "DELETE"):
            lines.append("Content-Length: 0")
        return "\r\n".join(lines) + "\r\n\r\n"

    async def request(self, method: str, target: str, headers: dict[str, str]) -> Response:
        """Sends one request (at once if a connection is idle) and awaits its reply."""
        future = self.send_now(method, target, headers)
        if future is None:
            conn = await self._acquire()
            future = conn.send(self._request_bytes(method, target, headers))
        return await self.wait(future)

    async def wait(self, future: asyncio.Future[Response]) -> Response:
        try:
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            raise HttpError(f"no reply in {self.timeout:g}s") from None

    async def _acquire(self) -> _Connection:
        if len(self._all) + self._connecting < self.max_connections:
            return await self._open()
        waiter: asyncio.Future[_Connection] = self.loop.create_future()
        self._waiters.append(waiter)
        return await asyncio.wait_for(waiter, self.timeout)

    async def close(self) -> None:
        for conn in list(self._all):
            if conn.transport is not None:
                conn.transport.close()
        self._all.clear()
        self._idle.clear()
