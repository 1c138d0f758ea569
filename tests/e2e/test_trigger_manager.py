"""Trigger manager end to end: public trades from `ems sim` fire orders through `ems serve`."""

from __future__ import annotations

import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Market, assert_matches_venue, scrape_metrics, start_session
from tests.harness import Api, Process, secret


@pytest.fixture(params=["binance-spot", "binance-usdm-future"])
def tm(request: pytest.FixtureRequest, api: Api, sim: dict[str, Any]) -> Any:
    """A session with a trigger manager on its symbol."""
    m = start_session(api, sim, request.param, f"tm-{uuid.uuid4().hex[:8]}")
    bid, ask = m.best()
    m.ref_mid = (bid + ask) / 2
    # No market maker: each admin print happens exactly at the price it names.
    m.venue("POST", "/sim/book", json={"symbol": m.symbol, "clear": True})
    status, body = api.post(
        "/startTriggerManager",
        {"symbol": m.symbol, "exchange": m.exchange, "sessionId": m.session_id},
    )
    assert status == 200, body
    yield m
    api.post(
        "/stopTriggerManager",
        {"symbol": m.symbol, "exchange": m.exchange, "sessionId": m.session_id},
    )
    assert_matches_venue(m)
    m.send(transactionType="pull")
    m.venue("POST", "/sim/book", json={"symbol": m.symbol, "mid": float(m.ref_mid)})


def _far_buy(m: Market, cl: str) -> dict[str, Any]:
    bid = m.ref_mid
    return m.order(
        clOrderId=cl,
        transactionType="insert",
        side="buy",
        price=m.price(bid - 500 * m.tick),
        qty=m.qty,
    )


def _set(m: Market, trigger_id: str, price: float, direction: str, orders: list[dict]) -> Any:
    return m.api.post(
        "/setTrigger",
        {
            "id": trigger_id,
            "price": price,
            "symbol": m.symbol,
            "direction": direction,
            "exchange": m.exchange,
            "orders": orders,
        },
    )


def _level(m: Market, offset_ticks: int) -> float:
    return m.price(m.ref_mid + offset_ticks * m.tick)


def _no_frame(ws, predicate, seconds: float) -> None:
    try:
        frame = ws.wait(predicate, timeout=seconds)
    except AssertionError:
        return
    raise AssertionError(f"unexpected frame {frame}")


def test_up_trigger_fires_on_buy_aggressor_at_or_above_and_not_on_sells(tm: Market):
    ws = tm.stream()
    level = _level(tm, 10)
    cl = tm.cl()
    status, body = _set(tm, "up-1", level, "up", [_far_buy(tm, cl)])
    assert status == 200, body
    below = float(Decimal(str(level)) - tm.tick)
    tm.trade("buy", below, tm.qty)  # buy below the level: no fire
    tm.trade("sell", level, tm.qty)  # sell at the level: wrong direction
    _no_frame(ws, lambda f: f.get("clOrderId") == cl, 0.5)
    tm.trade("buy", level, tm.qty)  # buy at the level: fires
    new = ws.wait(lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "new")
    assert new["triggerId"] == "up-1"
    # It fired once: a second qualifying trade sends nothing more.
    tm.trade("buy", level, tm.qty)
    time.sleep(0.3)
    assert [o["clOrderId"] for o in tm.api.get("/orders", sessionId=tm.session_id)[1]] == [cl]
    code, body = tm.api.post(
        "/clearTrigger", {"symbol": tm.symbol, "exchange": tm.exchange, "id": "up-1"}
    )
    assert code == 404 and body["field"] == "id"
    ws.close()


def test_down_trigger_fires_on_sell_aggressor_at_or_below(tm: Market):
    ws = tm.stream()
    level = _level(tm, -10)
    cl = tm.cl()
    assert _set(tm, "down-1", level, "down", [_far_buy(tm, cl)])[0] == 200
    tm.trade("buy", level, tm.qty)
    _no_frame(ws, lambda f: f.get("clOrderId") == cl, 0.4)
    tm.trade("sell", float(Decimal(str(level)) - tm.tick), tm.qty)
    new = ws.wait(lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "new")
    assert new["triggerId"] == "down-1"
    ws.close()


