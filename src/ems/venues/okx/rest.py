"""Signed OKX REST reads (protocols.md B.2): instruments, balances, orders, positions.

Order entry goes over the private WebSocket; REST serves the session start and the
queries reconciliation makes. The sign covers the exact request path (with its query
string) that goes on the wire.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson

from ems._core import HmacSha256
from ems.errors import VenueError, VenueRateLimited, VenueUnknownOutcome
from ems.venues.http1 import Http1Pool, HttpError

log = logging.getLogger("ems.okx.rest")


def iso_ms(epoch_ms: int) -> str:
    """`2020-12-08T09:08:57.715Z`: the REST timestamp format."""
    stamp = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def query_string(params: Mapping[str, object]) -> str:
    """`?k=v&...` in the given order (empty values left out), or ''."""
    parts = [f"{k}={quote(str(v), safe='-_.~,')}" for k, v in params.items() if v not in (None, "")]
    return "?" + "&".join(parts) if parts else ""


def error_code(value: object) -> int | None:
    """OKX codes are decimal strings; None if not one."""
    try:
        return int(str(value))
    except ValueError:
        return None


class OkxRest:
    """One account's REST client: keep-alive connections, key, passphrase, clock offset."""

    def __init__(
        self, pool: Http1Pool, api_key: str, secret: str, passphrase: str, demo: bool
    ) -> None:
        self.pool = pool
        self._api_key = api_key
        self._passphrase = passphrase
        self._signer = HmacSha256(secret.encode())
        self._demo = demo
        self.clock_offset_ms = 0

    def now_ms(self) -> int:
        """Our clock corrected by the venue's offset."""
        return int(time.time() * 1000) + self.clock_offset_ms

    def sign(self, stamp: str, method: str, target: str, body: bytes = b"") -> str:
        """base64 HMAC-SHA256 of `timestamp + METHOD + requestPath + body` (V8)."""
        return self._signer.base64(stamp.encode() + method.encode() + target.encode() + body)

    def headers(self, method: str, target: str, body: bytes = b"") -> dict[str, str]:
        """Signed headers for one request (`target` is the path with its query)."""
        stamp = iso_ms(self.now_ms())
        out = {
            "OK-ACCESS-KEY": self._api_key,
            "OK-ACCESS-SIGN": self.sign(stamp, method, target, body),
            "OK-ACCESS-TIMESTAMP": stamp,
            "OK-ACCESS-PASSPHRASE": self._passphrase,
            "Content-Type": "application/json",
        }
        if self._demo:
            out["x-simulated-trading"] = "1"
        return out

    async def sync_clock(self) -> None:
        """Measures the venue clock against ours (timestamps must be within 30 s)."""
        before = time.time()
        data = await self.get("/api/v5/public/time", signed=False)
        after = time.time()
        self.clock_offset_ms = int(int(data[0]["ts"]) - (before + after) / 2 * 1000)

    async def get(
        self, path: str, params: Mapping[str, object] | None = None, *, signed: bool = True
    ) -> list[Any]:
        """One GET; returns the envelope's `data` list.

        Raises `VenueError` for a refusal (code != "0"), `VenueRateLimited` on 429 and
        `VenueUnknownOutcome` when no answer could be read.
        """
        target = path + query_string(params or {})
        if signed:
            headers = self.headers("GET", target)
        else:
            headers = {"x-simulated-trading": "1"} if self._demo else {}
        try:
            resp = await self.pool.request("GET", target, headers)
        except HttpError as exc:
            raise VenueUnknownOutcome(f"GET {path}: {exc}") from exc
        try:
            envelope = orjson.loads(resp.body) if resp.body else {}
        except orjson.JSONDecodeError:
            envelope = {}
        if not isinstance(envelope, dict):
            envelope = {}
        code = str(envelope.get("code", ""))
        msg = str(envelope.get("msg") or resp.body[:200].decode(errors="replace"))
        if resp.status == 429 or code == "50011":
            retry = resp.headers.get("retry-after", "")
            raise VenueRateLimited(f"{code} {msg}", error_code(code), 429, float(retry or 1))
        if resp.status >= 500:
            raise VenueUnknownOutcome(f"GET {path}: HTTP {resp.status} {code} {msg}")
        if code != "0":
            raise VenueError(f"{code} {msg}", error_code(code), resp.status)
        data = envelope.get("data")
        return data if isinstance(data, list) else []
