"""Deribit FIX order-entry round trip: ems vs QuickFIX against the same `ems sim`.

One run, one simulator process. Each sample is one NewOrderSingle (a resting limit buy
far from the market) timed from just before it is built to the moment its
ExecutionReport "new" has been decoded by the same client:

* `ems_fix`: ems's FIX initiator (`DeribitSession`, in process, uvloop), insert ->
  on_report(new).
* `ems_serve`: the whole ems path, a sendOrder on `ems serve`'s WebSocket -> the "new"
  ordertransaction on that socket (ems's API, engine and FIX session in between).
* `quickfix`: a QuickFIX initiator (the `quickfix` package) in its own process,
  sendToTarget -> fromApp; simplefix over a plain socket if QuickFIX is not installed.

`feeds` measures the two public-trade paths a trigger can use, on the same simulator:
from sending `POST /sim/trade` to the parsed trade reaching the callback, FIX market
data (its own FIX session) vs the JSON-RPC `trades.{instrument}.raw` WebSocket channel.
The feeds take turns over several rounds (the one going first alternating), so a slow
spell of the shared machine falls on both.

    python bench/fix_roundtrip.py            # 2000 orders per client, 300 trades per feed
    python bench/fix_roundtrip.py --smoke    # a quick pass (< 30 s)

Prints the table; a full run (not `--smoke`, not `--no-write`) merges
`{"fix_roundtrip": {...}}` into bench/results.json, leaving every other key alone, and
rewrites the block between the `fix-roundtrip` markers of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import report  # noqa: E402

SYMBOL = "BTC-PERPETUAL"
FAR_PRICE = "20000"


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    n = len(ordered)
    return {
        "n": n,
        "p50_us": round(ordered[n // 2] / 1000, 1),
        "p99_us": round(ordered[min(n - 1, int(n * 0.99))] / 1000, 1),
        "mean_us": round(sum(ordered) / n / 1000, 1),
    }


def start(
    args: list[str], env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Any]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ems.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"ems {args[0]} did not start")
    return proc, json.loads(line)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


# --------------------------------------------------------------------- ems (in process)
class _Listener:
    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[int]] = {}

    def on_report(self, report: Any) -> None:
        future = self.waiting.pop(report.venue_client_id, None)
        if future is not None and not future.done():
            future.set_result(time.perf_counter_ns())

    def on_venue_position(self, symbol: str, position: float) -> None:
        pass

    def on_stream_state(self, connected: bool, reason: str) -> None:
        pass


async def bench_ems_fix(sim: dict[str, Any], orders: int, warmup: int) -> dict[str, float]:
    from ems.engine.orders import Order
    from ems.model import OrderType, Side, TimeInForce
    from ems.venues.deribit.products import parse_endpoint
    from ems.venues.deribit.session import DeribitSession

    account = sim["accounts"][2]
    listener = _Listener()
    session = DeribitSession(
        session_id=f"bench-{uuid.uuid4().hex[:6]}",
        api_key=account["apiKey"],
        secret=account["secretKey"],
        endpoint=parse_endpoint(sim["deribit"]["wsUrl"]),
        listener=listener,
        state_file=False,
    )
    await session.start()
    inst = session.instruments[SYMBOL]
    loop = asyncio.get_running_loop()
    samples: list[int] = []
    for i in range(warmup + orders):
        cl = f"b{i}-{uuid.uuid4().hex[:4]}"
        order = Order(
            session_id="bench", exchange="deribit", cl_order_id=cl, venue_client_id=cl,
            symbol=SYMBOL, side=Side.BUY, order_type=OrderType.LIMIT, tif=TimeInForce.GTC,
            price=inst.price_grid.units(FAR_PRICE), qty=1, instrument=inst,
        )  # fmt: skip
        done = loop.create_future()
        listener.waiting[cl] = done
        t0 = time.perf_counter_ns()
        await session.insert(order)
        t1 = await asyncio.wait_for(done, 5)
        if i >= warmup:
            samples.append(t1 - t0)
        if i % 500 == 499:
            await session.cancel_all(SYMBOL, [], True)
    await session.cancel_all(SYMBOL, [], True)
    await session.stop()
    return percentiles(samples)


async def bench_feeds(sim: dict[str, Any], trades: int, rounds: int) -> dict[str, dict[str, float]]:
    """Both trade feeds, taking turns: `rounds` rounds, each feed measured for
    `trades // rounds` trades per round, the one going first alternating, so that a slow
    spell of the shared machine falls on both. Only the feed being measured is
    subscribed (the other would parse every trade too and slow the loop)."""
    import aiohttp

    from ems.venues.deribit.feed import JsonRpcTradeFeed
    from ems.venues.deribit.products import parse_endpoint
    from ems.venues.deribit.session import DeribitSession

    account = sim["accounts"][1]
    admin = sim["deribit"]["restUrl"]
    session = DeribitSession(
        session_id=f"feeds-{uuid.uuid4().hex[:6]}",
        api_key=account["apiKey"],
        secret=account["secretKey"],
        endpoint=parse_endpoint(sim["deribit"]["wsUrl"]),
        listener=_Listener(),
        state_file=False,
    )
    await session.start()
    inst = session.instruments[SYMBOL]
    arrived: list[asyncio.Future[int]] = []

    def on_trade(_: Any) -> None:
        if arrived and not arrived[0].done():
            arrived[0].set_result(time.perf_counter_ns())

    rpc_url = admin.replace("http://", "ws://") + "/ws/api/v2"
    makers = {
        "fix": lambda: session.trade_feed(SYMBOL, on_trade),
        "jsonrpc": lambda: JsonRpcTradeFeed(rpc_url, inst, on_trade),
    }
    samples: dict[str, list[int]] = {name: [] for name in makers}
    per_round = max(1, trades // rounds)
    warmup = 10
    async with aiohttp.ClientSession() as http:
        book = await (await http.get(f"{admin}/sim/book", params={"symbol": SYMBOL})).json()
        bid, ask = float(book["bestBid"]), float(book["bestAsk"])
        for r in range(rounds):
            order = list(makers) if r % 2 == 0 else list(reversed(makers))
            for name in order:
                feed = makers[name]()
                await feed.start()
                await asyncio.sleep(0.2)
                for i in range(warmup + per_round):
                    side, price = ("buy", ask) if i % 2 else ("sell", bid)
                    arrived[:] = [asyncio.get_running_loop().create_future()]
                    t0 = time.perf_counter_ns()
                    body = {"symbol": SYMBOL, "price": price, "qty": 1, "side": side}
                    async with http.post(f"{admin}/sim/trade", json=body) as resp:
                        await resp.read()
                    t1 = await asyncio.wait_for(arrived[0], 5)
                    if i >= warmup:
                        samples[name].append(t1 - t0)
                await feed.stop()
    await session.stop()
    return {name: percentiles(values) for name, values in samples.items()}


# --------------------------------------------------------------------- ems serve
def bench_ems_serve(sim: dict[str, Any], orders: int, warmup: int) -> dict[str, float]:
    import requests
    from websockets.sync.client import connect

    key = "bench-" + uuid.uuid4().hex
    with tempfile.TemporaryDirectory() as state:
        proc, info = start(
            ["serve", "--key", key, "--port", "0", "--promPort", "0", "--journal", "none"],
            {"EMS_STATE_DIR": state},
        )
        try:
            account = sim["accounts"][0]
            session_id = f"bench-{uuid.uuid4().hex[:6]}"
            r = requests.post(
                info["url"] + "/startOrderHandler",
                headers={"X-API-Key": key},
                timeout=15,
                json={
                    "exchangeKey": {**account, "exchange": "deribit"},
                    "sessionId": session_id,
                    "restUrl": sim["deribit"]["restUrl"],
                    "wsUrl": sim["deribit"]["wsUrl"],
                },
            )
            r.raise_for_status()
            ws_url = info["url"].replace("http://", "ws://") + f"/subscribeUpdates?key={key}"
            samples: list[int] = []
            with connect(ws_url) as ws:
                ws.send(json.dumps({"sessionId": session_id}))
                ws.recv(timeout=5)
                for i in range(warmup + orders):
                    cl = f"s{i}"
                    msg = json.dumps({
                        "sessionId": session_id, "symbol": SYMBOL, "clOrderId": cl,
                        "transactionType": "insert", "side": "buy", "price": float(FAR_PRICE),
                        "qty": 1,
                    })  # fmt: skip
                    t0 = time.perf_counter_ns()
                    ws.send(msg)
                    while True:
                        frame = json.loads(ws.recv(timeout=5))
                        if frame.get("clOrderId") == cl and frame.get("orderStatus") == "new":
                            break
                    if i >= warmup:
                        samples.append(time.perf_counter_ns() - t0)
                    if i % 500 == 499:
                        ws.send(json.dumps({"sessionId": session_id, "symbol": SYMBOL,
                                            "transactionType": "pull"}))  # fmt: skip
                ws.send(json.dumps({"sessionId": session_id, "symbol": SYMBOL,
                                    "transactionType": "pull"}))  # fmt: skip
                time.sleep(0.3)
            return percentiles(samples)
        finally:
            stop(proc)


# --------------------------------------------------------------------- peers
def _password(raw: str, secret: str) -> str:
    return base64.b64encode(hashlib.sha256((raw + secret).encode()).digest()).decode()


def quickfix_peer(host: str, port: str, api_key: str, secret: str, n: int, warmup: int) -> None:
    """Child process: a QuickFIX initiator timing NewOrderSingle -> ExecutionReport new."""
    import quickfix as fix

    logon = threading.Event()
    acked: dict[str, threading.Event] = {}
    stamps: dict[str, int] = {}

    class App(fix.Application):  # type: ignore[misc]
        def onCreate(self, sid: Any) -> None:
            pass

        def onLogon(self, sid: Any) -> None:
            logon.set()

        def onLogout(self, sid: Any) -> None:
            pass

        def toAdmin(self, msg: Any, sid: Any) -> None:
            if msg.getHeader().getField(35) == "A":
                raw = f"{int(time.time() * 1000)}.{base64.b64encode(os.urandom(32)).decode()}"
                for tag, value in ((95, str(len(raw))), (96, raw), (553, api_key),
                                   (554, _password(raw, secret))):  # fmt: skip
                    msg.setField(fix.StringField(tag, value))

        def fromAdmin(self, msg: Any, sid: Any) -> None:
            pass

        def toApp(self, msg: Any, sid: Any) -> None:
            pass

        def fromApp(self, msg: Any, sid: Any) -> None:
            if msg.getHeader().getField(35) == "8" and msg.isSetField(41):
                cl = msg.getField(41)
                if msg.getField(39) == "0" and cl in acked:
                    stamps[cl] = time.perf_counter_ns()
                    acked[cl].set()

    tmp = tempfile.mkdtemp()
    cfg = Path(tmp) / "qf.cfg"
    cfg.write_text(
        f"[DEFAULT]\nConnectionType=initiator\nSocketConnectHost={host}\n"
        f"SocketConnectPort={port}\nHeartBtInt=30\nReconnectInterval=1\nStartTime=00:00:00\n"
        f"EndTime=00:00:00\nUseDataDictionary=N\nValidateUserDefinedFields=N\n"
        f"SocketNodelay=Y\n[SESSION]\nBeginString=FIX.4.4\n"
        f"SenderCompID=qf-bench-{uuid.uuid4().hex[:6]}\nTargetCompID=DERIBITSERVER\n"
    )
    settings = fix.SessionSettings(str(cfg))
    app = App()
    store, logs = fix.MemoryStoreFactory(), fix.ScreenLogFactory(False, False, False)
    initiator = fix.SocketInitiator(app, store, settings, logs)
    initiator.start()
    if not logon.wait(10):
        print(json.dumps({"error": "QuickFIX did not log on"}), flush=True)
        os._exit(1)
    sid = next(iter(initiator.getSessions()))
    samples: list[int] = []

    def mass_cancel() -> None:
        q = fix.Message()
        q.getHeader().setField(fix.StringField(35, "q"))
        for tag, value in ((11, uuid.uuid4().hex), (530, "1"), (55, SYMBOL)):
            q.setField(fix.StringField(tag, value))
        fix.Session.sendToTarget(q, sid)

    for i in range(warmup + n):
        cl = f"q{i}-{uuid.uuid4().hex[:4]}"
        acked[cl] = threading.Event()
        t0 = time.perf_counter_ns()
        msg = fix.Message()
        msg.getHeader().setField(fix.StringField(35, "D"))
        for tag, value in ((11, cl), (55, SYMBOL), (54, "1"), (38, "1"), (40, "2"),
                           (44, FAR_PRICE), (59, "1")):  # fmt: skip
            msg.setField(fix.StringField(tag, value))
        fix.Session.sendToTarget(msg, sid)
        if not acked[cl].wait(5):
            print(json.dumps({"error": f"no report for {cl}"}), flush=True)
            os._exit(1)
        if i >= warmup:
            samples.append(stamps[cl] - t0)
        del acked[cl]
        if i % 500 == 499:
            mass_cancel()
    mass_cancel()
    time.sleep(0.3)
    print(json.dumps(percentiles(samples)), flush=True)
    os._exit(0)  # QuickFIX's bindings may crash while tearing their threads down


def simplefix_peer(
    host: str, port: int, api_key: str, secret: str, n: int, warmup: int
) -> dict[str, float]:
    """A plain-socket initiator with simplefix as the codec (used when QuickFIX is absent)."""
    import simplefix

    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    parser = simplefix.FixParser()
    parser.add_raw(95, 96)
    sender = f"sf-bench-{uuid.uuid4().hex[:6]}"
    seq = 0

    def send(msg_type: str, fields: list[tuple[int, str]]) -> None:
        nonlocal seq
        seq += 1
        msg = simplefix.FixMessage()
        msg.append_pair(8, "FIX.4.4", header=True)
        msg.append_pair(35, msg_type, header=True)
        msg.append_pair(49, sender, header=True)
        msg.append_pair(56, "DERIBITSERVER", header=True)
        msg.append_pair(34, seq, header=True)
        msg.append_utc_timestamp(52, header=True)
        for tag, value in fields:
            msg.append_pair(tag, value)
        sock.sendall(msg.encode())

    def read() -> Any:
        while True:
            got = parser.get_message()
            if got is not None:
                return got
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("simulator closed the connection")
            parser.append_buffer(data)

    raw = f"{int(time.time() * 1000)}.{base64.b64encode(os.urandom(32)).decode()}"
    send("A", [(98, "0"), (108, "30"), (95, str(len(raw))), (96, raw), (553, api_key),
               (554, _password(raw, secret)), (141, "Y")])  # fmt: skip
    while read().get(35) != b"A":
        pass
    samples: list[int] = []
    for i in range(warmup + n):
        cl = f"f{i}"
        t0 = time.perf_counter_ns()
        send("D", [(11, cl), (55, SYMBOL), (54, "1"), (38, "1"), (40, "2"), (44, FAR_PRICE),
                   (59, "1")])  # fmt: skip
        while True:
            msg = read()
            if msg.get(35) == b"8" and msg.get(41) == cl.encode() and msg.get(39) == b"0":
                break
            if msg.get(35) == b"1":
                send("0", [(112, msg.get(112).decode())])
        if i >= warmup:
            samples.append(time.perf_counter_ns() - t0)
    send("q", [(11, "end"), (530, "1"), (55, SYMBOL)])
    send("5", [])
    sock.close()
    return percentiles(samples)


def bench_peer(sim: dict[str, Any], orders: int, warmup: int) -> tuple[str, dict[str, float]]:
    account = sim["accounts"][2]
    host, port = sim["deribit"]["wsUrl"].rsplit(":", 1)
    try:
        import quickfix  # noqa: F401
    except ImportError:
        return "simplefix", simplefix_peer(
            host, int(port), account["apiKey"], account["secretKey"], orders, warmup
        )
    out = subprocess.run(
        [sys.executable, __file__, "--quickfix-peer", host, port, account["apiKey"],
         account["secretKey"], str(orders), str(warmup)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"QuickFIX peer failed: {out.stderr[-2000:]}")
    result = json.loads(lines[-1])
    if "error" in result:
        raise RuntimeError(result["error"])
    return "quickfix", result


# --------------------------------------------------------------------- main
def cpu_name() -> str:
    return f"{report.cpu_model()}, {os.cpu_count()} vCPU"


START, END = "<!-- fix-roundtrip:start -->", "<!-- fix-roundtrip:end -->"


def write_results_md(entry: dict[str, Any], peer_name: str) -> Path:
    """Replaces the block between our markers in bench/RESULTS.md (appended if absent)."""
    rows = [
        ("ems FIX initiator (in process, uvloop)", entry["ems_fix"]),
        ("`ems serve` WebSocket sendOrder -> `new` frame", entry["ems_serve_ws"]),
        (f"{peer_name} initiator (own process)", entry[peer_name]),
    ]
    feeds = entry["feeds"]
    lines = [
        f"- date: {entry['date']}",
        f"- machine: {entry['cpu']} (1-min load average {entry['load']}; the VM is shared)",
        f"- Python {entry['python']}; release core",
        f"- command: `{entry['command']}`",
        f"- order entry: {entry['orders']} orders per client after {entry['warmup']} warm-up,"
        " one client after the other",
        f"- feeds: {entry['trades_per_feed']} trades per feed, in {entry['feed_rounds']} "
        "rounds where the feeds take turns (the first alternating)",
        "",
        "| path | n | p50 µs | p99 µs | mean µs |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in rows:
        lines.append(
            f"| {name} | {row['n']} | {row['p50_us']} | {row['p99_us']} | {row['mean_us']} |"
        )
    for name, label in (("fix", "FIX market data"), ("jsonrpc", "JSON-RPC `trades.*.raw`")):
        row = feeds[name]
        lines.append(
            f"| trade feed: {label} | {row['n']} | {row['p50_us']} | {row['p99_us']} "
            f"| {row['mean_us']} |"
        )
    lines += ["", f"Faster trade feed at p50: {entry['feed_chosen']}."]
    block = f"{START}\n" + "\n".join(lines) + f"\n{END}"
    path = HERE / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n## Deribit FIX round trip and trade feeds\n\n" + block + "\n"
    path.write_text(text)
    return path


def merge_results(entry: dict[str, Any]) -> Path:
    """Reads bench/results.json, replaces our key only, writes it back."""
    path = HERE / "results.json"
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        data = {}
    data["fix_roundtrip"] = entry
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def main(argv: list[str]) -> int:
    if argv[:1] == ["--quickfix-peer"]:
        host, port, key, secret, n, warmup = argv[1:7]
        quickfix_peer(host, port, key, secret, int(n), int(warmup))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a quick pass (< 30 s)")
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--trades", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6, help="feed rounds (taking turns)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    orders, trades, warmup = (150, 60, 20) if args.smoke else (args.orders, args.trades, 200)
    try:
        import uvloop

        run: Any = uvloop.run
    except ImportError:  # pragma: no cover
        run = asyncio.run
    load_at_start = os.getloadavg()[0]
    sim_proc, sim = start(["sim", "--port", "0"])
    try:
        started = time.monotonic()
        ems_fix = run(bench_ems_fix(sim, orders, warmup))
        ems_serve = bench_ems_serve(sim, orders, warmup)
        peer_name, peer = bench_peer(sim, orders, warmup)
        feeds = run(bench_feeds(sim, trades, 2 if args.smoke else args.rounds))
        elapsed = time.monotonic() - started
    finally:
        stop(sim_proc)
    chosen = min(feeds, key=lambda k: feeds[k]["p50_us"])
    command = " ".join(["python bench/fix_roundtrip.py", *argv])
    entry = {
        "what": "NewOrderSingle -> ExecutionReport new on ems sim's Deribit FIX acceptor; "
        "feeds: POST /sim/trade -> parsed trade in the callback, rounds interleaved",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_name(),
        "load": f"{load_at_start:.2f} at start, {os.getloadavg()[0]:.2f} at end",
        "python": platform.python_version(),
        "command": command,
        "orders": orders,
        "warmup": warmup,
        "trades_per_feed": feeds["fix"]["n"],
        "feed_rounds": 2 if args.smoke else args.rounds,
        "ems_fix": ems_fix,
        "ems_serve_ws": ems_serve,
        peer_name: peer,
        "ratio_p50_peer_over_ems_fix": round(peer["p50_us"] / ems_fix["p50_us"], 2),
        "feeds": feeds,
        "feed_chosen": chosen,
        "seconds": round(elapsed, 1),
    }
    print(f"{'client':<14} {'n':>6} {'p50 us':>9} {'p99 us':>9}")
    for name, row in (("ems_fix", ems_fix), ("ems_serve_ws", ems_serve), (peer_name, peer)):
        print(f"{name:<14} {row['n']:>6} {row['p50_us']:>9} {row['p99_us']:>9}")
    for name, row in feeds.items():
        print(f"feed {name:<9} {row['n']:>6} {row['p50_us']:>9} {row['p99_us']:>9}")
    print(f"faster trade feed: {chosen}")
    if not args.no_write and not args.smoke:
        print(f"wrote {merge_results(entry)} (key fix_roundtrip)")
        print(f"wrote {write_results_md(entry, peer_name)} (block fix-roundtrip)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