def _sent_in_order(ws: Any, ids: list[str]) -> list[dict[str, Any]]:
    """The pendingnew frames of `ids`, after checking they reached the stream in that order."""
    frames = [
        ws.wait(lambda f, c=c: f.get("clOrderId") == c and f["orderStatus"] == "pendingnew")
        for c in ids
    ]
    where = [ws.frames.index(f) for f in frames]
    assert where == sorted(where), f"sent out of order: {list(zip(ids, where, strict=True))}"
    return frames


@pytest.mark.parametrize(("direction", "side", "step"), [("up", "buy", 1), ("down", "sell", -1)])
def test_a_crossing_trade_fires_every_level_it_reaches_in_price_order(
    tm: Market, direction: str, side: str, step: int
):
    """Levels are set out of order; one print through three of them fires those three,
    nearest the market first, and not the level beyond the print."""
    ws = tm.stream()
    offsets = [6 * step, 5 * step, 7 * step]  # set in a different order than they fire
    ids: dict[int, str] = {}
    for offset in offsets:
        ids[offset] = tm.cl()
        trigger = f"x{direction}{abs(offset)}"
        assert (
            _set(tm, trigger, _level(tm, offset), direction, [_far_buy(tm, ids[offset])])[0] == 200
        )
    beyond = tm.cl()
    assert (
        _set(tm, f"x{direction}-beyond", _level(tm, 8 * step), direction, [_far_buy(tm, beyond)])[0]
        == 200
    )
    tm.trade(side, _level(tm, 7 * step), tm.qty * 20)  # one print that reaches three levels
    nearest_first = sorted(offsets, key=abs)
    frames = _sent_in_order(ws, [ids[o] for o in nearest_first])
    assert [f["triggerId"] for f in frames] == [f"x{direction}{abs(o)}" for o in nearest_first]
    _no_frame(ws, lambda f: f.get("clOrderId") == beyond, 0.3)
    code, _ = tm.api.post(
        "/clearTrigger",
        {"symbol": tm.symbol, "exchange": tm.exchange, "id": f"x{direction}-beyond"},
    )
    assert code == 200  # still set: the print did not reach it
    ws.close()


def test_trigger_orders_may_trade_other_symbols_and_sessions(tm: Market, api: Api, sim):
    """One trigger, three orders: its own symbol, another symbol of the same session, and
    another session of the same exchange; all go out, in the order given."""
    other = start_session(api, sim, tm.exchange, f"tm2-{uuid.uuid4().hex[:8]}")
    ws, other_ws = tm.stream(), other.stream()
    own, eth, elsewhere = tm.cl(), tm.cl(), other.cl()
    orders = [
        _far_buy(tm, own),
        tm.order(
            clOrderId=eth,
            transactionType="insert",
            side="buy",
            symbol="ETHUSDT",
            price=1000.0,
            qty=0.1,
        ),
        other.order(
            clOrderId=elsewhere,
            transactionType="insert",
            side="buy",
            symbol="ETHUSDT",
            price=1000.0,
            qty=0.1,
        ),
    ]
    level = _level(tm, 3)
    assert _set(tm, "multi", level, "up", orders)[0] == 200
    tm.trade("buy", level, tm.qty)
    mine = _sent_in_order(ws, [own, eth])
    theirs = other_ws.wait(lambda f: f.get("clOrderId") == elsewhere and f["orderStatus"] == "new")
    assert [f["symbol"] for f in mine] == [tm.symbol, "ETHUSDT"]
    assert theirs["symbol"] == "ETHUSDT"
    assert {f["triggerId"] for f in [*mine, theirs]} == {"multi"}
    assert mine[1]["sendTime"] <= theirs["sendTime"]
    tm.send(transactionType="pull", symbol="ETHUSDT")
    other.send(transactionType="pull", symbol="ETHUSDT")
    assert_matches_venue(other)
    ws.close()
    other_ws.close()


