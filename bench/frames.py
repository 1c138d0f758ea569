"""Inputs shared by every benchmark: the same bytes go to our kernels and to the peers."""

import random

BINANCE_TRADE = (
    b'{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.00100000",'
    b'"q":"100.00000000","T":1672515782136,"m":true,"M":true}'
)

OKX_ORDER = (
    b'{"arg":{"channel":"orders","instType":"SPOT","uid":"614488474791936"},"data":[{'
    b'"accFillSz":"0.001","algoClOrdId":"","algoId":"","amendResult":"","amendSource":"",'
    b'"avgPx":"31527.1","cancelSource":"","category":"normal","ccy":"","clOrdId":"ems0042",'
    b'"code":"0","cTime":"1654084334977","execType":"M","fee":"-0.02522168",'
    b'"feeCcy":"USDT","fillFee":"-0.02522168","fillFeeCcy":"USDT","fillNotionalUsd":"31.50818374",'
    b'"fillPx":"31527.1","fillSz":"0.001","fillPnl":"0","fillTime":"1654084353263",'
    b'"fillPxVol":"","fillPxUsd":"","fillMarkVol":"","fillFwdPx":"","fillMarkPx":"",'
    b'"instId":"BTC-USDT","instType":"SPOT","lever":"0","msg":"","notionalUsd":"31.50818374",'
    b'"ordId":"452197707845865472","ordType":"limit","pnl":"0","posSide":"","px":"31527.1",'
    b'"pxUsd":"","pxVol":"","pxType":"","quickMgnType":"","rebate":"0","rebateCcy":"BTC",'
    b'"reduceOnly":"false","reqId":"","side":"sell","attachAlgoClOrdId":"","slOrdPx":"",'
    b'"slTriggerPx":"","slTriggerPxType":"last","source":"","state":"filled",'
    b'"stpId":"","stpMode":"cancel_maker","sz":"0.001","tag":"","tdMode":"cash","tgtCcy":"",'
    b'"tpOrdPx":"","tpTriggerPx":"","tpTriggerPxType":"last","attachAlgoOrds":[],'
    b'"tradeId":"242589207","lastPx":"31527.1","uTime":"1654084353264","isTpLimit":"false",'
    b'"linkedAlgoOrd":{"algoId":""}}]}'
)


SIGN_SECRET = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"

# A 200-byte Binance REST query, as signed before every order.
SIGN_PAYLOAD = (
    b"symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01000000&price=52000.00"
    b"&newClientOrderId=ems-042&recvWindow=5000&newOrderRespType=ACK"
    b"&selfTradePreventionMode=NONE&timestamp=1645423376532"
)

TICK = "0.01"
STEP = "0.00001"
MID_TICKS = 5_200_000  # 52,000.00


def depth_messages(count: int, levels: int = 20, seed: int = 1) -> list[bytes]:
    """Binance spot depthUpdate frames with `levels` bids and asks each, consecutive
    U/u, prices within 100 ticks of the mid (as a real diff stream mostly is), text
    padded to 8 decimals as spot sends it; about 20% of the levels are deletions."""
    rng = random.Random(seed)
    frames = []
    for k in range(count):
        bids = sorted({MID_TICKS - 1 - rng.randrange(100) for _ in range(levels * 2)})[:levels]
        asks = sorted({MID_TICKS + 1 + rng.randrange(100) for _ in range(levels * 2)})[:levels]

        def side(prices: list[int]) -> str:
            out = []
            for p in prices:
                qty = 0 if rng.random() < 0.2 else rng.randrange(1, 500_000)
                # Binance spot pads prices and sizes to 8 decimals.
                out.append(
                    f'["{p // 100}.{p % 100:02d}000000","{qty // 100_000}.{qty % 100_000:05d}000"]'
                )
            return ",".join(out)

        frames.append(
            (
                f'{{"e":"depthUpdate","E":{1700000000000 + k},"s":"BTCUSDT","U":{k + 1},'
                f'"u":{k + 1},"b":[{side(bids)}],"a":[{side(asks)}]}}'
            ).encode()
        )
    return frames


def snapshot_levels(levels: int = 1000) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """A starting book in units: `levels` per side around the mid."""
    bids = [(MID_TICKS - 1 - i, 100_000) for i in range(levels)]
    asks = [(MID_TICKS + 1 + i, 100_000) for i in range(levels)]
    return bids, asks


