"""The matching engine, on its own and through the Binance spot and futures REST APIs."""

from __future__ import annotations

from decimal import Decimal as D

from tests.sim.conftest import Sim, Venue

from ems.sim.marketmaker import MM_OWNER, MarketMaker, Quoting
from ems.sim.matching import Book, RestingOrder, Side


def _book() -> Book:
    book = Book("X")
    book.add(RestingOrder(1, "a", Side.SELL, D("101"), D("1")))
    book.add(RestingOrder(2, "b", Side.SELL, D("100"), D("1")))
    book.add(RestingOrder(3, "c", Side.SELL, D("100"), D("2")))
    return book


def test_book_fills_best_price_first_then_time_priority_each_at_its_own_price():
    book = _book()
    fills = book.match(Side.BUY, D("3.5"), D("101"))
    assert [(f.maker.order_id, f.price, f.qty) for f in fills] == [
        (2, D("100"), D("1")),
        (3, D("100"), D("2")),
        (1, D("101"), D("0.5")),
    ]
    assert book.get(1) is not None and book.get(1).leaves == D("0.5")  # type: ignore[union-attr]
    assert book.levels(Side.SELL) == [(D("101"), D("0.5"))]


def test_book_limit_stops_matching_beyond_the_limit_price():
    book = _book()
    fills = book.match(Side.BUY, D("5"), D("100"))
    assert sum(f.qty for f in fills) == D("3")
    assert book.best_ask() == D("101")


def test_reducing_quantity_keeps_queue_position_and_reinsert_loses_it():
    book = _book()
    book.reduce(2, D("0.5"))
    assert [f.maker.order_id for f in book.plan(Side.BUY, D("1"), None) for f in []] == []
    assert [m.order_id for m, _ in book.plan(Side.BUY, D("1"), D("100"))] == [2, 3]
    removed = book.remove(2)
    assert removed is not None
    book.add(removed)
    assert [m.order_id for m, _ in book.plan(Side.BUY, D("3"), D("100"))] == [3, 2]


def test_level_changes_are_numbered_contiguously():
    book = Book("X")
    seen: list[int] = []
    book.add_listener(lambda side, price, qty, uid: seen.append(uid))
    book.add(RestingOrder(1, "a", Side.BUY, D("99"), D("1")))
    book.add(RestingOrder(2, "a", Side.SELL, D("100"), D("1")))
    book.match(Side.SELL, D("1"), D("99"))
    book.remove(2)
    assert seen == [1, 2, 3, 4]


def test_quote_budget_buys_whole_steps_only():
    book = _book()
    plan = book.plan(Side.BUY, None, None, quote_budget=D("150"), step=D("0.1"))
    assert [(m.order_id, q) for m, q in plan] == [(2, D("1")), (3, D("0.5"))]


def test_market_maker_replenishes_and_never_crosses_other_orders():
    ids = iter(range(100, 1000))
    book = Book("X")
    mm = MarketMaker(1, lambda: next(ids))
    mm.configure("X", Quoting(mid=D("100"), step=D("1"), size=D("2"), levels=2, tick=D("1")))
    mm.replenish(book)
    assert book.levels(Side.BUY) == [(D("99"), D("2")), (D("98"), D("2"))]
    # A user buys 3 at 101: 2 fill against the maker's ask, 1 rests at 101.
    assert sum(f.qty for f in book.match(Side.BUY, D("3"), D("101"))) == D("2")
    book.add(RestingOrder(1, "user", Side.BUY, D("101"), D("1")))
    book.match(Side.SELL, D("1"), D("98"))  # the user's bid goes first, then nothing else
    book.add(RestingOrder(2, "user", Side.BUY, D("101"), D("1")))
    book.match(Side.SELL, D("2"), D("99"))  # takes the user's bid and 1 of the maker's 99
    book.add(RestingOrder(3, "user", Side.BUY, D("101"), D("1")))
    mm.replenish(book)
    assert book.level_qty(Side.BUY, D("99")) == D("2")  # topped up
    assert book.level_qty(Side.SELL, D("101")) == 0  # would cross the user's bid: skipped
    assert book.best_ask() == D("102")
    assert all(o.owner == MM_OWNER for o in book.owner_orders(MM_OWNER))


