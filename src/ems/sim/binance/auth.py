"""Binance request authentication, implemented from the protocol facts alone.

REST: ``signature`` is hex HMAC-SHA256 over the query string followed directly (no
separator) by the form body, both exactly as received, with the ``signature=`` pair
taken out of wherever it was.  WS-API: the params other than ``signature`` sorted by name
and joined as ``k=v&...`` without percent-encoding.  Hex is compared case-insensitively.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import string
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, unquote_plus

import orjson

from ems.sim.binance.errors import (
    AHEAD,
    BAD_SIGNATURE,
    RECV_WINDOW,
    BinanceError,
    mandatory,
)

_KEY_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class Credential:
    """One API key pair of a simulated account."""

    api_key: str
    secret_key: str


def make_credentials(seed: int, count: int) -> list[Credential]:
    """Deterministic 64-character key pairs derived from the seed."""
    out = []
    for i in range(count):
        rng = random.Random(f"ems-sim:{seed}:{i}")
        key = "".join(rng.choice(_KEY_ALPHABET) for _ in range(64))
        secret = "".join(rng.choice(_KEY_ALPHABET) for _ in range(64))
        out.append(Credential(key, secret))
    return out


def hmac_hex(secret: str, payload: bytes) -> str:
    """Lower-case hex HMAC-SHA256 of the payload."""
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def split_signature(raw: str) -> tuple[str, str | None]:
    """Removes the ``signature=`` pair from a raw urlencoded string.

    Returns the remaining string exactly as received (pairs in their order) and the
    signature value, or None when there was none.
    """
    if not raw:
        return "", None
    kept: list[str] = []
    signature: str | None = None
    for pair in raw.split("&"):
        if pair.startswith("signature="):
            signature = unquote_plus(pair[len("signature=") :])
        else:
            kept.append(pair)
    return "&".join(kept), signature


def rest_signature_ok(secret: str, raw_query: str, raw_body: str) -> tuple[bool, bool]:
    """Checks a REST request's signature; returns ``(present, valid)``."""
    query, sig_q = split_signature(raw_query)
    body, sig_b = split_signature(raw_body)
    signature = sig_q if sig_q is not None else sig_b
    if not signature:
        return False, False
    expected = hmac_hex(secret, (query + body).encode())
    return True, hmac.compare_digest(expected, signature.lower())


def ws_param_text(value: Any) -> str:
    """How a JSON param value appears in the WS-API signature payload."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return orjson.dumps(value).decode()
    return str(value)


def ws_signature_ok(secret: str, params: dict[str, Any]) -> bool:
    """Checks a WS-API request signature (params sorted by name, ``signature`` left out).

    The documented payload is not percent-encoded; some clients (python-binance) sign
    the percent-encoded form, so that is accepted too when it differs.
    """
    signature = params.get("signature")
    if not isinstance(signature, str) or not signature:
        return False
    pairs = [(k, ws_param_text(v)) for k, v in sorted(params.items()) if k != "signature"]
    plain = "&".join(f"{k}={v}" for k, v in pairs)
    candidates = [plain]
    encoded = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    if encoded != plain:
        candidates.append(encoded)
    got = signature.lower()
    return any(hmac.compare_digest(hmac_hex(secret, c.encode()), got) for c in candidates)


def now_ms() -> int:
    """The simulator's clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def check_timestamp(timestamp: str | None, recv_window: str | None) -> None:
    """Applies Binance's rule: ``timestamp < now + 1000`` and ``now - timestamp <= window``.

    ``timestamp`` may be in milliseconds or microseconds; ``recvWindow`` is milliseconds
    with up to three decimals (default 5000, at most 60000).
    """
    if timestamp is None or timestamp == "":
        raise mandatory("timestamp")
    try:
        ts = Decimal(timestamp)
    except InvalidOperation:
        raise mandatory("timestamp") from None
    window = Decimal(5000)
    if recv_window not in (None, ""):
        try:
            window = Decimal(str(recv_window))
        except InvalidOperation:
            raise mandatory("recvWindow") from None
        if window > 60000 or window < 0:
            raise BinanceError(-1131, "recvWindow must be less than 60000")
    now = Decimal(time.time_ns()) / Decimal(1_000_000)
    if ts >= Decimal(10) ** 14:  # sixteen digits: microseconds
        ts = ts / 1000
    if ts >= now + 1000:
        raise BinanceError(-1021, AHEAD)
    if now - ts > window:
        raise BinanceError(-1021, RECV_WINDOW)


def signature_error() -> BinanceError:
    """-1022: the signature does not match."""
    return BinanceError(-1022, BAD_SIGNATURE)
