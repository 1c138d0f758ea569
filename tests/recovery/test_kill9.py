"""kill -9 under a steady flow of orders and fills, again and again.

After every restart ems's orders, fills and position must equal the venue's, and no
order may have been sent twice.
"""

from __future__ import annotations

import random
import time
import uuid
from decimal import Decimal
from typing import Any

import requests
from tests.e2e.conftest import start_session
from tests.recovery.conftest import Ems
from tests.recovery.test_restart import _prefixes, _sim_orders, _wait_equal

KILLS = 20


def test_kill9_twenty_times_under_flow(ems: Ems, sim: dict[str, Any]):
    rng = random.Random(20261125)
    m = start_session(ems.api, sim, "binance-spot", f"kill9-{uuid.uuid4().hex[:8]}")
    bid, ask = m.best()
    far = m.price(bid - 400 * m.tick)
    inside = m.price(bid + m.tick) if ask - bid > m.tick else m.price(bid)
    take = m.price(ask + 10 * m.tick)
    resting: list[str] = []

    def act() -> None:
        choice = rng.random()
        try:
            if choice < 0.35:
                cl = m.cl()
                m.send(clOrderId=cl, transactionType="insert", side="buy", price=far, qty=0.001)
                resting.append(cl)
            elif choice < 0.55:
                m.send(
                    clOrderId=m.cl(),
                    transactionType="insert",
                    side="buy",
                    price=take,
                    qty=0.001,
                    tif="ioc",
                )
            elif choice < 0.75:
                m.send(
                    clOrderId=m.cl(), transactionType="insert", side="buy", price=inside, qty=0.002
                )
                m.trade("sell", inside, 0.001)  # a partial fill of the inside order
            elif resting:
                m.send(clOrderId=resting.pop(rng.randrange(len(resting))), transactionType="delete")
            else:
                m.send(
                    clOrderId=m.cl(),
                    transactionType="insert",
                    side="sell",
                    price=take,
                    qty=0.001,
                    orderType="market",
                )
        except requests.RequestException:
            pass  # ems is down between a kill and its restart

    for _ in range(KILLS):
        for _ in range(rng.randint(2, 8)):
            act()
        time.sleep(rng.choice((0.0, 0.0, 0.001, 0.005, 0.02)))  # inside or past the write-behind
        ems.kill9()
        m.trade("sell", inside, 0.001)  # trading goes on while ems is dead
        ems.start()
        m.api = ems.api
        ems.wait_session(m.session_id)
        ours = _wait_equal(m, ems)
        prefixes = _prefixes(ems, m.session_id)
        venue = [v for v in _sim_orders(m).values() if v["clientOrderId"].startswith(prefixes)]
        client_ids = [v["clientOrderId"] for v in venue]
        assert len(client_ids) == len(set(client_ids)), "an order was sent twice"
        assert len(venue) == len([o for o in ours if o["exchOrderId"]])
        expected = sum(
            (Decimal(v["executedQty"]) * (1 if v["side"] == "BUY" else -1) for v in venue),
            Decimal(0),
        )
        _, pos = ems.api.get("/getPosition", sessionId=m.session_id, symbol=m.symbol)
        assert Decimal(str(pos["position"])) == expected
    assert ems.lives == KILLS + 1
    # The flow really traded: many orders, fills among them.
    assert len(venue) >= 2 * KILLS
    assert any(Decimal(v["executedQty"]) > 0 for v in venue)
    m.send(transactionType="pull")
