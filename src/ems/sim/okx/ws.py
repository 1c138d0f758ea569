"""WebSocket paths of the simulated OKX: ``/ws/v5/public``, ``/private``, ``/business``.

* Keepalive: the text ``ping`` is answered with ``pong``; a connection on which no data
  has moved either way (pushes, requests, text or protocol pings) for 30 s is closed.
* ``login`` (private and business): ``{"op":"login","args":[{"apiKey","passphrase",
  "timestamp","sign"}]}`` with sign = base64 HMAC-SHA256 over ``timestamp + "GET" +
  "/users/self/verify"`` and a timestamp in seconds (string or number).
* ``subscribe`` / ``unsubscribe``: public ``trades``, ``books`` (snapshot then 100 ms
  updates with ``seqId``/``prevSeqId`` and ``checksum``), ``books5``, ``bbo-tbt``,
  ``tickers``; business ``trades-all``; private ``orders``, ``account``, ``positions``.
* Order operations on ``/private`` after login: ``order``, ``batch-orders``,
  ``cancel-order``, ``batch-cancel-orders``, ``amend-order``, ``batch-amend-orders`` (20
  per batch), ``mass-cancel`` (option MMP only, refused here).  Arguments may name the
  instrument by ``instId`` or ``instIdCode``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import time
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from ems.sim.binance.streams import UserHub
from ems.sim.okx.auth import login_stamp_ok, now_us, signature_ok
from ems.sim.okx.rest import OkxServer
from ems.sim.okx.venue import BATCH_MAX, ItemError

log = logging.getLogger("ems.sim.okx.ws")

IDLE_S = 30.0
"""A connection with no data either way for this long is closed."""
IDLE_CHECK_S = 5.0
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")
PUBLIC_CHANNELS = {"trades", "books", "books5", "bbo-tbt", "tickers"}
BUSINESS_CHANNELS = {"trades-all"}
PRIVATE_CHANNELS = {"orders", "account", "positions"}
ORDER_OPS = {
    "order": ("place", False),
    "batch-orders": ("place", True),
    "cancel-order": ("cancel", False),
    "batch-cancel-orders": ("cancel", True),
    "amend-order": ("amend", False),
    "batch-amend-orders": ("amend", True),
}
_conn_ids = itertools.count(1)


class _Drop(Exception):
    """The armed drop fault fired: close the connection without answering."""


class Connection:
    """One accepted WebSocket with an ordered send queue and its subscriptions."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, path: str) -> None:
        """``path`` is public, private or business."""
        self.ws = ws
        self.request = request
        self.path = path
        self.conn_id = f"{next(_conn_ids):08x}"
        self.api_key: str | None = None
        self.public: set[tuple[str, str]] = set()
        self.private: list[dict[str, Any]] = []
        self.last_activity = time.monotonic()
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
        self.last_activity = time.monotonic()
        self._queue.put_nowait(data)

    def send_json(self, obj: Any) -> None:
        """Queues one JSON object."""
        self.send(orjson.dumps(obj))

    def abort(self) -> None:
        """Drops the TCP connection at once (no close frame), as a network fault would."""
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def close(self) -> None:
        """Closes with a close frame after what is queued."""
        self._queue.put_nowait(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._writer), 1.0)
        with contextlib.suppress(Exception):
            await self.ws.close()

    async def finish(self) -> None:
        """Stops the writer once the socket has ended."""
        self._queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(self._writer, 1.0)


def _error(conn: Connection, code: str, msg: str, req_id: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"event": "error", "code": code, "msg": msg, "connId": conn.conn_id}
    if req_id is not None:
        out["id"] = req_id
    return out


