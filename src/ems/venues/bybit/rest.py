"""Signed Bybit v5 REST calls (protocols.md C.2).

The signed text is `timestamp + apiKey + recvWindow + payload`, where the payload is
the query string (GET) or the JSON body (POST) exactly as it goes on the wire; both are
built once, signed and sent as they are.  Every answer carries `retCode`: 0 is success,
anything else a refusal, except the codes that mean "overloaded, outcome unknown" or
"slow down", which are raised as such.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Mapping
from typing import Any
from urllib.parse import quote

import orjson

from ems._core import HmacSha256
from ems.errors import VenueError, VenueRateLimited, VenueUnknownOutcome
from ems.venues.http1 import Http1Pool, HttpError, Response

log = logging.getLogger("ems.bybit.rest")

RECV_WINDOW_MS = 5000
TIMESTAMP_OUTSIDE_WINDOW = 10002
RATE_LIMIT_CODES = frozenset({10006, 10018, 10429, 10403, 170005, 170222})
UNKNOWN_OUTCOME_CODES = frozenset({10000, 10016, 170007, 170146, 170147, 170310})
"""Server errors and timeouts: the request may or may not have been carried out."""


def encode_query(params: Mapping[str, object]) -> str:
    """`k=v&...` in the given order, values percent-encoded."""
    parts = []
    for key, value in params.items():
        if value is None:
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        parts.append(f"{key}={quote(text, safe='-_.~,')}")
    return "&".join(parts)


class JsonPool(Http1Pool):
    """The shared HTTP/1.1 pool, with request bodies (Bybit POSTs JSON)."""

    def _request_bytes(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> bytes:
        head = [f"{method} {self.base_path}{target} HTTP/1.1", f"Host: {self.host_header}"]
        head.extend(f"{k}: {v}" for k, v in headers.items())
        if method in ("POST", "PUT", "DELETE") or body:
            head.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body

    def send_now(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> asyncio.Future[Response] | None:
        """Writes the request at once on an idle connection; None if none is idle."""
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn.send(self._request_bytes(method, target, headers, body))
        return None

    async def request(
        self, method: str, target: str, headers: dict[str, str], body: bytes = b""
    ) -> Response:
        """Sends one request (at once if a connection is idle) and awaits its reply."""
        future = self.send_now(method, target, headers, body)
        if future is None:
            conn = await self._acquire()
            future = conn.send(self._request_bytes(method, target, headers, body))
        return await self.wait(future)


def check_envelope(data: Any, what: str, reset_ms: str | None = None) -> dict[str, Any]:
    """The reply object if `retCode` is 0; otherwise the matching exception."""
    if not isinstance(data, dict):
        raise VenueUnknownOutcome(f"{what}: unexpected reply {str(data)[:200]}")
    code = data.get("retCode", data.get("ret_code"))
    if code == 0:
        return data
    msg = data.get("retMsg", data.get("ret_msg", ""))
    if code in RATE_LIMIT_CODES:
        wait = 1.0
        if reset_ms and reset_ms.isdigit():
            wait = max(0.05, min(60.0, int(reset_ms) / 1000 - time.time()))
        raise VenueRateLimited(f"{code} {msg}", code, 429, wait)
    if code in UNKNOWN_OUTCOME_CODES:
        raise VenueUnknownOutcome(f"{what}: {code} {msg}")
    raise VenueError(f"{code} {msg}", code if isinstance(code, int) else None)


class BybitRest:
    """One account's REST client: keep-alive connections, key, clock offset."""

    def __init__(self, pool: JsonPool, api_key: str, secret: str) -> None:
        self.pool = pool
        self._api_key = api_key
        self._signer = HmacSha256(secret.encode())
        self.clock_offset_ms = 0
        self.retry_after_until = 0.0
        """Monotonic time before which the venue asked us not to send."""

    def timestamp(self) -> int:
        """Milliseconds on the venue's clock (as far as we measured it)."""
        return int(time.time() * 1000) + self.clock_offset_ms

    def sign(self, payload: str, timestamp: int | None = None) -> dict[str, str]:
        """The authentication headers for one request whose payload is `payload`."""
        stamp = str(self.timestamp() if timestamp is None else timestamp)
        plain = f"{stamp}{self._api_key}{RECV_WINDOW_MS}{payload}"
        return {
            "X-BAPI-API-KEY": self._api_key,
            "X-BAPI-TIMESTAMP": stamp,
            "X-BAPI-RECV-WINDOW": str(RECV_WINDOW_MS),
            "X-BAPI-SIGN": self._signer.hex(plain.encode()),
        }

    def ws_auth_args(self, expires_ms: int) -> list[object]:
        """`auth` op args for the private and trade WebSockets (signature over
        `GET/realtime` + expires)."""
        signature = self._signer.hex(f"GET/realtime{expires_ms}".encode())
        return [self._api_key, expires_ms, signature]

    async def sync_clock(self) -> None:
        """Measures the venue clock against ours (a 10002 reply means they drifted)."""
        before = time.time()
        data = await self.request("GET", "/v5/market/time", signed=False)
        after = time.time()
        server_ms = int(data.get("time") or int(data["result"]["timeNano"]) // 1_000_000)
        self.clock_offset_ms = int(server_ms - (before + after) / 2 * 1000)

    def build(
        self, method: str, path: str, params: Mapping[str, object] | None, signed: bool
    ) -> tuple[str, dict[str, str], bytes]:
        """The request target, headers and body, signed over exactly those bytes."""
        params = params or {}
        if method == "GET":
            query = encode_query(params)
            target = f"{path}?{query}" if query else path
            headers = self.sign(query) if signed else {}
            return target, headers, b""
        body = orjson.dumps(dict(params))
        headers = {"Content-Type": "application/json"}
        if signed:
            headers.update(self.sign(body.decode()))
        return path, headers, body

    def start(
        self,
        method: str,
        path: str,
        params: Mapping[str, object] | None = None,
        *,
        signed: bool = True,
    ) -> Awaitable[dict[str, Any]]:
        """Writes the request now if a connection is idle; the result awaits the reply.

        The reply is the whole envelope (`result`, `retExtInfo`, `time`). The awaitable
        raises `VenueError` for a refusal, `VenueRateLimited` when asked to slow down,
        `VenueUnknownOutcome` when the outcome cannot be known.
        """
        wait = self.retry_after_until - time.monotonic()
        if wait > 0:
            return _raise(
                VenueRateLimited(f"not sent: venue asked to wait {wait:.1f}s more", None, 429, wait)
            )
        target, headers, body = self.build(method, path, params, signed)
        sent = self.pool.send_now(method, target, headers, body)
        return self._reply(sent, method, path, target, headers, body)

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, object] | None = None,
        *,
        signed: bool = True,
    ) -> dict[str, Any]:
        """Sends one request and returns its envelope (errors as in `start`)."""
        return await self.start(method, path, params, signed=signed)

    async def _reply(
        self,
        sent: asyncio.Future[Response] | None,
        method: str,
        path: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
    ) -> dict[str, Any]:
        try:
            if sent is None:
                resp = await self.pool.request(method, target, headers, body)
            else:
                resp = await self.pool.wait(sent)
        except HttpError as exc:
            # A request whose connection failed may or may not have reached the venue.
            raise VenueUnknownOutcome(f"{method} {path}: {exc}") from exc
        what = f"{method} {path}"
        reset = resp.headers.get("x-bapi-limit-reset-timestamp")
        if resp.status in (429, 403):
            self.back_off(reset, what, resp.status)
            raise VenueRateLimited(
                f"HTTP {resp.status} rate limited", None, resp.status, self.wait_left()
            )
        if resp.status >= 500 or resp.status == 408:
            raise VenueUnknownOutcome(f"{what}: HTTP {resp.status}")
        try:
            data = orjson.loads(resp.body)
        except orjson.JSONDecodeError:
            if resp.status >= 400:
                raise VenueError(f"HTTP {resp.status}", None, resp.status) from None
            raise VenueUnknownOutcome(f"{what}: undecodable reply") from None
        try:
            return check_envelope(data, what, reset)
        except VenueRateLimited as exc:
            self.back_off(reset, what, resp.status)
            exc.retry_after = self.wait_left()
            raise

    def backing_off(self) -> bool:
        """Whether the venue asked us to wait and the wait is not over."""
        return self.retry_after_until > time.monotonic()

    def back_off(self, reset_ms: str | None, what: str, status: int) -> None:
        """Stops sending until the venue's reset time (1 s when it gave none)."""
        seconds = 1.0
        if reset_ms and reset_ms.isdigit():
            seconds = max(0.05, min(60.0, int(reset_ms) / 1000 - time.time()))
        self.retry_after_until = time.monotonic() + seconds
        log.warning("%s: rate limited (HTTP %d); backing off %.2fs", what, status, seconds)

    def wait_left(self) -> float:
        """Seconds left of the current back-off."""
        return max(0.0, self.retry_after_until - time.monotonic())


async def _raise(exc: Exception) -> Any:
    raise exc
