"""OKX request authentication, implemented from the protocol facts alone (B.2, B.4).

REST: ``OK-ACCESS-SIGN`` = base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath +
body)) where requestPath carries the query string exactly as received and body is the
raw bytes of the request body.  WebSocket login: the same over ``timestamp + "GET" +
"/users/self/verify"`` with a timestamp in seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import datetime

from ems.sim.binance.auth import Credential

REST_WINDOW_S = 30.0
"""How far a REST timestamp may be from the server clock before 50102."""
LOGIN_WINDOW_S = 30.0
"""A login request expires this long after its timestamp."""


@dataclass(frozen=True, slots=True)
class OkxCredential:
    """An OKX API key: key, secret and the passphrase chosen when it was made."""

    api_key: str
    secret_key: str
    passphrase: str


def passphrase_for(credential: Credential) -> str:
    """The simulated passphrase of a test account, derived from its secret."""
    digest = hashlib.sha256(f"okx-passphrase:{credential.secret_key}".encode()).hexdigest()
    return f"Sim{digest[:13]}!"


def okx_credentials(credentials: list[Credential]) -> dict[str, OkxCredential]:
    """The simulator's keys by API key, with their passphrases."""
    return {
        c.api_key: OkxCredential(c.api_key, c.secret_key, passphrase_for(c)) for c in credentials
    }


def sign(secret: str, payload: bytes) -> str:
    """base64 HMAC-SHA256 (what OKX calls the sign)."""
    return base64.b64encode(hmac.new(secret.encode(), payload, hashlib.sha256).digest()).decode()


def signature_ok(secret: str, payload: bytes, signature: str) -> bool:
    """Compares a presented sign with the expected one in constant time."""
    return hmac.compare_digest(sign(secret, payload), signature)


def parse_iso_ms(stamp: str) -> float | None:
    """Seconds since the epoch of ``2020-12-08T09:08:57.715Z``; None when malformed."""
    if not stamp.endswith("Z") or "T" not in stamp:
        return None
    try:
        return datetime.fromisoformat(stamp[:-1] + "+00:00").timestamp()
    except ValueError:
        return None


def rest_stamp_ok(stamp: str) -> bool:
    """Whether a REST timestamp is well-formed and within the allowed window."""
    seconds = parse_iso_ms(stamp)
    return seconds is not None and abs(time.time() - seconds) <= REST_WINDOW_S


def login_stamp_ok(stamp: object) -> bool:
    """Whether a login timestamp (unix seconds, text or number) is recent enough."""
    try:
        seconds = float(str(stamp))
    except ValueError:
        return False
    now = time.time()
    return now - LOGIN_WINDOW_S <= seconds <= now + LOGIN_WINDOW_S


def now_ms() -> int:
    """The simulator's clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def now_us() -> int:
    """The simulator's clock in epoch microseconds (inTime / outTime)."""
    return time.time_ns() // 1_000