def test_stopping_racing_trades_sends_nothing_after_the_acknowledgement(tm: Market):
    """Each round starts the manager, sets a trigger, maybe prints its level, and stops the
    manager; an order sent for a trigger must have left before the stop was acknowledged,
    and a restarted manager starts empty."""
    ws = tm.stream()
    level = _level(tm, 2)
    where = {"symbol": tm.symbol, "exchange": tm.exchange, "sessionId": tm.session_id}
    for i in range(8):
        if i:
            assert tm.api.post("/startTriggerManager", where)[0] == 200
        cl = tm.cl()
        assert _set(tm, f"stop-{i}", level, "up", [_far_buy(tm, cl)])[0] == 200
        if i % 2:
            tm.trade("buy", level, tm.qty)
        code, body = tm.api.post("/stopTriggerManager", where)
        acked = time.time_ns()
        assert code == 200 and body["cleared"] in (0, 1), body
        tm.trade("buy", level, tm.qty)
        if body["cleared"] == 1:  # stopped before the print reached it: never sent
            _no_frame(ws, lambda f, c=cl: f.get("clOrderId") == c, 0.25)
        else:
            frame = ws.wait(lambda f, c=cl: f.get("clOrderId") == c)
            assert frame["sendTime"] <= acked
    code, body = _set(tm, "late", level, "up", [_far_buy(tm, tm.cl())])
    assert code == 404 and body["field"] == "symbol", body
    # The fixture stops the manager again; give it one to stop.
    assert tm.api.post("/startTriggerManager", where)[0] == 200
    ws.close()


def test_clear_all_empties_every_manager(tm: Market):
    ws = tm.stream()
    level = _level(tm, 9)
    cl = tm.cl()
    assert _set(tm, "all-1", level, "up", [_far_buy(tm, cl)])[0] == 200
    assert _set(tm, "all-2", _level(tm, -9), "down", [_far_buy(tm, tm.cl())])[0] == 200
    code, body = tm.api.post("/clearTriggers", {"clearAll": True})
    assert code == 200 and body["cleared"] >= 2
    tm.trade("buy", level, tm.qty)
    _no_frame(ws, lambda f: f.get("clOrderId") == cl, 0.4)
    ws.close()


def test_cleared_triggers_never_fire(tm: Market):
    ws = tm.stream()
    level = _level(tm, 4)
    a, b = tm.cl(), tm.cl()
    _set(tm, "c-a", level, "up", [_far_buy(tm, a)])
    _set(tm, "c-b", level, "up", [_far_buy(tm, b)])
    assert tm.api.post(
        "/clearTrigger", {"symbol": tm.symbol, "exchange": tm.exchange, "id": "c-a"}
    ) == (200, {"id": "c-a", "cleared": True})
    code, body = tm.api.post("/clearTriggers", {"symbol": tm.symbol, "exchange": tm.exchange})
    assert (code, body) == (200, {"cleared": 1})
    tm.trade("buy", level, tm.qty)
    _no_frame(ws, lambda f: f.get("clOrderId") in (a, b), 0.5)
    ws.close()


