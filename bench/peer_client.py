"""The peer: the same trigger written as a plain script with python-binance.

It listens to the trade stream with python-binance's socket manager and, on a
buy-aggressor trade at or above the level, places the order with the library's async
REST client, as a trader without ems would write it.

    python bench/peer_client.py REST_URL WS_URL API_KEY SECRET LEVEL [SYMBOL]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys

from binance import AsyncClient, BinanceSocketManager


async def main(rest: str, ws: str, key: str, secret: str, level: float, symbol: str) -> None:
    client = AsyncClient(key, secret)
    client.API_URL = rest + "/api"
    manager = BinanceSocketManager(client)
    manager.STREAM_URL = ws + "/"
    ids = itertools.count()
    print("ready", flush=True)
    async with manager.trade_socket(symbol) as stream:
        while True:
            event = await stream.recv()
            if event.get("e") != "trade" or event["m"] or float(event["p"]) < level:
                continue
            try:
                await client.create_order(
                    symbol=symbol,
                    side="BUY",
                    type="LIMIT",
                    timeInForce="IOC",
                    quantity="0.001",
                    price="10000",
                    newClientOrderId=f"peer{next(ids)}",
                )
            except Exception as exc:  # the benchmark only needs the request to arrive
                print(f"order error: {exc}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    for name in ("rest", "ws", "key", "secret"):
        p.add_argument(name)
    p.add_argument("level", type=float)
    p.add_argument("symbol", nargs="?", default="BTCUSDT")
    a = p.parse_args()
    asyncio.run(main(a.rest, a.ws, a.key, a.secret, a.level, a.symbol))