# ----------------------------------------------------------------------------- spot REST


def _limit(venue: Venue, side: str, price: str, qty: str, tif: str = "GTC", **extra: str):
    return venue.signed(
        "POST",
        "/api/v3/order",
        {
            "symbol": "BTCUSDT",
            "side": side,
            "type": "LIMIT",
            "timeInForce": tif,
            "quantity": qty,
            "price": price,
            **extra,
        },
    )


def test_spot_price_time_priority_and_partial_fills_between_accounts(sim: Sim):
    sim.spot.clear_book("BTCUSDT")
    a, b = sim.venue("binance-spot", 1), sim.venue("binance-spot", 2)
    _, first, _ = _limit(a, "SELL", "30000.00", "0.01000")
    _, second, _ = _limit(b, "SELL", "30000.00", "0.01000")
    _, better, _ = _limit(b, "SELL", "29999.99", "0.00500")
    status, taker, _ = _limit(sim.spot, "BUY", "30000.00", "0.02000", newOrderRespType="FULL")
    assert status == 200
    assert taker["status"] == "FILLED"
    assert [(f["price"], f["qty"]) for f in taker["fills"]] == [
        ("29999.99000000", "0.00500000"),
        ("30000.00000000", "0.01000000"),
        ("30000.00000000", "0.00500000"),
    ]
    assert (
        a.ok("GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": first["orderId"]})["status"]
        == "FILLED"
    )
    left = b.ok("GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": second["orderId"]})
    assert (left["status"], left["executedQty"]) == ("PARTIALLY_FILLED", "0.00500000")
    assert better["status"] == "NEW"


def test_spot_balances_lock_on_entry_and_settle_on_fill(sim: Sim):
    sim.spot.clear_book("BTCUSDT")
    before = {b["asset"]: b for b in sim.spot.ok("GET", "/api/v3/account")["balances"]}
    _limit(sim.spot, "BUY", "20000.00", "0.10000")
    locked = {b["asset"]: b for b in sim.spot.ok("GET", "/api/v3/account")["balances"]}
    assert locked["USDT"]["locked"] == "2000.00000000"
    assert D(locked["USDT"]["free"]) == D(before["USDT"]["free"]) - 2000
    fills = sim.spot.trade("BTCUSDT", "sell", 19990, 0.1)["fills"]
    assert fills[0]["price"] == "20000.00000000"
    after = {b["asset"]: b for b in sim.spot.ok("GET", "/api/v3/account")["balances"]}
    assert after["USDT"]["locked"] == "0.00000000"
    assert D(after["BTC"]["free"]) == D(before["BTC"]["free"]) + D("0.1") - D("0.0001")


def test_spot_insufficient_balance_is_rejected(sim: Sim):
    status, body, _ = _limit(sim.spot, "BUY", "30000.00", "100.00000")
    assert (status, body) == (
        400,
        {"code": -2010, "msg": "Account has insufficient balance for requested action."},
    )


def test_spot_filters_reject_off_grid_orders(sim: Sim):
    assert _limit(sim.spot, "BUY", "29000.000000001", "0.01000")[1] == {
        "code": -1111,
        "msg": "Parameter 'price' has too much precision.",
    }
    assert _limit(sim.spot, "BUY", "29000.005", "0.01")[1]["msg"] == "Filter failure: PRICE_FILTER"
    price = _limit(sim.spot, "BUY", "29000.5", "0.010001")[1]
    assert price == {"code": -1013, "msg": "Filter failure: LOT_SIZE"}
    tick = sim.spot.signed(
        "POST",
        "/api/v3/order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "0.01", "price": "0.001"},
    )[1]  # fmt: skip
    assert tick["code"] == -1013 and "PRICE_FILTER" in tick["msg"]
    assert _limit(sim.spot, "BUY", "29000.00", "0.00010")[1] == {
        "code": -1013,
        "msg": "Filter failure: NOTIONAL",
    }
    assert _limit(sim.spot, "BUY", "29000.00", "0.001", symbol="NOPE")[1] == {
        "code": -1121,
        "msg": "Invalid symbol.",
    }
    _, body, _ = sim.spot.signed(
        "POST", "/api/v3/order", {"symbol": "BTCUSDT", "side": "BUY", "type": "STOP"}
    )
    assert body == {"code": -1116, "msg": "Invalid orderType."}