def test_a_fired_order_still_meets_the_session_checks(tm: Market):
    """A trigger's order is checked when it fires, not only when it is set: one whose
    clOrderId an insert took in the meantime, and one fired under the kill switch, are
    rejected on the stream and never reach the venue; the next one goes out."""
    ws = tm.stream()
    level = _level(tm, 6)
    taken, killed, sent = tm.cl(), tm.cl(), tm.cl()
    assert _set(tm, "chk-taken", level, "up", [_far_buy(tm, taken)])[0] == 200
    assert tm.send(**_far_buy(tm, taken))[0] == 200
    ws.wait(lambda f: f.get("clOrderId") == taken and f["orderStatus"] == "new")
    tm.trade("buy", level, tm.qty)
    refused = ws.wait(lambda f: f.get("clOrderId") == taken and f["orderStatus"] == "rejected")
    assert "already used" in refused["message"], refused
    time.sleep(0.2)
    assert len(tm.venue_orders()) == 1, "the trigger's order reached the venue"

    assert _set(tm, "chk-killed", level, "up", [_far_buy(tm, killed)])[0] == 200
    assert tm.api.post("/killSwitch", {"active": True})[0] == 200
    try:
        tm.trade("buy", level, tm.qty)
        refused = ws.wait(lambda f: f.get("clOrderId") == killed and f["orderStatus"] == "rejected")
        assert "killswitch" in refused["message"].lower(), refused
        time.sleep(0.2)
        # The kill switch pulled the insert above; nothing else is working.
        assert tm.venue_orders() == []
    finally:
        assert tm.api.post("/killSwitch", {"active": False})[0] == 200

    assert _set(tm, "chk-sent", level, "up", [_far_buy(tm, sent)])[0] == 200
    tm.trade("buy", level, tm.qty)
    ws.wait(lambda f: f.get("clOrderId") == sent and f["orderStatus"] == "new")
    ws.close()


def test_a_trigger_fired_during_a_rate_limit_wait_is_refused_then_triggers_send_again(
    tm: Market,
):
    """A fired order is written at once or not at all: inside the venue's back-off window
    it is refused with the wait (as an insert would be), not held until the window ends."""
    ws = tm.stream()
    tm.venue(
        "POST",
        "/sim/fault",
        json={
            "path": f"{tm.api_path}/order",
            "method": "POST",
            "count": 1,
            "status": 429,
            "apply": False,
            "code": -1003,
            "msg": "Too many requests.",
            "retryAfter": 1,
        },
    )
    first = tm.cl()
    assert tm.send(**_far_buy(tm, first))[0] == 200
    ws.wait(lambda f: f.get("clOrderId") == first and f["orderStatus"] == "rejected")
    level = _level(tm, 7)
    during, after = tm.cl(), tm.cl()
    assert _set(tm, "rl-during", level, "up", [_far_buy(tm, during)])[0] == 200
    tm.trade("buy", level, tm.qty)
    refused = ws.wait(lambda f: f.get("clOrderId") == during and f["orderStatus"] == "rejected")
    assert "wait" in refused["message"], refused
    time.sleep(1.2)
    assert _set(tm, "rl-after", level, "up", [_far_buy(tm, after)])[0] == 200
    tm.trade("buy", level, tm.qty)
    ws.wait(lambda f: f.get("clOrderId") == after and f["orderStatus"] == "new")
    ws.close()


def test_clear_racing_a_trade_sends_nothing_after_the_acknowledgement(tm: Market):
    """Each round sets a trigger, then clears it while trades stream in; an order that
    went out must have gone out before the clear was acknowledged."""
    ws = tm.stream()
    level = _level(tm, 2)
    fired_after_ack = []
    for i in range(20):
        cl = tm.cl()
        _set(tm, f"race-{i}", level, "up", [_far_buy(tm, cl)])
        if i % 2:
            tm.trade("buy", level, tm.qty)
        code, _ = tm.api.post(
            "/clearTrigger", {"symbol": tm.symbol, "exchange": tm.exchange, "id": f"race-{i}"}
        )
        acked = time.time_ns()
        sent = [f for f in ws.frames if f.get("clOrderId") == cl]
        if code == 200:
            # Cleared before any trade reached it: nothing may ever be sent.
            tm.trade("buy", level, tm.qty)
            time.sleep(0.05)
            try:
                frame = ws.wait(lambda f, c=cl: f.get("clOrderId") == c, timeout=0.2)
                fired_after_ack.append((frame, acked))
            except AssertionError:
                pass
        else:
            assert code == 404  # it had fired already
            frame = ws.wait(lambda f, c=cl: f.get("clOrderId") == c)
            assert frame["sendTime"] <= acked
        del sent
    assert fired_after_ack == []
    ws.close()


