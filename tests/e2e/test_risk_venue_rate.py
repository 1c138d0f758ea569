"""A session held to its venue's order-rate rule: beyond Binance spot's 100 orders per
10 s, ems refuses the order itself, as a rejected update with the typed reason."""

from __future__ import annotations

import time
import uuid
from typing import Any

import requests
from tests.e2e.conftest import MARKETS
from tests.harness import Api

from ems.venues.limits import ORDER_RATE_RULES


def _start(api: Api, sim: dict[str, Any], session_id: str, **extra: Any) -> None:
    account = sim["accounts"][MARKETS["binance-spot"]["account"]]
    code, body = api.post(
        "/startOrderHandler",
        {
            "exchangeKey": {
                "apiKey": account["apiKey"],
                "secretKey": account["secretKey"],
                "exchange": "binance-spot",
            },
            "sessionId": session_id,
            "restUrl": sim["binance-spot"]["restUrl"],
            "wsUrl": sim["binance-spot"]["wsUrl"],
            **extra,
        },
    )
    assert code == 200, body


def _ioc_far_below(session_id: str, cl: str) -> dict[str, Any]:
    # Far below the market as an IOC: the venue expires it at once, nothing rests.
    return {
        "sessionId": session_id,
        "symbol": "BTCUSDT",
        "clOrderId": cl,
        "transactionType": "insert",
        "side": "buy",
        "price": 10000.0,
        "qty": 0.001,
        "tif": "ioc",
    }


def test_venue_rule_denial_is_a_typed_rejected_update(api: Api, sim: dict[str, Any]):
    session_id = f"venue-rate-{uuid.uuid4().hex[:8]}"
    _start(api, sim, session_id, venueRateLimit=True)
    ws = api.ws()
    ws.subscribe(session_id)
    rule = ORDER_RATE_RULES["binance-spot"][0]
    statuses = []
    denied = None
    # The bucket holds the rule's 100 orders and refills at 10 per second; sending as
    # fast as REST answers runs it dry well before 300 orders.
    for i in range(300):
        cl = f"vr-{i}-{uuid.uuid4().hex[:6]}"
        code, frame = api.post("/sendOrder", _ioc_far_below(session_id, cl))
        assert code == 200, frame
        statuses.append(frame["orderStatus"])
        if frame["orderStatus"] == "rejected":
            denied = cl
            break
    assert denied is not None, "the venue rule never refused an order"
    assert statuses.count("pendingnew") >= rule.orders, "the rule's burst goes out"
    update = ws.wait(lambda f: f.get("clOrderId") == denied and f["orderStatus"] == "rejected")
    assert update["riskReason"] == "RateLimitExceeded"
    assert rule.rule in update["message"], update["message"]
    ws.close()


def test_a_session_on_a_local_endpoint_is_not_held_to_the_venue_rule(api: Api, sim: dict[str, Any]):
    """The simulator does not enforce Binance's rule, so by default neither does ems
    (the load benchmark sends 250 orders per second per session to it)."""
    session_id = f"venue-free-{uuid.uuid4().hex[:8]}"
    _start(api, sim, session_id)
    burst = ORDER_RATE_RULES["binance-spot"][0].orders + 20
    for i in range(burst):
        code, frame = api.post("/sendOrder", _ioc_far_below(session_id, f"vf-{i}"))
        assert code == 200 and frame["orderStatus"] == "pendingnew", frame
    code, limits = api.get("/riskLimits", sessionId=session_id)
    assert code == 200 and limits["venueRateRules"] == []


def test_the_venue_rules_a_session_is_held_to_are_listed(api: Api, sim: dict[str, Any]):
    session_id = f"venue-list-{uuid.uuid4().hex[:8]}"
    _start(api, sim, session_id, venueRateLimit=True)
    code, limits = api.get("/riskLimits", sessionId=session_id)
    assert code == 200
    assert [r["rule"] for r in limits["venueRateRules"]] == [
        r.rule for r in ORDER_RATE_RULES["binance-spot"]
    ]
    account = sim["accounts"][0]
    code, body = api.post(
        "/startOrderHandler",
        {
            "sessionId": f"venue-bad-{uuid.uuid4().hex[:8]}",
            "exchangeKey": {**account, "exchange": "binance-spot"},
            "venueRateLimit": "yes",
        },
    )
    assert code == 400 and body["field"] == "venueRateLimit", body


def test_a_trigger_order_is_held_to_the_venue_rule_like_an_insert(api: Api, sim: dict[str, Any]):
    """A fired order needs a token too: with the account's bucket empty it is refused
    with the typed reason, and once the bucket refills the next trigger's order goes out."""
    session_id = f"venue-trig-{uuid.uuid4().hex[:8]}"
    _start(api, sim, session_id, venueRateLimit=True)
    rest = sim["binance-spot"]["restUrl"]
    where = {"symbol": "BTCUSDT", "exchange": "binance-spot", "sessionId": session_id}
    assert api.post("/startTriggerManager", where)[0] == 200
    ws = api.ws()
    ws.subscribe(session_id)
    try:
        bid = requests.get(
            f"{rest}/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5}, timeout=5
        ).json()["bids"][0][0]
        # A buy printed under the best bid crosses nothing and prints at its price.
        level = round(float(bid) - 5.0, 2)

        def fire(trigger_id: str, cl: str) -> None:
            code, body = api.post(
                "/setTrigger",
                {
                    **where,
                    "id": trigger_id,
                    "price": level,
                    "direction": "up",
                    "orders": [_ioc_far_below(session_id, cl)],
                },
            )
            assert code == 200, body
            requests.post(
                f"{rest}/sim/trade",
                json={"symbol": "BTCUSDT", "price": level, "qty": 0.001, "side": "buy"},
                timeout=5,
            ).raise_for_status()

        for i in range(300):  # empty the bucket
            frame = api.post("/sendOrder", _ioc_far_below(session_id, f"vt-{i}"))[1]
            if frame["orderStatus"] == "rejected":
                break
        else:
            raise AssertionError("the venue rule never refused an insert")
        fire("vt-empty", "vt-empty")
        refused = ws.wait(
            lambda f: f.get("clOrderId") == "vt-empty" and f["orderStatus"] == "rejected"
        )
        assert refused["riskReason"] == "RateLimitExceeded", refused
        time.sleep(0.5)  # the bucket refills at 10 orders per second
        fire("vt-refilled", "vt-refilled")
        ws.wait(lambda f: f.get("clOrderId") == "vt-refilled" and f["orderStatus"] == "pendingnew")
    finally:
        api.post("/stopTriggerManager", where)
        ws.close()
