"""Bybit batch requests made from single ones (protocols.md C.3, C.4).

Bybit takes up to 10 (spot) or 20 (linear, inverse, option) creates, amends or cancels
in one `order.*-batch` request, over the trade WebSocket or REST, and answers each item
on its own: `result.list[i]` for the order, `retExtInfo.list[i]` for its code and
message, in request order.

A `Batcher` stands in front of one kind of request.  The first request of a loop turn
is written at once, alone, so that a single order waits for nothing.  Requests made
after it in the same turn (a burst from one client read, or every order of a dropped
connection sent again) are held until the turn ends and then written as batches of the
venue's size; a batch of one goes as the single request.  Each caller gets its own
item's outcome: the venue's object, or the venue's per-item refusal as the exception
that refusal would raise on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from ems.errors import VenueUnknownOutcome
from ems.venues.bybit.rest import check_envelope

SendOne = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
SendBatch = Callable[[list[dict[str, Any]]], Awaitable[dict[str, Any]]]
Spawn = Callable[[Coroutine[Any, Any, None]], None]


class Batcher:
    """Single requests of one kind, merged into batches when several come in one turn."""

    def __init__(
        self, what: str, send_one: SendOne, send_batch: SendBatch, batch_max: int, spawn: Spawn
    ) -> None:
        self.what = what
        self._send_one = send_one
        self._send_batch = send_batch
        self._batch_max = batch_max
        self._spawn = spawn
        self._held: list[tuple[dict[str, Any], asyncio.Future[dict[str, Any]]]] = []
        self._turn_open = False
        self.batches = 0
        """Batch requests written so far (for logs and tests)."""

    def submit(self, args: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        """Sends one request, alone now or in a batch at the end of the turn; the result
        awaits the item's reply (`{"result": ..., "retExtInfo": ...}`)."""
        loop = asyncio.get_running_loop()
        if not self._turn_open:
            self._turn_open = True
            loop.call_soon(self._end_turn)
            return self._send_one(args)
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._held.append((args, future))
        return future

    def _end_turn(self) -> None:
        self._turn_open = False
        held, self._held = self._held, []
        size = self._batch_max
        for start in range(0, len(held), size):
            chunk = held[start : start + size]
            if len(chunk) == 1:
                args, future = chunk[0]
                self._spawn(_settle(self._send_one(args), future))
            else:
                self.batches += 1
                sent = self._send_batch([args for args, _ in chunk])
                self._spawn(self._split(sent, [future for _, future in chunk]))

    async def _split(
        self, sent: Awaitable[dict[str, Any]], futures: list[asyncio.Future[dict[str, Any]]]
    ) -> None:
        try:
            reply = await sent
        except BaseException as exc:
            for future in futures:
                _fail(future, exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        outcomes = split_reply(reply, len(futures), self.what)
        for future, outcome in zip(futures, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)


def split_reply(
    reply: dict[str, Any], count: int, what: str
) -> list[dict[str, Any] | BaseException]:
    """Each item's outcome from a batch reply: `{"result": row, "retExtInfo": {}}` for a
    success, the exception its code raises for a refusal."""
    rows = (reply.get("result") or {}).get("list") or []
    codes = (reply.get("retExtInfo") or {}).get("list") or []
    out: list[dict[str, Any] | BaseException] = []
    for i in range(count):
        row = rows[i] if i < len(rows) and isinstance(rows[i], dict) else {}
        item = codes[i] if i < len(codes) and isinstance(codes[i], dict) else None
        if item is None:
            out.append(VenueUnknownOutcome(f"{what}: the batch reply has no item {i}"))
            continue
        code = item.get("code", 0)
        if isinstance(code, str) and code.lstrip("-").isdigit():
            code = int(code)
        if code == 0:
            out.append({"result": row, "retExtInfo": {}})
            continue
        try:
            check_envelope({"retCode": code, "retMsg": item.get("msg", "")}, what)
        except Exception as exc:
            out.append(exc)
    return out


async def _settle(sent: Awaitable[dict[str, Any]], future: asyncio.Future[dict[str, Any]]) -> None:
    try:
        result = await sent
    except BaseException as exc:
        _fail(future, exc)
        if isinstance(exc, asyncio.CancelledError):
            raise
        return
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[dict[str, Any]], exc: BaseException) -> None:
    if future.done():
        return
    if isinstance(exc, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(exc)
