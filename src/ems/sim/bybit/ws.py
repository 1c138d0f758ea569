"""WebSocket routes of the simulated Bybit v5 (protocols.md C.4).

* ``/v5/public/{spot|linear|inverse|option}``: ``subscribe`` / ``unsubscribe`` of
  ``publicTrade.{symbol}`` (options: ``publicTrade.{baseCoin}``) and
  ``orderbook.{depth}.{symbol}`` (a snapshot first, then deltas whose ``u`` grows by
  one), ``ping``.  Replies take each category's documented shape; spot refuses more
  than 10 args per request.
* ``/v5/private``: ``auth`` then ``subscribe`` to ``order``, ``execution``,
  ``position``, ``wallet`` (all-in-one) or their ``.{category}`` forms.
* ``/v5/trade``: ``auth`` then ``order.create``, ``order.amend``, ``order.cancel`` and
  their ``-batch`` forms, with ``reqId`` (unique per connection, at most 36 characters,
  else 20006) and ``header`` (``X-BAPI-TIMESTAMP``, ``X-BAPI-RECV-WINDOW``).

``?max_active_time=`` is accepted on private and trade URLs.  The server also answers
protocol-level pings (aiohttp heartbeat every 20 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from ems.sim.bybit.auth import check_timestamp, check_ws_auth, now_ms
from ems.sim.bybit.errors import BybitError
from ems.sim.bybit.server import BybitServer
from ems.sim.bybit.specs import Category
from ems.sim.bybit.venue import PUBLIC_DEPTHS, BybitVenue

log = logging.getLogger("ems.sim.bybit.ws")

HEARTBEAT_S = 20.0
PRIVATE_TOPICS = ("order", "execution", "position", "wallet")
TRADE_OPS = {
    "order.create": "create",
    "order.amend": "amend",
    "order.cancel": "cancel",
    "order.create-batch": "create-batch",
    "order.amend-batch": "amend-batch",
    "order.cancel-batch": "cancel-batch",
}


class Connection:
    """One accepted WebSocket with an ordered, non-blocking send queue."""

    _ids = itertools.count(1)

    def __init__(self, ws: web.WebSocketResponse, kind: str, category: str = "") -> None:
        """``kind`` is ``public``, ``private`` or ``trade``."""
        self.ws = ws
        self.kind = kind
        self.category = category
        self.conn_id = f"sim{next(self._ids):06d}-{uuid.uuid4().hex[:8]}"
        self.account: str | None = None
        self.private_topics: set[str] = set()
        self.public_topics: dict[str, Callable[[bytes], None]] = {}
        self.req_ids: set[str] = set()
        self.dropping = False
        self.cleanups: list[Callable[[], None]] = []
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        while True:
            data = await self._queue.get()
            if data is None or self.ws.closed:
                return
            try:
                await self.ws.send_frame(data, WSMsgType.TEXT)
            except (ConnectionError, RuntimeError):
                return

    def send(self, data: bytes) -> None:
        """Queues one text frame."""
        if not self.dropping:
            self._queue.put_nowait(data)

    def send_json(self, obj: Any) -> None:
        """Queues one JSON object."""
        self.send(orjson.dumps(obj))

    async def close(self, flush: bool = True) -> None:
        """Closes the socket; ``flush`` lets queued frames go out first."""
        self._queue.put_nowait(None)
        if flush:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._writer), 1.0)
        with contextlib.suppress(Exception):
            await self.ws.close(code=WSCloseCode.GOING_AWAY)

    async def finish(self) -> None:
        """Unsubscribes everything once the socket has ended."""
        for cleanup in self.cleanups:
            cleanup()
        self.cleanups.clear()
        self._queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(self._writer, 1.0)


class WebSocketLayer:
    """Routes and the connection registry."""

    def __init__(self, server: BybitServer) -> None:
        """Hooks into the server's routes, faults and shutdown."""
        self.server = server
        self.venue: BybitVenue = server.venue
        self.connections: set[Connection] = set()
        self._tasks: set[asyncio.Future[None]] = set()
        self._drops: list[dict[str, Any]] = []
        server.routes_hooks.append(self._routes)
        server.shutdown_hooks.append(self.shutdown)
        server.disconnect = self.disconnect
        server.arm_trade_drop = self.arm_trade_drop
        server.clear_trade_drops = self._drops.clear

    def _routes(self, app: web.Application) -> None:
        for category in Category:
            app.router.add_get(f"/v5/public/{category.value}", self._public_handler)
        app.router.add_get("/v5/private", self._private_handler)
        app.router.add_get("/v5/trade", self._trade_handler)

    # ------------------------------------------------------------- registry
    def disconnect(self, kind: str, api_key: str | None) -> int:
        """Closes public, private, trade or all connections (of one account if given)."""
        victims = [
            c
            for c in self.connections
            if (kind == "all" or c.kind == kind)
            and (api_key is None or c.kind == "public" or c.account == api_key)
        ]
        for conn in victims:
            self._spawn(conn.close(flush=False))
        return len(victims)

    def arm_trade_drop(self, api_key: str | None, spec: dict[str, Any]) -> None:
        """Arms a trade-WebSocket drop (see :mod:`ems.sim.bybit.server`)."""
        op = spec.get("op")
        if op is not None and op not in TRADE_OPS:
            raise ValueError(f"unknown op {op!r}")
        skip = int(spec.get("skip", 0))
        if skip < 0:
            raise ValueError("skip must be >= 0")
        self._drops.append(
            {"apiKey": api_key, "op": op, "skip": skip, "apply": bool(spec.get("apply", True))}
        )

    def _take_drop(self, account: str, op: str) -> dict[str, Any] | None:
        for drop in self._drops:
            if drop["apiKey"] not in (None, account) or drop["op"] not in (None, op):
                continue
            if drop["skip"] > 0:
                drop["skip"] -= 1
                return None
            self._drops.remove(drop)
            return drop
        return None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def shutdown(self) -> None:
        """Closes every connection."""
        await asyncio.gather(*(c.close() for c in list(self.connections)))

    async def _accept(self, request: web.Request, kind: str, category: str = "") -> Connection:
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, autoping=True, compress=False)
        await ws.prepare(request)
        conn = Connection(ws, kind, category)
        self.connections.add(conn)
        return conn

    async def _serve(
        self, conn: Connection, handle: Callable[[Connection, dict[str, Any]], Any]
    ) -> None:
        try:
            async for msg in conn.ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = orjson.loads(msg.data)
                except orjson.JSONDecodeError:
                    conn.send_json({"success": False, "ret_msg": "invalid JSON", "op": ""})
                    continue
                if not isinstance(data, dict):
                    continue
                result = handle(conn, data)
                if asyncio.iscoroutine(result):
                    await result
                if conn.dropping:
                    break
        finally:
            self.connections.discard(conn)
            await conn.finish()

    # ------------------------------------------------------------- public
    async def _public_handler(self, request: web.Request) -> web.WebSocketResponse:
        category = request.path.rsplit("/", 1)[1]
        conn = await self._accept(request, "public", category)

        def unsubscribe_all() -> None:
            for topic, sink in conn.public_topics.items():
                self.venue.public.unsubscribe(category, topic, sink)

        conn.cleanups.append(unsubscribe_all)
        await self._serve(conn, self._public_message)
        return conn.ws

    def _public_message(self, conn: Connection, data: dict[str, Any]) -> None:
        op = data.get("op")
        req_id = data.get("req_id", "")
        option = conn.category == Category.OPTION.value
        if op == "ping":
            if option:
                conn.send_json({"args": [str(now_ms())], "op": "pong"})
            else:
                reply: dict[str, Any] = {
                    "success": True,
                    "ret_msg": "pong",
                    "conn_id": conn.conn_id,
                }
                if conn.category != Category.SPOT.value or req_id:
                    reply["req_id"] = req_id
                reply["op"] = "ping"
                conn.send_json(reply)
            return
        if op not in ("subscribe", "unsubscribe"):
            conn.send_json(
                {
                    "success": False,
                    "ret_msg": f"Unrecognized request: {op}",
                    "conn_id": conn.conn_id,
                    "req_id": req_id,
                    "op": op,
                }
            )
            return
        args = data.get("args")
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            self._public_reply(conn, op, req_id, False, "args must be a list of topics", [], [])
            return
        if conn.category == Category.SPOT.value and len(args) > 10:
            self._public_reply(conn, op, req_id, False, "args size >10", [], list(args))
            return
        ok, failed = [], []
        snapshots = []
        for topic in args:
            if op == "unsubscribe":
                sink = conn.public_topics.pop(topic, None)
                if sink is not None:
                    self.venue.public.unsubscribe(conn.category, topic, sink)
                    ok.append(topic)
                else:
                    failed.append(topic)
                continue
            snapshot = self._check_public_topic(conn.category, topic)
            if snapshot is False:
                failed.append(topic)
                continue
            if topic not in conn.public_topics:
                sink = conn.send
                conn.public_topics[topic] = sink
                self.venue.public.subscribe(conn.category, topic, sink)
            ok.append(topic)
            if snapshot is not None and snapshot is not True:
                snapshots.append(snapshot)
        message = "" if not failed else f"Invalid topics: {','.join(failed)}"
        self._public_reply(conn, op, req_id, not failed, message, ok, failed)
        for snap in snapshots:
            conn.send_json(snap)

    def _check_public_topic(self, category: str, topic: str) -> Any:
        """False for an unknown topic; an orderbook snapshot to send; True otherwise."""
        parts = topic.split(".")
        cat = Category(category)
        if parts[0] == "publicTrade" and len(parts) == 2:
            name = parts[1]
            if cat is Category.OPTION:
                return (
                    any(
                        i.base == name for i in self.venue.instruments.values() if i.category is cat
                    )
                    or False
                )
            return f"{category}/{name}" in self.venue.instruments or False
        if parts[0] == "orderbook" and len(parts) == 3 and parts[1].isdigit():
            depth = int(parts[1])
            inst = self.venue.instruments.get(f"{category}/{parts[2]}")
            if inst is None or depth not in PUBLIC_DEPTHS[cat]:
                return False
            return self.venue.orderbook_snapshot(inst, depth)
        return False

    @staticmethod
    def _public_reply(
        conn: Connection,
        op: str,
        req_id: str,
        success: bool,
        message: str,
        ok: list[str],
        failed: list[str],
    ) -> None:
        if conn.category == Category.OPTION.value:
            conn.send_json(
                {
                    "success": success,
                    "conn_id": conn.conn_id,
                    "req_id": req_id,
                    "data": {"failTopics": failed, "successTopics": ok},
                    "type": "COMMAND_RESP",
                }
            )
            return
        ret_msg = message or (op if conn.category == Category.SPOT.value else "")
        conn.send_json(
            {
                "success": success,
                "ret_msg": ret_msg,
                "conn_id": conn.conn_id,
                "req_id": req_id,
                "op": op,
            }
        )

    # ------------------------------------------------------------- private
    async def _private_handler(self, request: web.Request) -> web.WebSocketResponse:
        conn = await self._accept(request, "private")
        await self._serve(conn, self._private_message)
        return conn.ws

    def _auth(self, conn: Connection, data: dict[str, Any]) -> BybitError | None:
        if conn.account is not None:
            return BybitError(20001, "Repeat auth")
        try:
            conn.account = check_ws_auth(data.get("args"), self.server.secrets)
        except BybitError as exc:
            return exc
        return None

    def _private_message(self, conn: Connection, data: dict[str, Any]) -> None:
        op = data.get("op")
        req_id = data.get("req_id")
        base: dict[str, Any] = {} if req_id is None else {"req_id": req_id}
        if op == "ping":
            conn.send_json({**base, "op": "pong", "args": [str(now_ms())], "conn_id": conn.conn_id})
            return
        if op == "auth":
            error = self._auth(conn, data)
            if error is None and conn.account is not None:
                account = conn.account
                sink = self._private_sink(conn)
                self.venue.private.subscribe(account, sink)
                conn.cleanups.append(lambda: self.venue.private.unsubscribe(account, sink))
            conn.send_json(
                {
                    **base,
                    "success": error is None,
                    "ret_msg": "" if error is None else error.msg,
                    "op": "auth",
                    "conn_id": conn.conn_id,
                }
            )
            return
        if op in ("subscribe", "unsubscribe"):
            if conn.account is None:
                conn.send_json(
                    {
                        **base,
                        "success": False,
                        "ret_msg": "Request not authorized",
                        "op": op,
                        "conn_id": conn.conn_id,
                    }
                )
                return
            args = data.get("args")
            bad = not isinstance(args, list) or not all(
                isinstance(a, str) and self._private_topic_ok(a) for a in args
            )
            if bad:
                conn.send_json(
                    {
                        **base,
                        "success": False,
                        "ret_msg": f"Invalid topic: {args}",
                        "op": op,
                        "conn_id": conn.conn_id,
                    }
                )
                return
            assert isinstance(args, list)
            topics = set(args)
            if op == "subscribe":
                mixed = {t.split(".")[0] for t in topics | conn.private_topics if "." not in t} & {
                    t.split(".")[0] for t in topics | conn.private_topics if "." in t
                }
                if mixed:
                    conn.send_json(
                        {
                            **base,
                            "success": False,
                            "ret_msg": "All-In-One topic and Categorised topic "
                            "cannot be subscribed together",
                            "op": op,
                            "conn_id": conn.conn_id,
                        }
                    )
                    return
                conn.private_topics |= topics
            else:
                conn.private_topics -= topics
            conn.send_json(
                {**base, "success": True, "ret_msg": "", "op": op, "conn_id": conn.conn_id}
            )
            return
        conn.send_json(
            {
                **base,
                "success": False,
                "ret_msg": f"Unrecognized request: {op}",
                "op": op,
                "conn_id": conn.conn_id,
            }
        )

    @staticmethod
    def _private_topic_ok(topic: str) -> bool:
        kind, _, category = topic.partition(".")
        if kind not in PRIVATE_TOPICS:
            return False
        if not category:
            return True
        if kind == "wallet":
            return False
        valid = {c.value for c in Category}
        if kind == "position":
            valid.discard(Category.SPOT.value)
        return category in valid

    def _private_sink(self, conn: Connection) -> Callable[[str, str, list[dict[str, Any]]], None]:
        def sink(kind: str, category: str, items: list[dict[str, Any]]) -> None:
            if kind in conn.private_topics:
                topic = kind
            elif f"{kind}.{category}" in conn.private_topics:
                topic = f"{kind}.{category}"
            else:
                return
            message: dict[str, Any] = {
                "id": self.venue.push_id(),
                "topic": topic,
                "creationTime": now_ms(),
                "data": items,
            }
            conn.send_json(message)

        return sink

    # ------------------------------------------------------------- trade
    async def _trade_handler(self, request: web.Request) -> web.WebSocketResponse:
        conn = await self._accept(request, "trade")
        await self._serve(conn, self._trade_message)
        return conn.ws

    def _trade_reply(
        self,
        conn: Connection,
        data: dict[str, Any],
        code: int,
        msg: str,
        result: Any = None,
        ext: Any = None,
        header: dict[str, str] | None = None,
    ) -> None:
        reply: dict[str, Any] = {}
        if "reqId" in data:
            reply["reqId"] = data["reqId"]
        reply.update({"retCode": code, "retMsg": msg, "op": data.get("op", "")})
        if data.get("op") not in ("auth",):
            reply["data"] = result if result is not None else {}
            reply["retExtInfo"] = ext if ext is not None else {}
            if header is not None:
                reply["header"] = header
        reply["connId"] = conn.conn_id
        conn.send_json(reply)

    def _trade_message(self, conn: Connection, data: dict[str, Any]) -> Any:
        op = str(data.get("op", ""))
        if op == "ping":
            conn.send_json(
                {
                    "retCode": 0,
                    "retMsg": "OK",
                    "op": "pong",
                    "data": [str(now_ms())],
                    "connId": conn.conn_id,
                }
            )
            return None
        if op == "auth":
            error = self._auth(conn, data)
            if error is None:
                self._trade_reply(conn, data, 0, "OK")
            else:
                self._trade_reply(conn, data, error.code, error.msg)
            return None
        kind = TRADE_OPS.get(op)
        if kind is None:
            self._trade_reply(conn, data, 10404, f"op type is not found: {op}")
            return None
        if conn.account is None:
            self._trade_reply(conn, data, 10001, "Request not authorized")
            return None
        account = conn.account
        req_id = data.get("reqId")
        if req_id is not None:
            rid = str(req_id)
            if len(rid) > 36:
                self._trade_reply(conn, data, 10001, "reqId is too long")
                return None
            if rid in conn.req_ids:
                self._trade_reply(conn, data, 20006, "reqId is duplicated")
                return None
            conn.req_ids.add(rid)
        self.venue.count(account, op)
        drop = self._take_drop(account, op)
        if drop is not None:
            if drop["apply"]:
                with contextlib.suppress(Exception):
                    self._run_trade_op(account, kind, data)
            conn.dropping = True
            log.info("trade drop: %s applied=%s; closing %s", op, drop["apply"], conn.conn_id)
            return conn.close(flush=False)
        try:
            result, ext = self._run_trade_op(account, kind, data)
        except BybitError as exc:
            self._trade_reply(conn, data, exc.code, exc.msg, header=self._header())
            return None
        self._trade_reply(conn, data, 0, "OK", result, ext, self._header())
        return None

    def _run_trade_op(self, account: str, kind: str, data: dict[str, Any]) -> tuple[Any, Any]:
        header = data.get("header")
        if not isinstance(header, dict):
            raise BybitError(10001, "header is required")
        check_timestamp(header.get("X-BAPI-TIMESTAMP"), header.get("X-BAPI-RECV-WINDOW"))
        args = data.get("args")
        if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
            raise BybitError(10001, "args must hold one object")
        item = args[0]
        v = self.venue
        if kind.endswith("-batch"):
            try:
                v.category(item.get("category"))
            except BybitError:
                raise BybitError(10404, "category is not correct/supported") from None
            return v.batch(account, kind.split("-")[0], item)
        try:
            category = v.category(item.get("category"))
        except BybitError:
            raise BybitError(10404, "category is not correct/supported") from None
        handler = {"create": v.create, "amend": v.amend, "cancel": v.cancel}[kind]
        return handler(account, category, item), {}

    @staticmethod
    def _header() -> dict[str, str]:
        now = now_ms()
        return {
            "X-Bapi-Limit": "20",
            "X-Bapi-Limit-Status": "19",
            "X-Bapi-Limit-Reset-Timestamp": str(now),
            "Traceid": uuid.uuid4().hex,
            "Timenow": str(now),
        }


def attach_websockets(server: BybitServer) -> WebSocketLayer:
    """Adds the WebSocket routes to a server."""
    return WebSocketLayer(server)
