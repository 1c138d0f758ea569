"""Bybit v5 request authentication, written from the protocol facts alone.

REST (protocols.md C.2): the signed text is ``timestamp + apiKey + recvWindow`` followed
by the raw query string (GET) or the raw JSON body (POST), byte for byte as received;
the signature is lower-case hex HMAC-SHA256 (compared case-insensitively here).  A
timestamp is accepted when ``now - recvWindow <= timestamp < now + 1000``.

WebSocket auth (C.4): ``args = [apiKey, expires, signature]`` with the signature over
``"GET/realtime" + expires``; ``expires`` must lie in the future.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from ems.sim.bybit.errors import TIMESTAMP, BybitError, bad_key, bad_sign, param

DEFAULT_RECV_WINDOW = 5000


def now_ms() -> int:
    """The simulator's clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def hmac_hex(secret: str, payload: bytes) -> str:
    """Lower-case hex HMAC-SHA256."""
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def check_timestamp(timestamp: object, recv_window: object) -> None:
    """Applies ``now - recvWindow <= timestamp < now + 1000`` (10002 otherwise)."""
    try:
        ts = int(str(timestamp))
    except ValueError:
        raise param("timestamp is missing or invalid") from None
    window = DEFAULT_RECV_WINDOW
    if recv_window not in (None, ""):
        try:
            window = int(str(recv_window))
        except ValueError:
            raise param("recv_window is invalid") from None
    now = now_ms()
    if not now - window <= ts < now + 1000:
        raise BybitError(
            TIMESTAMP,
            "invalid request, please check your server timestamp or recv_window param. "
            f"req_timestamp[{ts}],server_timestamp[{now}],recv_window[{window}]",
        )


def check_rest(headers: Mapping[str, str], secrets: Mapping[str, str], payload: bytes) -> str:
    """Verifies a signed REST request; returns its API key.

    ``payload`` is the raw query string (GET) or raw body (POST) exactly as received.
    """
    key = headers.get("X-BAPI-API-KEY", "")
    sign = headers.get("X-BAPI-SIGN", "")
    timestamp = headers.get("X-BAPI-TIMESTAMP", "")
    if not key or not sign or not timestamp:
        raise (
            BybitError(10003, "API key is invalid.", 401)
            if not key
            else param("missing X-BAPI-SIGN or X-BAPI-TIMESTAMP header")
        )
    secret = secrets.get(key)
    if secret is None:
        raise bad_key()
    recv_window = headers.get("X-BAPI-RECV-WINDOW", "")
    check_timestamp(timestamp, recv_window)
    signed = f"{timestamp}{key}{recv_window}".encode() + payload
    if not hmac.compare_digest(hmac_hex(secret, signed), sign.lower()):
        raise bad_sign()
    return key


def check_ws_auth(args: object, secrets: Mapping[str, str]) -> str:
    """Verifies a WebSocket ``auth`` op's args; returns the API key."""
    if not isinstance(args, list) or len(args) != 3:
        raise param("auth args must be [apiKey, expires, signature]")
    key, expires, sign = args
    secret = secrets.get(str(key))
    if secret is None:
        raise bad_key()
    try:
        expires_ms = int(str(expires))
    except ValueError:
        raise param("expires is invalid") from None
    if expires_ms <= now_ms():
        raise BybitError(10002, "Params Error: expires is in the past")
    expected = hmac_hex(secret, f"GET/realtime{expires}".encode())
    if not isinstance(sign, str) or not hmac.compare_digest(expected, sign.lower()):
        raise bad_sign()
    return str(key)
