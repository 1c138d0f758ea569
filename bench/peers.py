"""What a Python team would write without the compiled core: the peers we measure against.

Each is written the fast way for its library (pre-built decoders, pre-keyed HMAC, bytes
joins), so that a ratio against it is a ratio against the strongest Python-side option.
"""

import base64
import hmac
from bisect import bisect_right
from hashlib import sha256

import msgspec
import orjson
from sortedcontainers import SortedList

# --- JSON: msgspec Structs, lax (strict=False) as the baselines ------------------


class BinanceTrade(msgspec.Struct):
    p: str
    q: str
    m: bool
    T: int


class DepthUpdate(msgspec.Struct):
    e: str
    E: int
    s: str
    U: int
    u: int
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]


class OkxOrder(msgspec.Struct):
    instId: str
    ordId: str
    clOrdId: str
    px: str
    sz: str
    side: str
    ordType: str
    state: str
    accFillSz: str
    avgPx: str
    fillPx: str
    fillSz: str
    uTime: str


class OkxOrderPush(msgspec.Struct):
    data: list[OkxOrder]


class ExecutionReport(msgspec.Struct):
    e: str
    E: int
    s: str
    c: str
    S: str
    o: str
    f: str
    q: str
    p: str
    C: str
    x: str
    X: str
    r: str
    i: int
    l: str  # noqa: E741 (the venue's field name)
    z: str
    L: str
    n: str
    N: str | None
    T: int
    t: int
    m: bool
    Z: str


class OkxTrade(msgspec.Struct):
    instId: str
    tradeId: str
    px: str
    sz: str
    side: str
    ts: str


class OkxTrades(msgspec.Struct):
    data: list[OkxTrade]


class BybitTrade(msgspec.Struct):
    T: int
    s: str
    S: str
    v: str
    p: str
    i: str


class BybitTrades(msgspec.Struct):
    data: list[BybitTrade]


class OkxBookData(msgspec.Struct):
    asks: list[tuple[str, str, str, str]]
    bids: list[tuple[str, str, str, str]]
    ts: str
    checksum: int
    prevSeqId: int
    seqId: int


class OkxBooks(msgspec.Struct):
    action: str
    data: list[OkxBookData]


class BybitBookData(msgspec.Struct):
    s: str
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]
    u: int
    seq: int


class BybitBook(msgspec.Struct):
    topic: str
    type: str
    ts: int
    data: BybitBookData


trade_decoder = msgspec.json.Decoder(BinanceTrade, strict=False)
execution_report_decoder = msgspec.json.Decoder(ExecutionReport, strict=False)
okx_trades_decoder = msgspec.json.Decoder(OkxTrades, strict=False)
bybit_trades_decoder = msgspec.json.Decoder(BybitTrades, strict=False)
okx_books_decoder = msgspec.json.Decoder(OkxBooks, strict=False)
bybit_book_decoder = msgspec.json.Decoder(BybitBook, strict=False)
depth_decoder = msgspec.json.Decoder(DepthUpdate, strict=False)
okx_order_decoder = msgspec.json.Decoder(OkxOrderPush, strict=False)

OKX_FIELDS = tuple(OkxOrder.__struct_fields__)

# --- FIX: a hand-written bytes join, as fast as plain Python gets -----------------------

_HEAD = b"8=FIX.4.4\x019="
_COMP = b"\x0149=CLIENT\x0156=DERIBITSERVER\x0134="


def fix_new_order_single(
    seq: int, cl_ord_id: str, symbol: str, side: str, qty: str, price: str, tif: str, now: str
) -> bytes:
    body = b"".join(
        (
            b"35=D",
            _COMP,
            str(seq).encode(),
            b"\x0152=",
            now.encode(),
            b"\x0111=",
            cl_ord_id.encode(),
            b"\x0155=",
            symbol.encode(),
            b"\x0154=",
            side.encode(),
            b"\x0138=",
            qty.encode(),
            b"\x0140=2\x0144=",
            price.encode(),
            b"\x0159=",
            tif.encode(),
            b"\x01",
        )
    )
    msg = b"%s%d\x01%s" % (_HEAD, len(body), body)
    return b"%s10=%03d\x01" % (msg, sum(msg) & 255)