def test_limit_maker_that_would_take_is_rejected(sim: Sim):
    ask = D(sim.spot.public("/api/v3/depth", symbol="BTCUSDT", limit=1)["asks"][0][0])
    status, body, _ = sim.spot.signed(
        "POST",
        "/api/v3/order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT_MAKER", "quantity": "0.001",
         "price": str(ask)},
    )  # fmt: skip
    assert (status, body) == (
        400,
        {"code": -2010, "msg": "Order would immediately match and take."},
    )
    ok = sim.spot.ok(
        "POST",
        "/api/v3/order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT_MAKER", "quantity": "0.001",
         "price": str(ask - 10)},
    )  # fmt: skip
    assert set(ok) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}


def test_ioc_fills_what_it_can_and_expires_the_rest(sim: Sim):
    _, body, _ = _limit(sim.spot, "BUY", "30000.50", "0.70000", tif="IOC")
    assert body["status"] == "EXPIRED"
    assert body["executedQty"] == "0.50000000"  # only the 30000.50 level is inside the limit...
    assert len(body["fills"]) == 1
    _, body, _ = _limit(sim.spot, "BUY", "30001.00", "2.00000", tif="IOC")
    assert body["executedQty"] == "1.00000000"  # ...and the maker replenished it afterwards


def test_fok_fills_completely_or_not_at_all(sim: Sim):
    _, body, _ = _limit(sim.spot, "BUY", "30000.50", "0.60000", tif="FOK")
    assert (body["status"], body["executedQty"], body["fills"]) == ("EXPIRED", "0.00000000", [])
    _, body, _ = _limit(sim.spot, "BUY", "30001.00", "0.60000", tif="FOK")
    assert (body["status"], body["executedQty"]) == ("FILLED", "0.60000000")


def test_duplicate_open_client_order_id_is_rejected(sim: Sim):
    _limit(sim.spot, "BUY", "20000.00", "0.001", newClientOrderId="dup-1")
    status, body, _ = _limit(sim.spot, "BUY", "20000.00", "0.001", newClientOrderId="dup-1")
    assert (status, body) == (400, {"code": -2010, "msg": "Duplicate order sent."})


def test_cancel_unknown_and_query_unknown_use_their_own_codes(sim: Sim):
    _, body, _ = sim.spot.signed("DELETE", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": 1})
    assert body == {"code": -2011, "msg": "Unknown order sent."}
    _, body, _ = sim.spot.signed("GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": 1})
    assert body == {"code": -2013, "msg": "Order does not exist."}


def test_cancel_all_cancels_every_working_order_of_the_symbol(sim: Sim):
    for price in ("20000.00", "20001.00", "20002.00"):
        _limit(sim.spot, "BUY", price, "0.001")
    eth = sim.spot.ok(
        "POST",
        "/api/v3/order",
        {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "0.01", "price": "1000.00"},
    )  # fmt: skip
    cancelled = sim.spot.ok("DELETE", "/api/v3/openOrders", {"symbol": "BTCUSDT"})
    assert [c["status"] for c in cancelled] == ["CANCELED"] * 3
    left = sim.spot.ok("GET", "/api/v3/openOrders")
    assert [o["orderId"] for o in left] == [eth["orderId"]]


