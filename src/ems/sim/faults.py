"""Venue-neutral fault injection for the simulators' HTTP front ends.

A fault applies to the next ``count`` requests matching its path (exact, or a prefix
ending in ``*``), method (None = any) and, if it names one, the account's API key. It
may delay the request, and/or answer it with an HTTP status: with ``apply`` true the
request is processed first and the client still gets the error (the outcome is unknown
to it, as with a real 5xx), with ``apply`` false the request is not processed at all.
With ``late`` true (and no status) the request is processed at once and its answer held
back for the delay: a read that reaches the client after the state it shows has moved on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")

log = logging.getLogger("ems.sim.faults")


@dataclass(slots=True)
class Fault:
    """One armed fault."""

    path: str
    method: str | None
    count: int
    status: int | None
    delay_ms: int
    apply: bool
    code: int | None
    msg: str | None
    retry_after: int
    api_key: str | None = None
    late: bool = False

    def matches(self, method: str, path: str, api_key: str = "") -> bool:
        """Whether a request is subject to this fault."""
        if self.method is not None and self.method != method.upper():
            return False
        if self.api_key is not None and self.api_key != api_key:
            return False
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == self.path

    def describe(self) -> dict[str, Any]:
        """The fault as JSON (for the admin API's answer)."""
        return {
            "path": self.path,
            "method": self.method,
            "count": self.count,
            "status": self.status,
            "delayMs": self.delay_ms,
            "apply": self.apply,
            "code": self.code,
            "msg": self.msg,
            "retryAfter": self.retry_after,
            "apiKey": self.api_key,
            "late": self.late,
        }


def parse_fault(spec: dict[str, Any]) -> Fault:
    """Builds a fault from the admin API's JSON; raises ValueError when malformed."""
    path = spec.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError("fault needs a 'path' starting with '/'")
    method = spec.get("method")
    if method is not None and not isinstance(method, str):
        raise ValueError("'method' must be a string")
    status = spec.get("status")
    if status is not None and not (isinstance(status, int) and 100 <= status <= 599):
        raise ValueError("'status' must be an HTTP status code")
    count = int(spec.get("count", 1))
    delay = int(spec.get("delayMs", 0))
    if count < 1 or delay < 0:
        raise ValueError("'count' must be >= 1 and 'delayMs' >= 0")
    if status is None and delay == 0:
        raise ValueError("a fault needs a 'status' or a 'delayMs'")
    code = spec.get("code")
    msg = spec.get("msg")
    api_key = spec.get("apiKey")
    if api_key is not None and not isinstance(api_key, str):
        raise ValueError("'apiKey' must be a string")
    late = spec.get("late", False)
    if not isinstance(late, bool) or (late and (status is not None or delay == 0)):
        raise ValueError("'late' must be a boolean, given with a 'delayMs' and no 'status'")
    return Fault(
        path=path,
        method=method.upper() if method else None,
        count=count,
        status=status,
        delay_ms=delay,
        apply=bool(spec.get("apply", False)),
        code=int(code) if code is not None else None,
        msg=str(msg) if msg is not None else None,
        retry_after=int(spec.get("retryAfter", 1)),
        api_key=api_key,
        late=late,
    )


class FaultPlan:
    """The armed faults of one simulated venue, consumed in arming order."""

    def __init__(self) -> None:
        """Starts with no faults."""
        self._faults: list[Fault] = []

    def arm(self, fault: Fault) -> None:
        """Adds a fault."""
        self._faults.append(fault)

    def clear(self) -> None:
        """Disarms everything."""
        self._faults.clear()

    def take(self, method: str, path: str, api_key: str = "") -> Fault | None:
        """The first fault matching the request, with one use consumed."""
        for fault in self._faults:
            if fault.matches(method, path, api_key):
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def armed(self) -> list[dict[str, Any]]:
        """The faults still armed."""
        return [f.describe() for f in self._faults]


async def answer_late(fault: Fault, answer: Awaitable[T]) -> T:
    """The answer of a request processed now, given after the fault's delay."""
    response = await answer
    await asyncio.sleep(fault.delay_ms / 1000)
    return response


async def answer_with_fault(
    fault: Fault | None,
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    refusal: Callable[[Fault, int], web.StreamResponse],
) -> web.StreamResponse:
    """A request's answer under `fault` (None: as usual). The request may be delayed,
    answered late, or refused with `refusal(fault, status)` (the venue's own error for
    the fault's HTTP status), processed first when the fault says `apply`."""
    if fault is None:
        return await handler(request)
    if fault.late:
        return await answer_late(fault, handler(request))
    if fault.delay_ms:
        await asyncio.sleep(fault.delay_ms / 1000)
    if fault.status is None:
        return await handler(request)
    if fault.apply:
        await handler(request)
    log.info("fault %s %s -> %s", request.method, request.path, fault.status)
    return refusal(fault, fault.status)