FIX_TIME = "20260101-12:00:00.000"

# An ExecutionReport as Deribit sends it (protocols.md D.2).
EXEC_REPORT_FIELDS = [
    (37, "ETH-1234567"),
    (11, "srv-0001"),
    (41, "ems-000042"),
    (17, "exec-99"),
    (150, "F"),
    (39, "1"),
    (55, "BTC-PERPETUAL"),
    (54, "1"),
    (38, "100"),
    (44, "50000.5"),
    (40, "2"),
    (151, "60"),
    (14, "40"),
    (6, "50000.5"),
    (31, "50000.5"),
    (32, "40"),
    (60, "20260101-12:00:00.000"),
]
EXEC_REPORT_TAGS = [37, 11, 41, 150, 39, 54, 151, 14, 6]


EXECUTION_REPORT = (
    b'{"e":"executionReport","E":1499405658658,"s":"ETHBTC","c":"mUvoqJxFIILMdfAW5iGSOW",'
    b'"S":"BUY","o":"LIMIT","f":"GTC","q":"1.00000000","p":"0.10264410","P":"0.00000000",'
    b'"F":"0.00000000","g":-1,"C":"","x":"TRADE","X":"PARTIALLY_FILLED","r":"NONE",'
    b'"i":4293153,"l":"0.50000000","z":"0.50000000","L":"0.10264410","n":"0.00010000",'
    b'"N":"BNB","T":1499405658657,"t":77,"I":8641984,"w":true,"m":false,"M":false,'
    b'"O":1499405658657,"Z":"0.05132205","Y":"0.05132205","Q":"0.00000000",'
    b'"W":1499405658657,"V":"NONE"}'
)

OKX_TRADES = (
    b'{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",'
    b'"tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy",'
    b'"ts":"1630048897897","count":"3","source":"0","seqId":1234}]}'
)

BYBIT_TRADES = (
    b'{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{'
    b'"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick",'
    b'"i":"2290000000061666327","BT":false,"seq":1783284617}]}'
)


def okx_book_updates(count: int, levels: int = 10, seed: int = 2) -> list[bytes]:
    """OKX `books` updates (seqId chain, checksum 0 as OKX now sends) with `levels` bids
    and asks each, tick 0.1, size step 0.0001."""
    rng = random.Random(seed)
    mid = 420_000
    out = []
    for k in range(count):

        def side(sign: int) -> str:
            prices = sorted({mid + sign * (1 + rng.randrange(100)) for _ in range(levels * 2)})
            rows = []
            for p in prices[:levels]:
                size = 0 if rng.random() < 0.2 else rng.randrange(1, 50_000)
                rows.append(
                    f'["{p // 10}.{p % 10}","{size / 10_000:.4f}","0","{rng.randrange(1, 9)}"]'
                )
            return ",".join(rows)

        out.append(
            (
                '{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{'
                f'"asks":[{side(1)}],"bids":[{side(-1)}],"ts":"{1700000000000 + k}",'
                f'"checksum":0,"prevSeqId":{k + 1},"seqId":{k + 2}}}]}}'
            ).encode()
        )
    return out


def bybit_book_deltas(count: int, levels: int = 10, seed: int = 3) -> list[bytes]:
    """Bybit `orderbook.50` deltas (consecutive u) with `levels` bids and asks each."""
    rng = random.Random(seed)
    mid = 33_000  # ticks of 0.5
    out = []
    for k in range(count):

        def side(sign: int) -> str:
            prices = sorted({mid + sign * (1 + rng.randrange(60)) for _ in range(levels * 2)})
            rows = []
            for p in prices[:levels]:
                size = 0 if rng.random() < 0.2 else rng.randrange(1, 50_000)
                rows.append(f'["{p // 2}.{5 * (p % 2)}0","{size / 1000:.3f}"]')
            return ",".join(rows)

        out.append(
            (
                '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1672304484978,"data":{'
                f'"s":"BTCUSDT","b":[{side(-1)}],"a":[{side(1)}],"u":{k + 2},"seq":{7961638724 + k}'
                '},"cts":1672304484976}'
            ).encode()
        )
    return out