def test_amend_keep_priority_lowers_quantity_and_keeps_the_queue_place(sim: Sim):
    sim.spot.clear_book("BTCUSDT")
    other = sim.venue("binance-spot", 1)
    _, first, _ = _limit(sim.spot, "SELL", "30000.00", "0.01000")
    _limit(other, "SELL", "30000.00", "0.01000")
    amended = sim.spot.ok(
        "PUT",
        "/api/v3/order/amend/keepPriority",
        {"symbol": "BTCUSDT", "orderId": first["orderId"], "newQty": "0.00400"},
    )
    assert amended["amendedOrder"]["qty"] == "0.00400000"
    _, body, _ = sim.spot.signed(
        "PUT",
        "/api/v3/order/amend/keepPriority",
        {"symbol": "BTCUSDT", "orderId": first["orderId"], "newQty": "0.02"},
    )
    assert body["code"] == -2038
    fills = sim.spot.trade("BTCUSDT", "buy", 30000, 0.005)["fills"]
    assert fills[0]["orderId"] == first["orderId"] and fills[0]["qty"] == "0.00400000"


def test_cancel_replace_success_and_partial_failures(sim: Sim):
    _, original, _ = _limit(sim.spot, "BUY", "20000.00", "0.001")
    replaced = sim.spot.ok(
        "POST",
        "/api/v3/order/cancelReplace",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "0.002", "price": "20001.00", "cancelReplaceMode": "STOP_ON_FAILURE",
         "cancelOrderId": original["orderId"]},
    )  # fmt: skip
    assert replaced["cancelResult"] == "SUCCESS" and replaced["newOrderResult"] == "SUCCESS"
    assert replaced["cancelResponse"]["status"] == "CANCELED"
    new_id = replaced["newOrderResponse"]["orderId"]
    # Cancel works, the new LIMIT_MAKER would take: 409 -2021.
    status, body, _ = sim.spot.signed(
        "POST",
        "/api/v3/order/cancelReplace",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT_MAKER", "quantity": "0.002",
         "price": "31000.00", "cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrderId": new_id},
    )  # fmt: skip
    assert status == 409
    assert body["code"] == -2021 and body["msg"] == "Order cancel-replace partially failed."
    assert body["data"]["cancelResult"] == "SUCCESS"
    assert body["data"]["newOrderResponse"] == {
        "code": -2010,
        "msg": "Order would immediately match and take.",
    }
    # Unknown order with STOP_ON_FAILURE: 400 -2022, new order not attempted.
    status, body, _ = sim.spot.signed(
        "POST",
        "/api/v3/order/cancelReplace",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "0.002", "price": "20001.00", "cancelReplaceMode": "STOP_ON_FAILURE",
         "cancelOrderId": 1},
    )  # fmt: skip
    assert status == 400 and body["code"] == -2022
    assert body["data"]["newOrderResult"] == "NOT_ATTEMPTED"
    # ALLOW_FAILURE places the new order anyway: 409 -2021.
    status, body, _ = sim.spot.signed(
        "POST",
        "/api/v3/order/cancelReplace",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
         "quantity": "0.002", "price": "20001.00", "cancelReplaceMode": "ALLOW_FAILURE",
         "cancelOrderId": 1},
    )  # fmt: skip
    assert status == 409 and body["data"]["newOrderResult"] == "SUCCESS"


def test_market_order_by_quote_quantity(sim: Sim):
    body = sim.spot.ok(
        "POST",
        "/api/v3/order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "1500.25"},
    )
    assert body["status"] == "FILLED"
    assert D(body["cummulativeQuoteQty"]) <= D("1500.25")
    assert body["origQuoteOrderQty"] == "1500.25000000"
    assert D(body["executedQty"]) == D("0.05")  # 1500.25 / 30000.50 in whole lot steps


# ----------------------------------------------------------------------------- futures REST


def _fut(venue: Venue, path: str, **params: str):
    return venue.signed("POST", path, {"type": "LIMIT", "timeInForce": "GTC", **params})


def test_futures_position_and_realized_pnl_follow_fills(sim: Sim):
    fu = sim.usdm
    body = fu.ok(
        "POST",
        "/fapi/v1/order",
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.010",
         "newOrderRespType": "RESULT"},
    )  # fmt: skip
    assert (body["status"], body["avgPrice"]) == ("FILLED", "30000.50000000")
    sim.usdm.admin("POST", "/sim/book", json={"symbol": "BTCUSDT", "mid": 31000})
    fu.ok(
        "POST",
        "/fapi/v1/order",
        {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.004",
         "reduceOnly": "true"},
    )  # fmt: skip
    pos = fu.ok("GET", "/fapi/v2/positionRisk", {"symbol": "BTCUSDT"})[0]
    assert pos["positionAmt"] == "0.006"
    assert D(pos["entryPrice"]) == D("30000.5")
    trades = fu.ok("GET", "/fapi/v1/userTrades", {"symbol": "BTCUSDT"})
    assert D(trades[-1]["realizedPnl"]) == (D("30999.5") - D("30000.5")) * D("0.004")