def simplefix_new_order_single(
    seq: int, cl_ord_id: str, symbol: str, side: str, qty: str, price: str, tif: str, now: str
) -> bytes:
    import simplefix

    m = simplefix.FixMessage()
    m.append_pair(8, "FIX.4.4")
    m.append_pair(35, "D")
    m.append_pair(49, "CLIENT")
    m.append_pair(56, "DERIBITSERVER")
    m.append_pair(34, seq)
    m.append_pair(52, now)
    m.append_pair(11, cl_ord_id)
    m.append_pair(55, symbol)
    m.append_pair(54, side)
    m.append_pair(38, qty)
    m.append_pair(40, "2")
    m.append_pair(44, price)
    m.append_pair(59, tif)
    out: bytes = m.encode()
    return out


def quickfix_new_order_single(
    seq: int, cl_ord_id: str, symbol: str, side: str, qty: str, price: str, tif: str, now: str
) -> bytes:
    import quickfix as qf

    m = qf.Message()
    h = m.getHeader()
    h.setField(qf.BeginString("FIX.4.4"))
    h.setField(qf.MsgType("D"))
    h.setField(qf.SenderCompID("CLIENT"))
    h.setField(qf.TargetCompID("DERIBITSERVER"))
    h.setField(qf.MsgSeqNum(seq))
    h.setField(qf.StringField(52, now))
    m.setField(qf.ClOrdID(cl_ord_id))
    m.setField(qf.Symbol(symbol))
    m.setField(qf.Side(side))
    m.setField(qf.StringField(38, qty))
    m.setField(qf.OrdType("2"))
    m.setField(qf.StringField(44, price))
    m.setField(qf.TimeInForce(tif))
    return str(m.toString()).encode()


# --- Signing: hmac keyed once, copied per message ---------------------------------------


class PyHmac:
    def __init__(self, secret: bytes) -> None:
        self._base = hmac.new(secret, digestmod=sha256)

    def hex(self, payload: bytes) -> str:
        h = self._base.copy()
        h.update(payload)
        return h.hexdigest()

    def base64(self, payload: bytes) -> str:
        h = self._base.copy()
        h.update(payload)
        return base64.b64encode(h.digest()).decode()


# --- Triggers: sortedcontainers, as a Python team would index them ----------------------


class PyTriggerIndex:
    """Up triggers in a SortedList of (level, seq, id, payload); fires a prefix."""

    def __init__(self) -> None:
        self.up: SortedList = SortedList()
        self.down: SortedList = SortedList()
        self.seq = 0

    def add(self, trigger_id: int, direction: int, level: int, payload: bytes) -> None:
        self.seq += 1
        if direction > 0:
            self.up.add((level, self.seq, trigger_id, payload))
        else:
            self.down.add((-level, self.seq, trigger_id, payload))

    def on_trade(self, price: int, aggressor_side: int) -> list[tuple[int, bytes]] | None:
        tree = self.up if aggressor_side > 0 else self.down
        key = price if aggressor_side > 0 else -price
        k = tree.bisect_right((key, float("inf")))
        if not k:
            return None
        fired = [(t[2], t[3]) for t in tree[:k]]
        del tree[:k]
        return fired


def plain_bisect_no_fire(levels: list[int], price: int) -> bool:
    """The least a Python check can do: one bisect on a sorted list of levels."""
    return bisect_right(levels, price) > 0


# --- Batch cancel: build the OKX messages at pull time ---------------------------------


class PyBatchCancel:
    def __init__(self, inst_id: str) -> None:
        self.inst_id = inst_id
        self.orders: dict[str, None] = {}
        self.seq = 0

    def insert(self, order_id: str) -> None:
        self.orders[order_id] = None

    def remove(self, order_id: str) -> None:
        self.orders.pop(order_id, None)

    def pull(self) -> list[bytes]:
        ids = list(self.orders)
        out = []
        for i in range(0, len(ids), 20):
            self.seq += 1
            out.append(
                orjson.dumps(
                    {
                        "id": f"bc{self.seq}",
                        "op": "batch-cancel-orders",
                        "args": [{"instId": self.inst_id, "ordId": o} for o in ids[i : i + 20]],
                    }
                )
            )
        return out