def test_trigger_survives_a_market_data_disconnect(tm: Market):
    ws = tm.stream()
    level = _level(tm, 6)
    cl = tm.cl()
    _set(tm, "dc", level, "up", [_far_buy(tm, cl)])
    dropped = tm.venue("POST", "/sim/fault", json={"disconnect": "market"})
    assert dropped["disconnected"] >= 1
    deadline = time.monotonic() + 10
    while True:  # trades until the feed is back and the trigger fires
        tm.trade("buy", level, tm.qty)
        try:
            ws.wait(lambda f: f.get("clOrderId") == cl and f["orderStatus"] == "new", timeout=0.3)
            break
        except AssertionError:
            assert time.monotonic() < deadline, "trigger never fired after reconnect"
    ws.close()


@pytest.mark.parametrize(
    ("over", "field", "status"),
    [
        ({"price": 0.000001}, "price", 400),
        ({"direction": "sideways"}, "direction", 400),
        ({"orders": []}, "orders", 400),
        ({"symbol": "NOPE"}, "symbol", 404),
        ({"orders": [{"transactionType": "insert"}]}, "orders[0].sessionId", 400),
        (
            {
                "orders": [
                    {
                        "sessionId": "ghost",
                        "transactionType": "insert",
                        "clOrderId": "x",
                        "symbol": "BTCUSDT",
                    }
                ]
            },
            "orders[0].sessionId",
            404,
        ),
    ],
)
def test_bad_triggers_are_refused_with_the_field(tm: Market, over, field, status):
    body = {
        "id": f"bad-{uuid.uuid4().hex[:6]}",
        "price": _level(tm, 50),
        "symbol": tm.symbol,
        "direction": "up",
        "exchange": tm.exchange,
        "orders": [_far_buy(tm, tm.cl())],
    }
    body.update(over)
    code, reply = tm.api.post("/setTrigger", body)
    assert (code, reply.get("field")) == (status, field), reply


def test_duplicate_trigger_id_and_manager_are_refused(tm: Market):
    level = _level(tm, 40)
    assert _set(tm, "dup", level, "up", [_far_buy(tm, tm.cl())])[0] == 200
    code, body = _set(tm, "dup", level, "up", [_far_buy(tm, tm.cl())])
    assert code == 409 and body["field"] == "id"
    code, body = tm.api.post(
        "/startTriggerManager",
        {"symbol": tm.symbol, "exchange": tm.exchange, "sessionId": tm.session_id},
    )
    assert code == 409
    code, body = tm.api.post(
        "/startTriggerManager", {"symbol": tm.symbol, "exchange": "okx", "sessionId": tm.session_id}
    )
    assert code == 400 and body["field"] == "exchange"


def test_a_manager_needs_a_running_session(tm: Market):
    code, body = tm.api.post(
        "/startTriggerManager",
        {"symbol": tm.symbol, "exchange": tm.exchange, "sessionId": "no-such-session"},
    )
    assert code == 404 and body["field"] == "sessionId", body


