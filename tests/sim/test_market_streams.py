"""Market streams: raw and combined paths, SUBSCRIBE, trades, depth sequence numbers."""

from __future__ import annotations

import itertools
import time
from decimal import Decimal as D
from typing import Any

from tests.sim.conftest import Sim, Venue, WsClient


def _collect(ws: WsClient, seconds: float) -> list[Any]:
    out = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            out.append(ws.recv(left))
        except TimeoutError:
            break
    return out


def _churn(venue: Venue, symbol: str, prices: list[str], qty: str) -> None:
    for i, price in enumerate(prices):
        venue.trade(symbol, "buy" if i % 2 else "sell", price, qty)


def test_trade_and_agg_trade_mark_the_aggressor(sim: Sim):
    ws = sim.spot.ws("/ws/btcusdt@trade/btcusdt@aggTrade")
    time.sleep(0.1)
    sim.spot.trade("BTCUSDT", "sell", "29999.00", "0.6")  # two maker levels: 29999.5, 29999.0
    msgs = _collect(ws, 0.5)
    trades = [m for m in msgs if m["e"] == "trade"]
    aggs = [m for m in msgs if m["e"] == "aggTrade"]
    assert [(t["p"], t["q"]) for t in trades] == [
        ("29999.50000000", "0.50000000"),
        ("29999.00000000", "0.10000000"),
    ]
    assert all(t["m"] is True for t in trades)  # m: buyer is maker = seller aggressed
    assert trades[1]["t"] == trades[0]["t"] + 1
    assert [(a["f"], a["l"]) for a in aggs] == [(t["t"], t["t"]) for t in trades]
    ws.close()


def test_combined_stream_wraps_payloads_and_subscribe_adds_streams(sim: Sim):
    ws = sim.spot.ws("/stream?streams=btcusdt@trade")
    ws.send({"method": "SUBSCRIBE", "params": ["ethusdt@trade", "btcusdt@bookTicker"], "id": 1})
    assert ws.wait(lambda m: m.get("id") == 1) == {"result": None, "id": 1}
    ws.send({"method": "LIST_SUBSCRIPTIONS", "id": "list"})
    listed = ws.wait(lambda m: m.get("id") == "list")["result"]
    assert set(listed) == {"btcusdt@trade", "ethusdt@trade", "btcusdt@bookTicker"}
    sim.spot.trade("ETHUSDT", "buy", "2000.05", "1")
    msg = ws.wait(lambda m: m.get("stream") == "ethusdt@trade")
    assert msg["data"]["e"] == "trade" and msg["data"]["m"] is False
    sim.spot.trade("BTCUSDT", "buy", "30000.50", "0.1")
    ticker = ws.wait(lambda m: m.get("stream") == "btcusdt@bookTicker")["data"]
    assert set(ticker) == {"u", "s", "b", "B", "a", "A"}
    assert ticker["a"] == "30000.50000000" and ticker["A"] == "0.40000000"
    ws.send({"method": "UNSUBSCRIBE", "params": ["ethusdt@trade"], "id": 2})
    assert ws.wait(lambda m: m.get("id") == 2)["result"] is None
    ws.close()


def test_spot_diff_depth_ids_are_contiguous_and_sync_with_the_snapshot(sim: Sim):
    venue = sim.spot
    ws = venue.ws("/ws/btcusdt@depth@100ms")
    time.sleep(0.15)
    _churn(venue, "BTCUSDT", ["29999.00", "30001.00"], "0.7")
    time.sleep(0.25)
    _churn(venue, "BTCUSDT", ["29998.50", "30002.00"], "0.7")
    first = _collect(ws, 0.4)
    snapshot = venue.public("/api/v3/depth", symbol="BTCUSDT", limit=1000)
    _churn(venue, "BTCUSDT", ["29999.50", "30000.50"], "0.2")
    events = first + _collect(ws, 0.4)
    assert len(events) >= 2
    for prev, nxt in itertools.pairwise(events):
        assert nxt["U"] == prev["u"] + 1
    # Applying the events after the snapshot (Binance's procedure) gives the REST book.
    bids = {D(p): D(q) for p, q in snapshot["bids"]}
    asks = {D(p): D(q) for p, q in snapshot["asks"]}
    last = snapshot["lastUpdateId"]
    for event in events:
        if event["u"] <= last:
            continue
        assert event["U"] <= last + 1 <= event["u"]
        for side, levels in ((bids, event["b"]), (asks, event["a"])):
            for p, q in levels:
                if D(q) == 0:
                    side.pop(D(p), None)
                else:
                    side[D(p)] = D(q)
        last = event["u"]
    now = venue.public("/api/v3/depth", symbol="BTCUSDT", limit=1000)
    assert now["lastUpdateId"] == last
    assert {D(p): D(q) for p, q in now["bids"]} == bids
    assert {D(p): D(q) for p, q in now["asks"]} == asks
    ws.close()


def test_futures_depth_carries_pu_chain_on_every_route(sim: Sim):
    venue = sim.usdm
    clients = [
        venue.ws("/ws/btcusdt@depth@100ms"),
        venue.ws("/public/ws/0"),
        venue.ws("/market/stream?streams=btcusdt@depth@100ms"),
    ]
    clients[1].send({"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 5})
    assert clients[1].wait(lambda m: m.get("id") == 5)["result"] is None
    time.sleep(0.15)
    # Changes in separate 100 ms windows, so that several events (and a pu chain) appear.
    for prices in (["29999.0", "30001.0"], ["29998.0"], ["30000.5"]):
        _churn(venue, "BTCUSDT", prices, "3")
        time.sleep(0.25)
    for i, ws in enumerate(clients):
        events = [m.get("data", m) for m in _collect(ws, 0.5)]
        assert len(events) >= 2, (i, events)
        for event in events:
            assert event["e"] == "depthUpdate" and {"T", "pu", "U", "u"} <= set(event)
        for prev, nxt in itertools.pairwise(events):
            assert nxt["pu"] == prev["u"] and nxt["U"] == prev["u"] + 1
        ws.close()


def test_futures_trade_stream_and_coinm_contract_quantities(sim: Sim):
    ws = sim.coinm.ws("/ws/btcusd_perp@aggTrade")
    time.sleep(0.1)
    sim.coinm.trade("BTCUSD_PERP", "buy", "30001.0", "250")
    agg = [m for m in _collect(ws, 0.5) if m["e"] == "aggTrade"]
    assert [(a["p"], a["q"], a["m"]) for a in agg] == [
        ("30000.5", "200", False),
        ("30001.0", "50", False),
    ]
    ws.close()


def test_partial_depth_stream_sends_the_top_levels(sim: Sim):
    ws = sim.spot.ws("/ws/btcusdt@depth5@100ms")
    snapshot = ws.recv(5)
    assert set(snapshot) == {"lastUpdateId", "bids", "asks"}
    assert len(snapshot["bids"]) == 5 and snapshot["bids"][0] == ["29999.50000000", "0.50000000"]
    ws.close()