class OkxWebSockets:
    """Routes, connection registry, fan-out and WebSocket faults of the OKX simulator."""

    def __init__(self, server: OkxServer) -> None:
        """Hooks into the server (routes, faults, stats, shutdown) and the venue's sinks."""
        self.server = server
        self.venue = server.venue
        self.connections: set[Connection] = set()
        self.users = UserHub()
        self._user_sinks: dict[Connection, Callable[[dict[str, Any]], None]] = {}
        self._subs: dict[tuple[str, str], set[Connection]] = {}
        self._drop_after: dict[str, int] = {}
        self._refuse_until: dict[str, float] = {}
        self.ops: dict[str, dict[str, int]] = {}
        self.items: dict[str, dict[str, int]] = {}
        self.logins: dict[str, int] = {}
        self._tasks: set[asyncio.Future[None]] = set()
        server.routes_hooks.append(self._routes)
        server.shutdown_hooks.append(self.shutdown)
        server.ws_fault = self.fault
        server.stats = self.stats
        self.venue.on_private = lambda key, channel, item: self.users.publish(
            key, {"channel": channel, "item": item}
        )
        self.venue.on_public = self._publish_public
        self.venue.public_wanted = lambda channel, inst_id: (channel, inst_id) in self._subs

    def _routes(self, app: web.Application) -> None:
        for path in ("public", "private", "business"):
            app.router.add_get(f"/ws/v5/{path}", self._handler(path))

    # ------------------------------------------------------------------ admin
    def stats(self, api_key: str, reset: bool) -> dict[str, Any]:
        """What an account sent over WebSocket (``/sim/stats``)."""
        out = {
            "ops": dict(self.ops.get(api_key, {})),
            "items": dict(self.items.get(api_key, {})),
            "logins": self.logins.get(api_key, 0),
        }
        if reset:
            self.ops.pop(api_key, None)
            self.items.pop(api_key, None)
            self.logins.pop(api_key, None)
        return out

    def fault(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Arms or fires a WebSocket fault (see :mod:`ems.sim.okx.rest`)."""
        if spec.get("clear"):
            self._drop_after.clear()
            self._refuse_until.clear()
            self.users.clear_faults()
            self.venue.clear_books_faults()
            return {"armed": []}
        if "books" in spec:
            return self.venue.books_fault(
                str(spec.get("instId", "")), str(spec["books"]), int(spec.get("count", 1))
            )
        if "disconnect" in spec:
            kind = str(spec["disconnect"])
            if kind not in ("public", "private", "business", "all"):
                raise ValueError("disconnect must be public, private, business or all")
            key = spec.get("apiKey")
            victims = [
                c
                for c in self.connections
                if (kind == "all" or c.path == kind)
                and (key is None or c.path == "public" or c.api_key == key)
            ]
            for conn in victims:
                conn.abort()
            refuse_ms = int(spec.get("refuseMs", 0))
            if refuse_ms > 0:
                until = time.monotonic() + refuse_ms / 1000
                for path in ("public", "private", "business") if kind == "all" else (kind,):
                    self._refuse_until[path] = until
            return {"disconnected": len(victims)}
        if "dropPrivate" in spec:
            drop = spec["dropPrivate"]
            key = str(drop.get("apiKey", ""))
            if key not in self.venue.credentials:
                raise ValueError("dropPrivate needs a known apiKey")
            after = int(drop.get("afterItems", 1))
            if after < 1:
                raise ValueError("afterItems must be >= 1")
            self._drop_after[key] = after
            return {"dropPrivate": {"apiKey": key, "afterItems": after}}
        key = str(spec.get("apiKey", ""))
        if key not in self.venue.credentials:
            raise ValueError("userEvents needs a known apiKey")
        count = int(spec.get("count", 1))
        self.users.arm(key, str(spec["userEvents"]), count)
        return {"userEvents": spec["userEvents"], "apiKey": key, "count": count}

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def shutdown(self) -> None:
        """Closes every connection."""
        await asyncio.gather(*(c.close() for c in list(self.connections)))

    # ------------------------------------------------------------------ fan-out
    def _publish_public(self, channel: str, inst_id: str, message: dict[str, Any]) -> None:
        subs = self._subs.get((channel, inst_id))
        if not subs:
            return
        data = orjson.dumps(message)
        for conn in list(subs):
            conn.send(data)

    def _private_sink(self, conn: Connection) -> Callable[[dict[str, Any]], None]:
        def sink(event: dict[str, Any]) -> None:
            channel = event["channel"]
            item = event["item"]
            for arg in conn.private:
                if arg["channel"] != channel:
                    continue
                if channel in ("orders", "positions"):
                    kind = arg.get("instType", "ANY")
                    if kind not in ("ANY", item["instType"]):
                        continue
                    if arg.get("instId") and arg["instId"] != item["instId"]:
                        continue
                    family = arg.get("instFamily")
                    if family and not item["instId"].startswith(family + "-"):
                        continue
                if channel == "account" and arg.get("ccy"):
                    item = {
                        **item,
                        "details": [d for d in item["details"] if d["ccy"] == arg["ccy"]],
                    }
                conn.send_json({"arg": arg, "data": [item]})

        return sink

    # ------------------------------------------------------------------ connections
    def _handler(
        self, path: str
    ) -> Callable[[web.Request], Coroutine[Any, Any, web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            if time.monotonic() < self._refuse_until.get(path, 0.0):
                return web.Response(status=503, text="service unavailable (simulated outage)")
            ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=1 << 20)
            await ws.prepare(request)
            conn = Connection(ws, request, path)
            self.connections.add(conn)
            try:
                await self._serve(conn)
            finally:
                self.connections.discard(conn)
                for key in list(conn.public):
                    subs = self._subs.get(key)
                    if subs is not None:
                        subs.discard(conn)
                        if not subs:
                            del self._subs[key]
                sink = self._user_sinks.pop(conn, None)
                if sink is not None and conn.api_key is not None:
                    self.users.unsubscribe(conn.api_key, sink)
                await conn.finish()
            return ws

        return handle

    async def _serve(self, conn: Connection) -> None:
        ws = conn.ws
        while True:
            try:
                msg = await ws.receive(timeout=IDLE_CHECK_S)
            except TimeoutError:
                if time.monotonic() - conn.last_activity > IDLE_S:
                    log.info("closing idle connection %s", conn.conn_id)
                    await conn.close()
                    return
                continue
            conn.last_activity = time.monotonic()
            if msg.type == WSMsgType.PING:
                await ws.pong(msg.data)
                continue
            if msg.type == WSMsgType.PONG:
                continue
            if msg.type != WSMsgType.TEXT:
                return
            if msg.data == "ping":
                conn.send(b"pong")
                continue
            try:
                request = orjson.loads(msg.data)
                if not isinstance(request, dict):
                    raise ValueError
            except (orjson.JSONDecodeError, ValueError):
                conn.send_json(_error(conn, "60012", f"Illegal request: {msg.data[:200]}"))
                continue
            try:
                self._dispatch(conn, request)
            except _Drop:
                log.info("drop fault: aborting private connection %s", conn.conn_id)
                conn.abort()
                return

    def _dispatch(self, conn: Connection, request: dict[str, Any]) -> None:
        op = request.get("op")
        req_id = request.get("id")
        if op == "login":
            self._login(conn, request)
        elif op in ("subscribe", "unsubscribe"):
            self._subscribe(conn, request, op == "subscribe")
        elif op in ORDER_OPS or op == "mass-cancel":
            self._order_op(conn, request)
        else:
            conn.send_json(
                _error(
                    conn,
                    "60012",
                    f"Illegal request: {orjson.dumps(request).decode()[:200]}",
                    req_id,
                )
            )

    def _login(self, conn: Connection, request: dict[str, Any]) -> None:
        args = request.get("args")
        if conn.path == "public":
            conn.send_json(_error(conn, "60012", "Illegal request: login on the public path"))
            return
        if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
            conn.send_json(_error(conn, "60012", "Illegal request: login needs one argument"))
            return
        arg = args[0]
        key = str(arg.get("apiKey", ""))
        credential = self.venue.credentials.get(key)
        stamp = arg.get("timestamp")
        if credential is None:
            conn.send_json(_error(conn, "60005", "Invalid OK-ACCESS-KEY"))
            return
        if str(arg.get("passphrase", "")) != credential.passphrase:
            conn.send_json(_error(conn, "60024", "Wrong passphrase"))
            return
        if not login_stamp_ok(stamp):
            conn.send_json(_error(conn, "60004", "Invalid timestamp"))
            return
        payload = f"{stamp}GET/users/self/verify".encode()
        if not signature_ok(credential.secret_key, payload, str(arg.get("sign", ""))):
            conn.send_json(_error(conn, "60007", "Invalid sign"))
            return
        if conn.api_key is not None and conn.api_key != key:
            old = self._user_sinks.pop(conn, None)
            if old is not None:
                self.users.unsubscribe(conn.api_key, old)
            conn.private.clear()
        conn.api_key = key
        self.logins[key] = self.logins.get(key, 0) + 1
        conn.send_json({"event": "login", "code": "0", "msg": "", "connId": conn.conn_id})

    def _subscribe(self, conn: Connection, request: dict[str, Any], on: bool) -> None:
        args = request.get("args")
        req_id = request.get("id")
        if not isinstance(args, list) or not args:
            conn.send_json(_error(conn, "60012", "Illegal request: args", req_id))
            return
        for arg in args:
            if not isinstance(arg, dict) or not isinstance(arg.get("channel"), str):
                conn.send_json(_error(conn, "60012", f"Illegal request: {arg}", req_id))
                continue
            channel = arg["channel"]
            allowed = {
                "public": PUBLIC_CHANNELS,
                "business": BUSINESS_CHANNELS,
                "private": PRIVATE_CHANNELS,
            }[conn.path]
            if channel not in allowed:
                conn.send_json(
                    _error(
                        conn,
                        "60018",
                        f"Wrong URL or channel:{channel},instId:{arg.get('instId', '')} doesn't "
                        "exist. Please use the correct URL, channel and parameters referring to "
                        "API document.",
                        req_id,
                    )
                )
                continue
            if channel in PRIVATE_CHANNELS:
                if conn.api_key is None:
                    conn.send_json(_error(conn, "60011", "Please log in", req_id))
                    continue
                self._private_sub(conn, arg, on, req_id)
                continue
            inst_id = arg.get("instId")
            if inst_id not in self.venue.specs:
                conn.send_json(
                    _error(
                        conn,
                        "60018",
                        f"Wrong URL or channel:{channel},instId:{inst_id} doesn't exist. Please "
                        "use the correct URL, channel and parameters referring to API document.",
                        req_id,
                    )
                )
                continue
            key = (channel, inst_id)
            reply = {
                "event": "subscribe" if on else "unsubscribe",
                "arg": arg,
                "connId": conn.conn_id,
            }
            if req_id is not None:
                reply["id"] = req_id
            conn.send_json(reply)
            if on:
                conn.public.add(key)
                self._subs.setdefault(key, set()).add(conn)
                self._initial_public(conn, channel, inst_id)
            else:
                conn.public.discard(key)
                subs = self._subs.get(key)
                if subs is not None:
                    subs.discard(conn)
                    if not subs:
                        del self._subs[key]

    def _initial_public(self, conn: Connection, channel: str, inst_id: str) -> None:
        if channel == "books":
            conn.send_json(self.venue.books_message(inst_id))
        elif channel == "tickers":
            conn.send_json(
                {
                    "arg": {"channel": "tickers", "instId": inst_id},
                    "data": [self.venue.ticker(inst_id)],
                }
            )

    def _private_sub(self, conn: Connection, arg: dict[str, Any], on: bool, req_id: Any) -> None:
        assert conn.api_key is not None
        channel = arg["channel"]
        if channel in ("orders", "positions") and arg.get("instType", "") not in (
            "ANY", "SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION",
        ):  # fmt: skip
            conn.send_json(_error(conn, "60012", f"Illegal request: {arg}", req_id))
            return
        stored = {k: v for k, v in arg.items() if v not in (None, "")}
        stored["uid"] = str(abs(hash(conn.api_key)) % 10**15)
        reply = {"event": "subscribe" if on else "unsubscribe", "arg": arg, "connId": conn.conn_id}
        if req_id is not None:
            reply["id"] = req_id
        conn.send_json(reply)
        same = [a for a in conn.private if {**a, "uid": ""} == {**stored, "uid": ""}]
        if not on:
            for a in same:
                conn.private.remove(a)
            return
        if same:
            return
        conn.private.append(stored)
        if conn not in self._user_sinks:
            sink = self._private_sink(conn)
            self._user_sinks[conn] = sink
            self.users.subscribe(conn.api_key, sink)
        if channel == "account":
            item = self.venue.balance_view(conn.api_key)
            if stored.get("ccy"):
                item["details"] = [d for d in item["details"] if d["ccy"] == stored["ccy"]]
            conn.send_json({"arg": stored, "data": [item]})
        elif channel == "positions":
            conn.send_json({"arg": stored, "data": self.venue.positions_list(conn.api_key, {})})

    def _order_op(self, conn: Connection, request: dict[str, Any]) -> None:
        in_time = str(now_us())
        op = str(request.get("op"))
        req_id = request.get("id")
        base = {"id": req_id, "op": op}
        if conn.path != "private":
            conn.send_json({**base, "code": "60012", "msg": "Illegal request: order operations "
                            "are served on /ws/v5/private", "data": []})  # fmt: skip
            return
        if conn.api_key is None:
            conn.send_json({**base, "code": "60011", "msg": "Please log in", "data": []})
            return
        key = conn.api_key
        # The id is optional for some clients (python-okx); when given it must be valid.
        if req_id is not None and (not isinstance(req_id, str) or not REQUEST_ID_RE.match(req_id)):
            conn.send_json({**base, "code": "60012", "msg": "Illegal request: id must be 1 to 32 "
                            "letters or digits", "data": []})  # fmt: skip
            return
        args = request.get("args")
        ops = self.ops.setdefault(key, {})
        ops[op] = ops.get(op, 0) + 1
        if op == "mass-cancel":
            conn.send_json(
                {**base, "code": "1", "msg": "", "inTime": in_time, "outTime": str(now_us()),
                 "data": [{"result": False, "sCode": "51000",
                           "sMsg": "Parameter instType error: mass-cancel is for OPTION only"}]}
            )  # fmt: skip
            return
        method, batch = ORDER_OPS[op]
        limit = BATCH_MAX if batch else 1
        if not isinstance(args, list) or not args or len(args) > limit:
            conn.send_json({**base, "code": "60012", "msg": f"Illegal request: {op} takes 1 to "
                            f"{limit} arguments", "data": []})  # fmt: skip
            return
        items = self.items.setdefault(key, {})
        items[op] = items.get(op, 0) + len(args)
        fn = getattr(self.venue, method)
        data = []
        failed = 0
        for arg in args:
            try:
                data.append(fn(key, arg))
            except ItemError as exc:
                failed += 1
                entry = {
                    k: (arg.get(k, "") if isinstance(arg, dict) else "")
                    for k in ("ordId", "clOrdId")
                }
                if method == "place":
                    entry["tag"] = arg.get("tag", "") if isinstance(arg, dict) else ""
                entry.update({"ts": str(now_us() // 1000), "sCode": exc.s_code, "sMsg": exc.s_msg})
                data.append(entry)
            remaining = self._drop_after.get(key)
            if remaining is not None:
                remaining -= 1
                if remaining <= 0:
                    del self._drop_after[key]
                    raise _Drop
                self._drop_after[key] = remaining
        if failed == 0:
            code, msg = "0", ""
        elif failed == len(args):
            code, msg = "1", ""
        else:
            code, msg = "2", ""
        conn.send_json(
            {**base, "code": code, "msg": msg, "data": data, "inTime": in_time,
             "outTime": str(now_us())}
        )  # fmt: skip


def attach_websockets(server: OkxServer) -> OkxWebSockets:
    """Adds the WebSocket paths to an OKX server."""
    return OkxWebSockets(server)