def test_a_manager_takes_no_trigger_before_its_stream_is_open(api: Api, sim: dict[str, Any]):
    """While the trade stream is still opening, setTrigger is refused (409) rather than
    taken into a manager that may never start; a stream that fails to open is a 502."""
    m = start_session(api, sim, "binance-spot", f"tmo-{uuid.uuid4().hex[:8]}")
    symbol = "ETHUSDT"
    m.venue(
        "POST",
        "/sim/fault",
        json={"path": f"/ws/{symbol.lower()}@trade", "delayMs": 1500, "status": 503},
    )
    where = {"symbol": symbol, "exchange": m.exchange, "sessionId": m.session_id}
    outcome: list[tuple[int, Any]] = []
    starting = threading.Thread(
        target=lambda: outcome.append(api.post("/startTriggerManager", where))
    )
    starting.start()
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # until the server has taken the start
            code, body = api.post(
                "/setTrigger",
                {
                    "id": "early",
                    "price": 1000.0,
                    "symbol": symbol,
                    "direction": "up",
                    "exchange": m.exchange,
                    "orders": [
                        m.order(
                            clOrderId=m.cl(),
                            transactionType="insert",
                            side="buy",
                            symbol=symbol,
                            price=1000.0,
                            qty=0.1,
                        )
                    ],
                },
            )
            if code != 404:
                break
        assert (code, body.get("field")) == (409, "symbol"), body
    finally:
        starting.join(timeout=15)
    assert outcome and outcome[0][0] == 502, outcome
    # Nothing was left behind: a manager can be started once the stream opens.
    assert api.post("/startTriggerManager", where)[0] == 200
    assert api.post("/stopTriggerManager", where) == (
        200,
        {"exchange": m.exchange, "symbol": symbol, "cleared": 0},
    )


def _rehearsals(server: Process) -> float:
    samples = scrape_metrics(server)
    key = ("om_hot_path_rehearsals_total", frozenset())
    assert key in samples, "om_hot_path_rehearsals_total not exported"
    return samples[key]


@pytest.mark.parametrize("period_us", [1000, 0])
def test_an_armed_trigger_is_rehearsed_on_a_timer_until_it_is_cleared(
    logs_dir: Path, sim: dict[str, Any], period_us: int
):
    """Default mode rehearses the trade-to-order path about every `--rehearse-us` while a
    trigger is armed, and not at all before, after, or with `--rehearse-us 0`."""
    key = secret("rehearse-" + uuid.uuid4().hex)
    server = Process(
        [
            *("serve", "--key", key, "--port", "0", "--promPort", "0", "--journal", "none"),
            *("--rehearse-us", str(period_us)),
        ],
        logs_dir / f"ems-rehearse-{period_us}.log",
    )
    try:
        m = start_session(Api(server.info["url"], key), sim, "binance-spot", "rehearse")
        status, body = m.api.post(
            "/startTriggerManager",
            {"symbol": m.symbol, "exchange": m.exchange, "sessionId": m.session_id},
        )
        assert status == 200, body
        time.sleep(0.2)
        assert _rehearsals(server) == 0  # a manager with nothing armed does not wake up
        bid, ask = m.best()
        m.ref_mid = (bid + ask) / 2
        order = _far_buy(m, m.cl())
        stats = {"apiKey": m.account["apiKey"]}
        before = m.venue("GET", "/sim/stats", params=stats)["requests"]
        status, body = _set(m, "far", m.price(bid * 2), "up", [order])
        assert status == 200, body
        time.sleep(0.5)
        armed = _rehearsals(server)
        # A rehearsal renders and signs the order but sends nothing to the venue (reads,
        # such as a clock sync falling due, are not what this is about).
        after = m.venue("GET", "/sim/stats", params=stats)["requests"]
        assert {k: n for k, n in after.items() if not k.startswith("GET ")} == {
            k: n for k, n in before.items() if not k.startswith("GET ")
        }
        status, body = m.api.get("/orders", sessionId=m.session_id, all="true")
        assert status == 200 and body == [], body
        if period_us == 0:
            assert armed == 0
        else:
            # About 500 in half a second; a busy machine delays timers, never adds any.
            assert 50 <= armed <= 600, armed
        status, body = m.api.post(
            "/clearTrigger", {"id": "far", "symbol": m.symbol, "exchange": m.exchange}
        )
        assert status == 200, body
        time.sleep(0.05)  # a rehearsal already due may still run once
        cleared = _rehearsals(server)
        time.sleep(0.3)
        assert _rehearsals(server) == cleared
    finally:
        server.stop()
