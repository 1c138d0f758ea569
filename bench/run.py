"""Every hot-path kernel of ems._core against its strongest Python-side peer, same inputs,
same run. Writes bench/results.json and bench/RESULTS.md.

    python bench/run.py            # full run (a few minutes on 2 vCPU)
    python bench/run.py --smoke    # every benchmark a handful of times, < 60 s (CI)
    python bench/run.py --only fix # kernels whose name contains "fix"

Timing: each sample runs the statement `NUMBER` times back to back under timeit (GC off)
and divides; ours and the peer alternate in blocks so that drift hits both. The median
is over samples; p99 is over the same samples (a batch of 16 calls), so it shows jitter
between batches rather than the single worst call. A kernel that raises fails the run.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import frames  # noqa: E402
import peers  # noqa: E402
from ems import _core  # noqa: E402
from report import cpu_model  # noqa: E402

NUMBER = 16
LOAD_AT_START = os.getloadavg()

Namespace = dict[str, Any]


@dataclass
class Bench:
    """A statement timed in a namespace; `capacity` calls fit before `reset` is needed."""

    stmt: str
    setup: Callable[[], Namespace]
    capacity: int = 0
    reset: Callable[[Namespace], None] | None = None
    divisor: int = 1  # report per unit (e.g. per level) instead of per call


@dataclass
class Peer:
    name: str
    bench: Bench
    goal: float | None = None  # required ratio peer_ns / ours_ns

    @property
    def requires(self) -> str | None:
        """The optional library this peer needs, if any."""
        first = self.name.split()[0]
        return first if first in OPTIONAL_PEERS else None


# Peers that may be missing: the run notes them and goes on with the rest.
OPTIONAL_PEERS = {"nautilus_trader", "quickfix", "simplefix"}


def installed(module: str | None) -> bool:
    return module is None or importlib.util.find_spec(module) is not None


@dataclass
class Case:
    kernel: str
    what: str
    ours: Bench
    peers: list[Peer]
    max_ours_ns: float | None = None  # absolute goal
    note: str = ""
    # The instrument's tick and step, where ours gives grid units and a peer gives text.
    grid: tuple[str, str] | None = None
    results: dict[str, Any] = field(default_factory=dict)
    missing: list[Peer] = field(default_factory=list)


@dataclass
class Timing:
    median: float
    p99: float
    samples: int


class Runner:
    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.ns = bench.setup()
        self.timer = timeit.Timer(bench.stmt, globals=self.ns)
        self.used = 0
        self.samples: list[float] = []

    def run(self, count: int) -> None:
        for _ in range(count):
            if self.bench.capacity and self.used + NUMBER > self.bench.capacity:
                assert self.bench.reset is not None
                self.bench.reset(self.ns)
                self.used = 0
            t = self.timer.timeit(NUMBER)
            self.used += NUMBER
            self.samples.append(t * 1e9 / NUMBER / self.bench.divisor)

    def timing(self) -> Timing:
        s = sorted(self.samples)
        p99 = s[min(len(s) - 1, int(len(s) * 0.99))]
        return Timing(statistics.median(s), p99, len(s))


def measure(case: Case, smoke: bool) -> None:
    case.missing = [p for p in case.peers if not installed(p.requires)]
    case.peers = [p for p in case.peers if installed(p.requires)]
    runners = [Runner(case.ours)] + [Runner(p.bench) for p in case.peers]
    # Warm up (and fail fast if anything raises).
    for r in runners:
        r.run(2)
        r.samples.clear()
    if smoke:
        rounds, block = 1, 3
    else:
        rounds, block = 100, 50
    for _ in range(rounds):
        for r in runners:
            r.run(block)
    ours = runners[0].timing()
    case.results = {
        "ours": ours,
        "peers": [(p, r.timing()) for p, r in zip(case.peers, runners[1:], strict=True)],
    }


# --- benchmark definitions ----------------------------------------------------------------


def trade_case() -> Case:
    grid = ("0.00001", "0.00000001")

    def ours() -> Namespace:
        return {"scan": _core.TradeScanner(*grid), "frame": frames.BINANCE_TRADE}

    def msgspec_peer() -> Namespace:
        return {"dec": peers.trade_decoder, "frame": frames.BINANCE_TRADE}

    return Case(
        "trade_parse",
        "Binance trade frame (bytes) -> price, qty, aggressor side, time",
        Bench("scan.binance_trade(frame)", ours),
        [
            Peer(
                "msgspec Struct (4 fields, lax)", Bench("dec.decode(frame)", msgspec_peer), goal=2.0
            )
        ],
        note="ours also converts price and qty to integer grid units; msgspec leaves strings",
        grid=grid,
    )


OKX_ORDER_FIELDS = (
    "symbol",
    "order_id",
    "client_order_id",
    "price",
    "qty",
    "side",
    "order_type",
    "status",
    "cum_qty",
    "avg_price",
    "last_price",
    "last_qty",
    "exch_time",
)
"""The 13 fields of our OKX order update that the okx_order_parse kernels read."""


def okx_order_case(read_fields: bool) -> Case:
    if read_fields:
        ours_stmt = "u = parse(frame)[0]\n" + "\n".join(f"u.{n}" for n in OKX_ORDER_FIELDS)
        peer_stmt = "o = dec.decode(frame).data[0]\n" + "\n".join(
            f"o.{n}" for n in peers.OKX_FIELDS
        )
    else:
        ours_stmt, peer_stmt = "parse(frame)", "dec.decode(frame)"

    def ours() -> Namespace:
        return {"parse": _core.okx_order_updates, "frame": frames.OKX_ORDER}

    def msgspec_peer() -> Namespace:
        return {"dec": peers.okx_order_decoder, "frame": frames.OKX_ORDER}

    suffix = "_read13" if read_fields else ""
    return Case(
        "okx_order_parse" + suffix,
        "OKX orders push (1,250 B, one order) -> 13 fields"
        + (", then all 13 read" if read_fields else " (object only)"),
        Bench(ours_stmt, ours),
        [Peer("msgspec Struct (13 fields, lax)", Bench(peer_stmt, msgspec_peer))],
        note="ours keeps spans and makes a str only when a field is read",
    )


def msgspec_pair(
    kernel: str,
    what: str,
    ours_stmt: str,
    ours_ns: Callable[[], Namespace],
    dec: Any,
    frame: bytes,
    grid: tuple[str, str] | None = None,
) -> Case:
    """A scanner row without a goal in the issue: ours against msgspec on the same bytes."""
    return Case(
        kernel,
        what,
        Bench(ours_stmt, ours_ns),
        [
            Peer(
                "msgspec Struct (lax)",
                Bench("dec.decode(frame)", lambda: {"dec": dec, "frame": frame}),
            )
        ],
        grid=grid,
    )


def other_scanner_cases() -> list[Case]:
    okx_grid, bybit_grid = ("0.1", "0.00000001"), ("0.5", "0.001")
    return [
        msgspec_pair(
            "execution_report_parse",
            "Binance executionReport (spot user data) -> order update (23 fields)",
            "parse(frame)",
            lambda: {"parse": _core.binance_order_update, "frame": frames.EXECUTION_REPORT},
            peers.execution_report_decoder,
            frames.EXECUTION_REPORT,
        ),
        msgspec_pair(
            "okx_trades_parse",
            "OKX trades push (one trade) -> Trade in units",
            "scan.okx_trades(frame)",
            lambda: {"scan": _core.TradeScanner(*okx_grid), "frame": frames.OKX_TRADES},
            peers.okx_trades_decoder,
            frames.OKX_TRADES,
            okx_grid,
        ),
        msgspec_pair(
            "bybit_trades_parse",
            "Bybit publicTrade push (one trade) -> Trade in units",
            "scan.bybit_trades(frame)",
            lambda: {"scan": _core.TradeScanner(*bybit_grid), "frame": frames.BYBIT_TRADES},
            peers.bybit_trades_decoder,
            frames.BYBIT_TRADES,
            bybit_grid,
        ),
        venue_book_case(
            "okx_books_apply",
            "OKX books update, 10+10 levels: parse + seqId chain + apply (ours) vs parse only",
            "okx",
            "0.1",
            "0.0001",
            frames.okx_book_updates(DEPTH_COUNT),
            peers.okx_books_decoder,
        ),
        venue_book_case(
            "bybit_orderbook_apply",
            "Bybit orderbook.50 delta, 10+10 levels: parse + u chain + apply (ours) vs parse only",
            "bybit",
            "0.5",
            "0.001",
            frames.bybit_book_deltas(DEPTH_COUNT),
            peers.bybit_book_decoder,
        ),
    ]


def venue_book_case(
    kernel: str, what: str, venue: str, tick: str, step: str, messages: list[bytes], dec: Any
) -> Case:
    # A first message whose sequence the rest chain onto, as a snapshot.
    if venue == "okx":
        snapshot = (
            b'{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{'
            b'"asks":[["42001.0","1","0","1"]],"bids":[["41999.0","1","0","1"]],"ts":"1",'
            b'"checksum":0,"prevSeqId":-1,"seqId":1}]}'
        )
    else:
        snapshot = (
            b'{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT",'
            b'"b":[["16499.00","1.000"]],"a":[["16501.00","1.000"]],"u":1,"seq":1}}'
        )

    def reset(ns: Namespace) -> None:
        assert ns["book"].apply(snapshot) == _core.APPLIED
        ns["it"] = iter(messages)

    def ours() -> Namespace:
        ns: Namespace = {"book": _core.OrderBook(venue, tick, step)}
        reset(ns)
        return ns

    def peer_reset(ns: Namespace) -> None:
        ns["it"] = iter(messages)

    return Case(
        kernel,
        what,
        Bench("book.apply(next(it))", ours, DEPTH_COUNT, reset),
        [
            Peer(
                "msgspec Struct -> tuples (parse only)",
                Bench(
                    "dec.decode(next(it))",
                    lambda: {"dec": dec, "it": iter(messages)},
                    DEPTH_COUNT,
                    peer_reset,
                ),
            )
        ],
        grid=(tick, step),
    )


DEPTH_COUNT = 4096


def depth_case() -> Case:
    messages = frames.depth_messages(DEPTH_COUNT)
    bids, asks = frames.snapshot_levels()

    def reset(ns: Namespace) -> None:
        ns["book"].load_levels(bids, asks, 0)
        ns["it"] = iter(messages)

    def ours() -> Namespace:
        ns: Namespace = {"book": _core.OrderBook("binance_spot", frames.TICK, frames.STEP)}
        reset(ns)
        return ns

    def peer_reset(ns: Namespace) -> None:
        ns["it"] = iter(messages)

    def msgspec_peer() -> Namespace:
        return {"dec": peers.depth_decoder, "it": iter(messages)}

    return Case(
        "depth_parse_apply",
        "Binance depthUpdate, 20+20 levels: parse + sequence check + apply (ours) vs parse only",
        Bench("book.apply(next(it))", ours, DEPTH_COUNT, reset),
        [
            Peer(
                "msgspec Struct -> tuples (parse only)",
                Bench("dec.decode(next(it))", msgspec_peer, DEPTH_COUNT, peer_reset),
                goal=2.5,
            )
        ],
        grid=(frames.TICK, frames.STEP),
    )


def nautilus_book(levels: int = 1000) -> Namespace:
    from nautilus_trader.model.book import OrderBook
    from nautilus_trader.model.data import BookOrder, OrderBookDelta, OrderBookDeltas
    from nautilus_trader.model.enums import BookAction, BookType, OrderSide
    from nautilus_trader.model.identifiers import InstrumentId
    from nautilus_trader.model.objects import Price, Quantity

    iid = InstrumentId.from_str("BTCUSDT.BINANCE")
    book = OrderBook(iid, BookType.L2_MBP)
    mid = frames.MID_TICKS
    for i in range(levels):
        book.add(BookOrder(OrderSide.BUY, Price(mid - 1 - i, 0), Quantity(1, 0), 0), 0)
        book.add(BookOrder(OrderSide.SELL, Price(mid + 1 + i, 0), Quantity(1, 0), 0), 0)
    order = BookOrder(OrderSide.BUY, Price(mid - 5, 0), Quantity(3, 0), 0)
    deltas = []
    for i in range(20):
        for side, price in ((OrderSide.BUY, mid - 1 - 2 * i), (OrderSide.SELL, mid + 1 + 2 * i)):
            o = BookOrder(side, Price(price, 0), Quantity(2 + i, 0), 0)
            deltas.append(OrderBookDelta(iid, BookAction.UPDATE, o, 0, 0, 0, 0))
    return {"nbook": book, "order": order, "deltas": OrderBookDeltas(iid, deltas)}


def our_book(levels: int = 1000) -> Namespace:
    book = _core.OrderBook("binance_spot", frames.TICK, frames.STEP)
    bids, asks = frames.snapshot_levels(levels)
    book.load_levels(bids, asks, 0)
    return {"book": book, "BID": _core.BID, "p": frames.MID_TICKS - 5, "q": 300_000}


def level_update_case() -> Case:
    return Case(
        "level_update",
        "one L2 level update per Python call (1,000 levels per side)",
        Bench("book.update(BID, p, q)", our_book),
        [
            Peer(
                "nautilus_trader OrderBook.update (pre-built order)",
                Bench("nbook.update(order, 0)", nautilus_book),
                goal=1.5,
            )
        ],
    )


def level_in_message_case() -> Case:
    messages = frames.depth_messages(DEPTH_COUNT)
    bids, asks = frames.snapshot_levels()

    def reset(ns: Namespace) -> None:
        ns["book"].load_levels(bids, asks, 0)
        ns["it"] = iter(messages)

    def ours() -> Namespace:
        ns: Namespace = {"book": _core.OrderBook("binance_spot", frames.TICK, frames.STEP)}
        reset(ns)
        return ns

    return Case(
        "level_in_message",
        "per level inside a whole-message apply (40 levels from bytes; peers per level)",
        Bench("book.apply(next(it))", ours, DEPTH_COUNT, reset, divisor=40),
        [
            Peer(
                "nautilus_trader OrderBook.update (pre-built order)",
                Bench("nbook.update(order, 0)", nautilus_book),
                goal=5.0,
            ),
            Peer(
                "nautilus_trader apply_deltas (40 pre-built deltas)",
                Bench("nbook.apply_deltas(deltas)", nautilus_book, divisor=40),
                goal=5.0,
            ),
        ],
        note="ours parses 40 decimal pairs from JSON as well; the peers start from built objects",
    )


def bbo_case() -> Case:
    return Case(
        "best_bid_ask",
        "best bid price + best ask price (two calls)",
        Bench("book.best_bid_price(); book.best_ask_price()", our_book),
        [
            Peer(
                "nautilus_trader OrderBook",
                Bench("nbook.best_bid_price(); nbook.best_ask_price()", nautilus_book),
                goal=1.0,
            )
        ],
        note="ours returns int ticks; nautilus returns Price objects",
    )


NOS_ARGS = ("ems-000042", "BTC-PERPETUAL", "10", "50000.5", "1", frames.FIX_TIME)


def fix_encode_case() -> Case:
    def ours() -> Namespace:
        return {"s": _core.FixSession("CLIENT", "DERIBITSERVER"), "BUY": _core.BUY, "a": NOS_ARGS}

    def peer(fn: Callable[..., bytes], exact: bool = True) -> Callable[[], Namespace]:
        def setup() -> Namespace:
            want = ours()["s"].new_order_single(
                2,
                NOS_ARGS[0],
                NOS_ARGS[1],
                _core.BUY,
                NOS_ARGS[2],
                NOS_ARGS[3],
                time_in_force=NOS_ARGS[4],
                sending_time=NOS_ARGS[5],
            )
            got = fn(2, NOS_ARGS[0], NOS_ARGS[1], "1", *NOS_ARGS[2:])
            # Same message out, or the comparison is void. quickfix orders fields by tag,
            # so for it the same fields, BodyLength and CheckSum must match.
            if exact:
                assert got == want, (got, want)
            else:
                assert sorted(_core.fix_decode(got).fields()) == sorted(
                    _core.fix_decode(want).fields()
                )
            return {"enc": fn, "a": NOS_ARGS}

        return setup

    stmt_ours = (
        "s.new_order_single(2, a[0], a[1], BUY, a[2], a[3], time_in_force=a[4], sending_time=a[5])"
    )
    stmt_peer = "enc(2, a[0], a[1], '1', a[2], a[3], a[4], a[5])"
    return Case(
        "fix_encode",
        "FIX NewOrderSingle encode (header, 7 body fields, BodyLength, CheckSum)",
        Bench(stmt_ours, ours),
        [
            Peer(
                "hand-written Python bytes join",
                Bench(stmt_peer, peer(peers.fix_new_order_single)),
                goal=5.0,
            ),
            Peer("simplefix", Bench(stmt_peer, peer(peers.simplefix_new_order_single)), goal=40.0),
            Peer("quickfix", Bench(stmt_peer, peer(peers.quickfix_new_order_single, exact=False))),
        ],
        note="each peer's output is checked byte-for-byte against ours before timing",
    )


def exec_report() -> bytes:
    raw: bytes = _core.FixSession("DERIBITSERVER", "CLIENT").encode(
        "8", 7, frames.EXEC_REPORT_FIELDS, sending_time=frames.FIX_TIME
    )
    return raw


def fix_parse_case() -> Case:
    raw = exec_report()
    tags = frames.EXEC_REPORT_TAGS

    def ours() -> Namespace:
        return {"decode": _core.fix_decode, "raw": raw, "tags": tags}

    def quickfix_peer() -> Namespace:
        import quickfix

        text = raw.decode()
        msg = quickfix.Message(text, False)
        assert msg.getField(37) == "ETH-1234567"
        return {"Message": quickfix.Message, "text": text}

    def simplefix_peer() -> Namespace:
        import simplefix

        return {"Parser": simplefix.FixParser, "raw": raw}

    qf_stmt = "m = Message(text, False)\n" + "\n".join(f"m.getField({t})" for t in tags)
    sf_stmt = "p = Parser()\np.append_buffer(raw)\nm = p.get_message()\n" + "\n".join(
        f"m.get({t})" for t in tags
    )
    ours_stmt = "m = decode(raw)\n" + "\n".join(f"m.get({t})" for t in tags)
    return Case(
        "fix_parse",
        "FIX ExecutionReport (17 body fields) parse + validate, then read 9 fields",
        Bench(ours_stmt, ours),
        [
            Peer("quickfix Message(str, validate=False)", Bench(qf_stmt, quickfix_peer), goal=10.0),
            Peer("simplefix FixParser", Bench(sf_stmt, simplefix_peer)),
        ],
    )


def sign_case(kind: str) -> Case:
    def ours() -> Namespace:
        return {"h": _core.HmacSha256(frames.SIGN_SECRET), "payload": frames.SIGN_PAYLOAD}

    def py() -> Namespace:
        h = peers.PyHmac(frames.SIGN_SECRET)
        assert getattr(h, kind)(frames.SIGN_PAYLOAD) == getattr(ours()["h"], kind)(
            frames.SIGN_PAYLOAD
        )
        return {"h": h, "payload": frames.SIGN_PAYLOAD}

    return Case(
        f"hmac_sha256_{kind}",
        f"HMAC-SHA256 of a 200-byte query, {kind}",
        Bench(f"h.{kind}(payload)", ours),
        [
            Peer(
                "Python hmac, pre-keyed copy()",
                Bench(f"h.{kind}(payload)", py),
                goal=2.0 if kind == "hex" else None,
            )
        ],
    )


TRIGGERS = 10_000


def trigger_setup(index: Any) -> Namespace:
    # 5,000 up triggers above 52,000 and 5,000 down triggers below it.
    for i in range(TRIGGERS // 2):
        index.add(i, _core.UP, frames.MID_TICKS + 100 + i, b"order-up-%d" % i)
        index.add(TRIGGERS + i, _core.DOWN, frames.MID_TICKS - 100 - i, b"order-down-%d" % i)
    return {"idx": index, "p": frames.MID_TICKS, "BUY": _core.BUY, "UP": _core.UP}


def trigger_no_fire_case() -> Case:
    return Case(
        "trigger_no_fire",
        "trigger check on a trade that fires nothing, 10,000 triggers set",
        Bench("idx.on_trade(p, BUY)", lambda: trigger_setup(_core.TriggerIndex())),
        [
            Peer(
                "sortedcontainers SortedList bisect",
                Bench("idx.on_trade(p, BUY)", lambda: trigger_setup(peers.PyTriggerIndex())),
            )
        ],
        max_ours_ns=100.0,
    )


def trigger_fire_case() -> Case:
    stmt = "idx.on_trade(p2, BUY)\nidx.add(7, UP, p2, b'order-up-7')"

    def ours() -> Namespace:
        ns = trigger_setup(_core.TriggerIndex())
        ns["idx"].remove(7)
        ns["idx"].add(7, _core.UP, frames.MID_TICKS + 50, b"order-up-7")
        ns["p2"] = frames.MID_TICKS + 50
        return ns

    def py() -> Namespace:
        ns = trigger_setup(peers.PyTriggerIndex())
        ns["idx"].add(10**9, _core.UP, frames.MID_TICKS + 50, b"order-up-7")
        ns["p2"] = frames.MID_TICKS + 50
        return ns

    return Case(
        "trigger_fire_one",
        "a trade that fires one of 10,000 triggers, plus re-adding it",
        Bench(stmt, ours),
        [Peer("sortedcontainers SortedList", Bench(stmt, py))],
    )


ORDER_IDS = [str(452197707845865472 + i) for i in range(1000)]


def cancel_setup(book: Any) -> Namespace:
    for o in ORDER_IDS:
        book.insert(o)
    return {"bc": book, "x": "999999999999"}


def cancel_pull_case() -> Case:
    return Case(
        "batch_cancel_pull_1000",
        "OKX pull of 1,000 working orders: 50 batch-cancel-orders messages ready",
        Bench("bc.pull()", lambda: cancel_setup(_core.OkxBatchCancel(inst_id="BTC-USDT"))),
        [
            Peer(
                "Python dict + orjson at pull time",
                Bench("bc.pull()", lambda: cancel_setup(peers.PyBatchCancel("BTC-USDT"))),
            )
        ],
        note="no encoding at pull time by construction: the call builds a list of 50 ready bytes",
    )


def cancel_upkeep_case() -> Case:
    return Case(
        "batch_cancel_upkeep",
        "incremental upkeep per insert or remove (one insert + one remove, halved), 1,000 orders",
        Bench(
            "bc.insert(x)\nbc.remove(x)",
            lambda: cancel_setup(_core.OkxBatchCancel(inst_id="BTC-USDT")),
            divisor=2,
        ),
        [
            Peer(
                "Python dict (no messages kept)",
                Bench(
                    "bc.insert(x)\nbc.remove(x)",
                    lambda: cancel_setup(peers.PyBatchCancel("BTC-USDT")),
                    divisor=2,
                ),
            )
        ],
        note="the price of a free pull: up to two 20-order messages rewritten per change",
    )


def all_cases() -> list[Case]:
    return [
        trade_case(),
        okx_order_case(False),
        okx_order_case(True),
        depth_case(),
        level_update_case(),
        level_in_message_case(),
        bbo_case(),
        fix_encode_case(),
        fix_parse_case(),
        sign_case("hex"),
        sign_case("base64"),
        trigger_no_fire_case(),
        trigger_fire_case(),
        cancel_pull_case(),
        cancel_upkeep_case(),
        *other_scanner_cases(),
    ]


# --- reporting ------------------------------------------------------------------------------


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    cpu = cpu_model()
    rustc = subprocess.run(
        ["rustc", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu}, {os.cpu_count()} vCPU",
        "python": platform.python_version(),
        "rustc": rustc or "unknown",
        "profile": "release (lto=fat, codegen-units=1, opt-level=3), abi3-py311",
        "versions": ", ".join(
            f"{d} {version(d)}"
            for d in (
                "msgspec",
                "simplefix",
                "quickfix",
                "nautilus_trader",
                "sortedcontainers",
                "orjson",
            )
        ),
    }


def verdict(case: Case, peer: Peer, ours_ns: float, peer_ns: float) -> tuple[str, bool | None]:
    ratio = peer_ns / ours_ns
    if peer.goal is None:
        return "-", None
    if ratio >= peer.goal:
        return f"met (>= {peer.goal:g}x)", True
    # Speed needed to meet the goal, relative to now.
    short = (1 - ratio / peer.goal) * 100
    return f"MISSED: {ratio:.2f}x of {peer.goal:g}x ({short:.0f}% short)", False


def report(cases: list[Case], smoke: bool, argv: list[str]) -> tuple[dict[str, Any], str, bool]:
    results: dict[str, Any] = {}
    rows = []
    all_met = True
    for case in cases:
        ours: Timing = case.results["ours"]
        for i, (peer, t) in enumerate(case.results["peers"]):
            key = case.kernel if i == 0 else f"{case.kernel}__vs_{slug(peer.name)}"
            ratio = t.median / ours.median
            text, met = verdict(case, peer, ours.median, t.median)
            if met is False:
                all_met = False
            results[key] = {
                "ours_ns": round(ours.median, 1),
                "peer": peer.name,
                "peer_ns": round(t.median, 1),
                "ratio": round(ratio, 2),
                "ours_p99_ns": round(ours.p99, 1),
                "peer_p99_ns": round(t.p99, 1),
                "goal_ratio": peer.goal,
                "goal_met": met,
            }
            rows.append(
                f"| {case.kernel} | {peer.name} | {ours.median:,.0f} | {ours.p99:,.0f} | "
                f"{t.median:,.0f} | {t.p99:,.0f} | {ratio:.2f}x | {text} |"
            )
        for peer in case.missing:
            unverified = "" if peer.goal is None else f"; goal >= {peer.goal:g}x NOT VERIFIED"
            if peer.goal is not None:
                all_met = False
            rows.append(
                f"| {case.kernel} | {peer.name} | {ours.median:,.0f} | {ours.p99:,.0f} | - | - | - "
                f"| peer not installed ({peer.requires}): not measured{unverified} |"
            )
        if case.max_ours_ns is not None:
            met = ours.median <= case.max_ours_ns
            all_met &= met
            first = case.kernel
            results[first]["goal_max_ours_ns"] = case.max_ours_ns
            results[first]["goal_met"] = met
            goal = (
                f"met (<= {case.max_ours_ns:g} ns)"
                if met
                else f"MISSED: {ours.median:.0f} ns > {case.max_ours_ns:g} ns"
            )
            rows.append(
                f"| {case.kernel} | (absolute goal) | {ours.median:,.0f} | {ours.p99:,.0f} "
                f"| - | - | - | {goal} |"
            )
    m = machine()
    lines = [
        "| kernel | peer | ours median ns | ours p99 ns | peer median ns | peer p99 ns "
        "| speed-up | goal |",
        "|---|---|---:|---:|---:|---:|---:|---|",
        *rows,
    ]
    load = f"{LOAD_AT_START[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end"
    header = (
        f"- date: {m['date']}\n- machine: {m['cpu']} (1-min load average {load}; the VM is "
        "shared, other work running shows as load)\n"
        f"- Python {m['python']}; {m['rustc']}; build: {m['profile']}\n"
        f"- peers: {m['versions']}\n- command: `python bench/{' '.join(['run.py', *argv])}`"
        + ("\n- SMOKE RUN: a handful of samples, numbers are not meaningful" if smoke else "")
    )
    return results, header + "\n\n" + "\n".join(lines), all_met


START, END = "<!-- kernels:start -->", "<!-- kernels:end -->"


def write(out: Path, results: dict[str, Any], table: str) -> None:
    """Merges our keys into results.json and replaces our block of RESULTS.md; other
    benchmarks (bench/tick_to_trade.py) keep theirs."""
    path = out / "results.json"
    merged = json.loads(path.read_text()) if path.exists() else {}
    merged.update(results)
    path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    md = out / "RESULTS.md"
    text = md.read_text() if md.exists() else "# Benchmark results\n\n"
    block = f"{START}\n{table}\n{END}"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    md.write_text(text)


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.split()[0].lower())


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a handful of iterations per benchmark"
    )
    parser.add_argument("--only", default="", help="run kernels whose name contains this")
    parser.add_argument("--out", default=str(HERE), help="where results.json and the table go")
    args = parser.parse_args(args_list)
    cases = [c for c in all_cases() if args.only in c.kernel]
    for case in cases:
        print(f"{case.kernel}: {case.what}", flush=True)
        measure(case, args.smoke)
    results, table, all_met = report(cases, args.smoke, args_list)
    print()
    print(table)
    out = Path(args.out)
    if not args.smoke and not args.only:
        write(out, results, table)
        print(f"\nwrote {out / 'results.json'} and the kernels block of {out / 'RESULTS.md'}")
    print("\nall goals met" if all_met else "\nsome goals missed (see table)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
