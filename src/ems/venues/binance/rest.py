"""Signed Binance REST calls (protocols.md A.4, A.5).

The signature is HMAC-SHA256 over the exact query string that goes on the wire, so the
string is built once and both signed and sent as it is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import orjson

from ems._core import ArmedOrder, HmacSha256
from ems.errors import VenueError, VenueRateLimited, VenueUnknownOutcome
from ems.venues.http1 import Http1Pool, HttpError, Response

log = logging.getLogger("ems.binance.rest")

RECV_WINDOW_MS = 5000
T = TypeVar("T")
INVALID_TIMESTAMP = -1021


_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def encode_query(params: Mapping[str, object]) -> str:
    """`k=v&...` in the given order, values percent-encoded as a form would be.

    Order parameters are almost always plain (symbols, decimals, our client ids), so
    those skip the quoting routine, which costs microseconds on the order path.
    """
    parts = []
    for key, value in params.items():
        if value is None:
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if not _SAFE.issuperset(text):
            text = quote(text, safe="-_.~")
        parts.append(f"{key}={text}")
    return "&".join(parts)


class BinanceRest:
    """One account's REST client: keep-alive connections, key, clock offset."""

    def __init__(self, pool: Http1Pool, api_key: str, secret: str) -> None:
        self.pool = pool
        self._api_key = api_key
        self._secret = secret.encode()
        self._signer = HmacSha256(self._secret)
        self.clock_offset_ms = 0
        self.retry_after_until = 0.0
        """Monotonic time before which the venue asked us not to send (429/418)."""

    def timestamp(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    def sign(self, params: Mapping[str, object]) -> str:
        """The query string with timestamp, recvWindow and signature appended."""
        query = encode_query(params)
        stamp = f"recvWindow={RECV_WINDOW_MS}&timestamp={self.timestamp()}"
        query = f"{query}&{stamp}" if query else stamp
        return f"{query}&signature={self._signer.hex(query.encode())}"

    async def sync_clock(self, time_path: str) -> None:
        """Measures the venue clock against ours (a -1021 reply means they drifted)."""
        before = time.time()
        data = await self.request("GET", time_path, signed=False)
        after = time.time()
        local_ms = (before + after) / 2 * 1000
        self.clock_offset_ms = int(data["serverTime"] - local_ms)

    def start(
        self,
        method: str,
        path: str,
        params: Mapping[str, object] | None = None,
        *,
        signed: bool = True,
        key_only: bool = False,
    ) -> Awaitable[Any]:
        """Writes the request now if a connection is idle; the result awaits the reply.

        The awaitable raises `VenueError` for a definite refusal, `VenueRateLimited` when
        the venue asks us to wait, `VenueUnknownOutcome` when we cannot know whether the
        request was carried out.
        """
        wait = self.retry_after_until - time.monotonic()
        if wait > 0:
            return _raise(
                VenueRateLimited(f"not sent: venue asked to wait {wait:.1f}s more", None, 429, wait)
            )
        query = self.sign(params or {}) if signed else encode_query(params or {})
        target = f"{path}?{query}" if query else path
        headers = {"X-MBX-APIKEY": self._api_key} if signed or key_only else {}
        sent = self.pool.send_now(method, target, headers)
        return self._reply(sent, method, path, target, headers)

    def arm(
        self,
        method: str,
        path: str,
        params: Mapping[str, object],
        finish: Callable[[Awaitable[Any]], Awaitable[T]],
    ) -> tuple[ArmedOrder, Callable[[bytes], Awaitable[T] | None], Callable[[bytes], Awaitable[T]]]:
        """A signed request built now but for its timestamp and signature.

        Returns the core's template of it, which the trigger index renders (timestamp
        and HMAC) in the call that sees the trade; the function that writes a rendered
        copy if it can go out at once (an idle connection, no rate-limit wait) and
        returns `finish` applied to the awaitable reply (`finish` runs after the write),
        or else None without doing anything; and the function for the else, which
        sends the request as any other would. The template keeps the clock offset of
        the moment it was armed; a venue that then refuses the timestamp (-1021) gets
        the order again after a resync (see the session's clock retry).
        """
        query = f"{encode_query(params)}&recvWindow={RECV_WINDOW_MS}&timestamp="
        head = f"{self.pool.request_head(method, path)}?{query}"
        tail = f"{self.pool.request_tail(method, {'X-MBX-APIKEY': self._api_key})}"
        template = ArmedOrder.binance(
            head.encode(),
            tail.encode(),
            head.index("?") + 1,
            self._secret,
            self.clock_offset_ms,
        )

        def write_now(data: bytes) -> Awaitable[T] | None:
            if self.retry_after_until and self.retry_after_until > time.monotonic():
                return None
            sent = self.pool.send_raw(data)
            if sent is None:
                return None
            return finish(self._reply(sent, method, path, "", {}))

        def send_later(data: bytes) -> Awaitable[T]:
            # start() refuses with the rate-limit wait left, or queues the request for
            # the next free connection (signed again when it goes).
            return finish(self.start(method, path, params))

        return template, write_now, send_later

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, object] | None = None,
        *,
        signed: bool = True,
        key_only: bool = False,
    ) -> Any:
        """Sends one request and returns its JSON (errors as in `start`)."""
        return await self.start(method, path, params, signed=signed, key_only=key_only)

    async def _reply(
        self,
        sent: asyncio.Future[Response] | None,
        method: str,
        path: str,
        target: str,
        headers: dict[str, str],
    ) -> Any:
        try:
            if sent is None:
                resp = await self.pool.request(method, target, headers)
            else:
                resp = await self.pool.wait(sent)
        except HttpError as exc:
            # A request whose connection failed may or may not have reached the venue.
            raise VenueUnknownOutcome(f"{method} {path}: {exc}") from exc
        status, body = resp.status, resp.body
        if status < 300:
            return orjson.loads(body) if body else {}
        try:
            err = orjson.loads(body)
        except orjson.JSONDecodeError:
            err = {}
        if not isinstance(err, dict):
            err = {}
        code = err.get("code")
        msg = err.get("msg") or body[:200].decode(errors="replace")
        if status in (429, 418):
            retry_after = resp.headers.get("retry-after", "")
            seconds = float(retry_after) if retry_after.isdigit() else 1.0
            self.retry_after_until = time.monotonic() + seconds
            log.warning(
                "%s %s: HTTP %d rate limited; backing off %.1fs", method, path, status, seconds
            )
            raise VenueRateLimited(f"{code} {msg}", code, status, seconds)
        if status >= 500 or status == 408:
            raise VenueUnknownOutcome(f"{method} {path}: HTTP {status} {code} {msg}")
        raise VenueError(f"{code} {msg}", code, status, err.get("data"))


async def _raise(exc: Exception) -> Any:
    raise exc