def test_futures_reject_codes(sim: Sim):
    fu = sim.usdm
    tick = _fut(fu, "/fapi/v1/order", symbol="BTCUSDT", side="BUY", quantity="0.010",
                price="29000.05")[1]  # fmt: skip
    assert tick == {"code": -4014, "msg": "Price not increased by tick size."}
    notional = _fut(fu, "/fapi/v1/order", symbol="BTCUSDT", side="BUY", quantity="0.001",
                    price="29000.0")[1]  # fmt: skip
    assert notional["code"] == -4164
    gtx = _fut(fu, "/fapi/v1/order", symbol="BTCUSDT", side="BUY", quantity="0.010",
               price="30010.0", timeInForce="GTX")[1]  # fmt: skip
    assert gtx["code"] == -5022
    fok = _fut(fu, "/fapi/v1/order", symbol="BTCUSDT", side="BUY", quantity="5.000",
               price="30001.0", timeInForce="FOK")[1]  # fmt: skip
    assert fok["code"] == -5021
    long_id = _fut(fu, "/fapi/v1/order", symbol="BTCUSDT", side="BUY", quantity="0.010",
                   price="29000.0", newClientOrderId="x" * 37)[1]  # fmt: skip
    assert long_id["code"] == -4015
    reduce = fu.signed(
        "POST", "/fapi/v1/order",
        {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.010",
         "reduceOnly": "true"},
    )[1]  # fmt: skip
    assert reduce == {"code": -2022, "msg": "ReduceOnly Order is rejected."}


def test_futures_batch_orders_modify_and_batch_cancel(sim: Sim):
    fu = sim.usdm
    batch = (
        '[{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","timeInForce":"GTC",'
        '"quantity":"0.010","price":"29000.0"},'
        '{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","timeInForce":"GTC",'
        '"quantity":"0.010","price":"29000.05"}]'
    )
    placed = fu.ok("POST", "/fapi/v1/batchOrders", {"batchOrders": batch})
    assert placed[0]["status"] == "NEW"
    assert placed[1] == {"code": -4014, "msg": "Price not increased by tick size."}
    modified = fu.ok(
        "PUT",
        "/fapi/v1/order",
        {"symbol": "BTCUSDT", "side": "BUY", "orderId": placed[0]["orderId"],
         "quantity": "0.020", "price": "29001.0"},
    )  # fmt: skip
    assert (modified["price"], modified["origQty"]) == ("29001.00", "0.020")
    cancelled = fu.ok(
        "DELETE",
        "/fapi/v1/batchOrders",
        {"symbol": "BTCUSDT", "orderIdList": f"[{placed[0]['orderId']},1]"},
    )
    assert cancelled[0]["status"] == "CANCELED"
    assert cancelled[1] == {"code": -2011, "msg": "Unknown order sent."}


def test_coinm_quantities_are_contracts_of_100_usd(sim: Sim):
    cm = sim.coinm
    body = cm.ok(
        "POST",
        "/dapi/v1/order",
        {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "MARKET", "quantity": "3",
         "newOrderRespType": "RESULT"},
    )  # fmt: skip
    assert body["executedQty"] == "3"
    assert D(body["cumBase"]) == (D(300) / D("30000.5")).quantize(D("0.00000001"))
    pos = cm.ok("GET", "/dapi/v1/positionRisk", {})
    assert [p["positionAmt"] for p in pos if p["symbol"] == "BTCUSD_PERP"] == ["3"]
    frac = cm.signed(
        "POST",
        "/dapi/v1/order",
        {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "MARKET", "quantity": "1.5"},
    )[1]
    assert frac["code"] == -1111
