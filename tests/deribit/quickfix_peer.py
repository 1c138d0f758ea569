"""A QuickFIX peer in its own process, driven by JSON lines (stdin: commands, stdout: events).

`python quickfix_peer.py acceptor PORT TARGET_COMP_ID USERNAME SECRET LOGDIR`
    A tiny Deribit: checks the Logon's RawData/Password with hashlib, answers
    SecurityListRequest, RequestForPositions, NewOrderSingle and OrderCancelRequest.
`python quickfix_peer.py initiator HOST PORT SENDER_COMP_ID USERNAME SECRET LOGDIR`
    Signs Deribit's Logon in toAdmin and sends what it is told to.

Commands: `{"cmd": "send", "type": "D", "fields": [[11, "x"], ...]}`,
`{"cmd": "skip", "n": 2}` (jump our outgoing MsgSeqNum: a gap on purpose), `{"cmd": "stop"}`.
Events: `{"event": "logon"}`, `{"event": "refused"}`, `{"event": "app", "type": .., "fields":
{tag: value}, "possDup": bool}`, `{"event": "admin-out", "type": ..}`.

The QuickFIX Python bindings can crash while tearing down their threads; a separate
process keeps that away from pytest (the process leaves with os._exit).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import sys
import threading
import time
import uuid
from typing import Any

import quickfix as fix

LOCK = threading.Lock()
TAGS = (
    11,
    37,
    41,
    55,
    54,
    38,
    44,
    40,
    59,
    18,
    39,
    150,
    14,
    151,
    6,
    31,
    32,
    527,
    58,
    320,
    710,
    533,
    9001,
)


def emit(event: dict[str, Any]) -> None:
    with LOCK:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


def password(raw: str, secret: str) -> str:
    return base64.b64encode(hashlib.sha256((raw + secret).encode()).digest()).decode()


def get(msg: Any, tag: int) -> str | None:
    return msg.getField(tag) if msg.isSetField(tag) else None


def new(msg_type: str, fields: list[tuple[int, str]]) -> Any:
    out = fix.Message()
    out.getHeader().setField(fix.StringField(35, msg_type))
    for tag, value in fields:
        out.setField(fix.StringField(tag, value))
    return out


class Peer(fix.Application):  # type: ignore[misc]
    def __init__(self, role: str, username: str, secret: str) -> None:
        super().__init__()
        self.role, self.username, self.secret = role, username, secret
        self.session: Any = None
        self.orders: dict[str, str] = {}
        self.ids = itertools.count(500)

    def onCreate(self, session_id: Any) -> None:
        self.session = session_id.toString()

    def onLogon(self, session_id: Any) -> None:
        emit({"event": "logon"})

    def onLogout(self, session_id: Any) -> None:
        emit({"event": "logout"})

    def toAdmin(self, message: Any, session_id: Any) -> None:
        kind = message.getHeader().getField(35)
        if kind == "A" and self.role == "initiator":
            raw = f"{int(time.time() * 1000)}.{base64.b64encode(uuid.uuid4().bytes * 2).decode()}"
            for tag, value in ((95, str(len(raw))), (96, raw), (553, self.username),
                               (554, password(raw, self.secret)), (9015, "Y")):  # fmt: skip
                message.setField(fix.StringField(tag, value))
        emit({"event": "admin-out", "type": kind})

    def fromAdmin(self, message: Any, session_id: Any) -> None:
        if self.role != "acceptor" or message.getHeader().getField(35) != "A":
            return
        raw = get(message, 96) or ""
        if get(message, 553) != self.username or get(message, 554) != password(raw, self.secret):
            emit({"event": "refused"})
            raise fix.RejectLogon("invalid_credentials")

    def toApp(self, message: Any, session_id: Any) -> None:
        pass

    def fromApp(self, message: Any, session_id: Any) -> None:
        kind = message.getHeader().getField(35)
        fields = {str(t): get(message, t) for t in TAGS if message.isSetField(t)}
        emit({"event": "app", "type": kind, "fields": fields,
              "possDup": get(message.getHeader(), 43) == "Y"})  # fmt: skip
        if self.role == "acceptor":
            reply = self.answer(kind, fields)
            if reply is not None:
                fix.Session.sendToTarget(reply, session_id)

    def answer(self, kind: str, f: dict[str, str | None]) -> Any:
        if kind == "x":
            reply = new("y", [(320, f.get("320") or ""), (560, "0")])
            group = fix.Group(146, 55)
            for tag, value in ((55, "BTC-PERPETUAL"), (15, "BTC"), (969, "0.5"), (562, "1"),
                               (231, "10")):  # fmt: skip
                group.setField(fix.StringField(tag, value))
            reply.addGroup(group)
            return reply
        if kind == "AN":
            return new("AP", [(721, "p1"), (710, f.get("710") or ""), (724, "0"), (728, "0"),
                              (702, "0")])  # fmt: skip
        if kind == "D":
            order_id = str(next(self.ids))
            self.orders[order_id] = f.get("11") or ""
            return self.report(order_id, f.get("11") or "", "0", f)
        if kind == "F":
            order_id = f.get("41") or ""
            return self.report(order_id, self.orders.get(order_id, ""), "4", f)
        return None

    @staticmethod
    def report(order_id: str, client_id: str, status: str, f: dict[str, str | None]) -> Any:
        qty = f.get("38") or "1"
        return new("8", [
            (37, order_id), (11, f"srv-{order_id}"), (41, client_id), (17, f"e{order_id}{status}"),
            (150, status), (39, status), (55, f.get("55") or "BTC-PERPETUAL"),
            (54, f.get("54") or "1"), (38, qty), (151, "0" if status == "4" else qty),
            (14, "0"), (6, "0"), (44, f.get("44") or "30000"), (40, "2"), (59, "1"),
        ])  # fmt: skip


def main(argv: list[str]) -> None:
    role = argv[0]
    if role == "acceptor":
        port, target, username, secret, logdir = argv[1:6]
        connection = f"ConnectionType=acceptor\nSocketAcceptPort={port}\n"
        session = f"SenderCompID=DERIBITSERVER\nTargetCompID={target}\n"
    else:
        host, port, sender, username, secret, logdir = argv[1:7]
        connection = (
            f"ConnectionType=initiator\nSocketConnectHost={host}\nSocketConnectPort={port}\n"
            "HeartBtInt=10\nReconnectInterval=1\n"
        )
        session = f"SenderCompID={sender}\nTargetCompID=DERIBITSERVER\n"
    path = os.path.join(logdir, f"{role}.cfg")
    with open(path, "w") as out:
        out.write(
            f"[DEFAULT]\n{connection}StartTime=00:00:00\nEndTime=00:00:00\n"
            f"UseDataDictionary=N\nValidateUserDefinedFields=N\n"
            f"[SESSION]\nBeginString=FIX.4.4\n{session}"
        )
    settings = fix.SessionSettings(path)
    app = Peer(role, username, secret)
    # No message log: QuickFIX would write the Logon, with its Username (the API key),
    # in clear to a file, and the run's secrets check rightly counts that as a leak.
    store = fix.MemoryStoreFactory()
    engine = (fix.SocketAcceptor if role == "acceptor" else fix.SocketInitiator)(
        app, store, settings
    )
    engine.start()
    emit({"event": "started"})
    for line in sys.stdin:
        cmd = json.loads(line)
        sessions = list(engine.getSessions())
        session_id = sessions[0] if sessions else None
        if cmd["cmd"] == "send" and session_id is not None:
            fix.Session.sendToTarget(new(cmd["type"], [tuple(x) for x in cmd["fields"]]),
                                     session_id)  # fmt: skip
        elif cmd["cmd"] == "skip" and session_id is not None:
            live = fix.Session.lookupSession(session_id)
            live.setNextSenderMsgSeqNum(live.getExpectedSenderNum() + int(cmd["n"]))
            emit({"event": "skipped"})
        elif cmd["cmd"] == "stop":
            break
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
