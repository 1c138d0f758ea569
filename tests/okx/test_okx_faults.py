"""OKX venue faults end to end: the private WebSocket drops in the middle of a batch.

Whatever the venue managed to process before the drop, once ems has reconciled every
order is either working on the venue (and working in ems, once) or known to the venue as
never placed (rejected in ems): nothing is lost, nothing duplicated.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from decimal import Decimal

from tests.okx.conftest import OkxMarket, assert_matches_venue, status_is

FINAL = ("new", "rejected", "cancelled", "filled", "expired")


def _wait_settled(m: OkxMarket, ws, ids: list[str], timeout: float = 20.0) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The last status of each order once none is pending any more."""
    deadline = time.monotonic() + timeout
    while True:
        last: dict[str, str] = {}
        for frame in ws.frames:
            if frame.get("clOrderId") in ids and frame.get("transactionType") == "insert":
                last[frame["clOrderId"]] = frame["orderStatus"]
        if len(last) == len(ids) and all(s in FINAL for s in last.values()):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"orders still unsettled: {last}")
        with contextlib.suppress(AssertionError):
            ws.wait(lambda f: False, timeout=0.2)


def test_drop_in_the_middle_of_a_batch_of_inserts_loses_and_duplicates_nothing(
    okx_faults: OkxMarket,
):
    m = okx_faults
    ws = m.stream()
    key = m.account["apiKey"]
    # The connection goes down; orders sent meanwhile wait and leave together as one
    # batch-orders message, in the middle of which the venue drops the connection again.
    before = m.stats()
    m.fault(dropPrivate={"apiKey": key, "afterItems": 5})
    m.fault(disconnect="private", apiKey=key, refuseMs=600)
    base = Decimal(str(m.resting_buy(300)))
    ids = [m.cl() for _ in range(12)]
    for i, cl in enumerate(ids):
        ws.send(
            m.order(
                clOrderId=cl,
                transactionType="insert",
                side="buy",
                price=m.price(base - i * m.tick),
                qty=m.qty,
            )
        )
    last = _wait_settled(m, ws, ids)
    after = m.stats()
    assert after["ops"]["batch-orders"] - before["ops"].get("batch-orders", 0) == 1
    # The venue took the first five of the batch and never saw the other seven.
    assert Counter(last.values()) == {"new": 5, "rejected": 7}, last
    venue = m.venue_orders()
    venue_ids = Counter(o["ordId"] for o in venue)
    assert all(n == 1 for n in venue_ids.values())
    working = {o["clOrderId"]: o["exchOrderId"] for o in m.working()}
    assert {cl for cl, s in last.items() if s == "new"} == set(working)
    assert set(working.values()) == set(venue_ids)
    assert all(s in ("new", "rejected") for s in last.values()), last
    for cl, status in last.items():
        if status == "rejected":
            frame = ws.wait(status_is(cl, "rejected"))
            assert frame["message"], frame
    assert_matches_venue(m)
    ws.close()


def test_drop_in_the_middle_of_a_pull_still_cancels_every_order(okx_faults: OkxMarket):
    m = okx_faults
    ws = m.stream()
    base = Decimal(str(m.resting_buy(300)))
    ids = [m.cl() for _ in range(45)]
    for i, cl in enumerate(ids):
        ws.send(
            m.order(
                clOrderId=cl,
                transactionType="insert",
                side="buy",
                price=m.price(base - (i % 9) * m.tick),
                qty=m.qty,
            )
        )
    for cl in ids:
        ws.wait(status_is(cl, "new"))
    # Three batch-cancel messages go out; the venue drops the connection after the
    # 25th order, in the middle of the second one.
    m.fault(dropPrivate={"apiKey": m.account["apiKey"], "afterItems": 25})
    status, body = m.send(transactionType="pull")
    assert status == 200 and len(body["orders"]) == 45
    for cl in ids:
        ws.wait(status_is(cl, "cancelled"), timeout=20)
    assert m.venue_orders() == []
    assert m.working() == []
    ws.close()


def test_orders_channel_drop_is_reconciled_after_reconnect(okx_faults: OkxMarket):
    m = okx_faults
    ws = m.stream()
    cl = m.cl()
    bid, ask = m.best()
    price = m.price(bid + m.tick) if ask - bid > m.tick else m.price(bid)
    ws.send(m.order(clOrderId=cl, transactionType="insert", side="buy", price=price, qty=0.03))
    ws.wait(status_is(cl, "new"))
    # The fill happens while the private connection is down: its push is never sent.
    m.fault(disconnect="private", apiKey=m.account["apiKey"])
    m.trade("sell", price, 0.01)
    part = ws.wait(status_is(cl, "partiallyfilled"), timeout=15)
    assert part["cumulativeFilledQty"] == 0.01
    assert_matches_venue(m)
    ws.close()


def test_insert_while_disconnected_goes_out_after_login(okx_faults: OkxMarket):
    m = okx_faults
    ws = m.stream()
    m.fault(disconnect="private", apiKey=m.account["apiKey"], refuseMs=300)
    cl = m.cl()
    ws.send(
        m.order(clOrderId=cl, transactionType="insert", side="buy", price=m.resting_buy(), qty=0.01)
    )
    ws.wait(status_is(cl, "new"), timeout=10)
    assert [o["clOrdId"] for o in m.venue_orders()] != []
    assert_matches_venue(m)
    ws.close()
