"""Venue frames used by the core tests, written from the field lists in protocols.md."""

BINANCE_TRADE = (
    b'{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.00100000",'
    b'"q":"100.00000000","T":1672515782136,"m":true,"M":true}'
)

EXECUTION_REPORT = (
    b'{"e":"executionReport","E":1499405658658,"s":"ETHBTC","c":"mUvoqJxFIILMdfAW5iGSOW",'
    b'"S":"BUY","o":"LIMIT","f":"GTC","q":"1.00000000","p":"0.10264410","P":"0.00000000",'
    b'"F":"0.00000000","g":-1,"C":"","x":"TRADE","X":"PARTIALLY_FILLED","r":"NONE",'
    b'"i":4293153,"l":"0.50000000","z":"0.50000000","L":"0.10264410","n":"0.00010000",'
    b'"N":"BNB","T":1499405658657,"t":77,"I":8641984,"w":true,"m":false,"M":false,'
    b'"O":1499405658657,"Z":"0.05132205","Y":"0.05132205","Q":"0.00000000",'
    b'"W":1499405658657,"V":"NONE"}'
)

ORDER_TRADE_UPDATE = (
    b'{"e":"ORDER_TRADE_UPDATE","E":1568879465651,"T":1568879465650,"o":{"s":"BTCUSDT",'
    b'"c":"TEST","S":"SELL","o":"LIMIT","f":"GTC","q":"0.001","p":"7100","ap":"7100.5",'
    b'"sp":"0","x":"TRADE","X":"FILLED","i":8886774,"l":"0.001","z":"0.001","L":"7100.5",'
    b'"N":"USDT","n":"0.002","T":1568879465650,"t":99,"b":"0","a":"0","m":true,"R":true,'
    b'"wt":"CONTRACT_PRICE","ot":"LIMIT","ps":"BOTH","cp":false,"rp":"0","pP":false,'
    b'"si":0,"ss":0,"V":"EXPIRE_TAKER","pm":"NONE","gtd":0}}'
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

BYBIT_ORDER = (
    b'{"id":"5923240c6880ab-c59f-420b-9adb-3639adc9dd90","topic":"order",'
    b'"creationTime":1672364262474,"data":[{"symbol":"BTCUSDT","orderId":"5cf98598",'
    b'"side":"Buy","orderType":"Limit","cancelType":"UNKNOWN","price":"16500.5","qty":"0.010",'
    b'"timeInForce":"GTC","orderStatus":"New","orderLinkId":"ems-7","reduceOnly":false,'
    b'"leavesQty":"0.010","cumExecQty":"0","cumExecValue":"0","avgPrice":"","cumExecFee":"0",'
    b'"createdTime":"1672364262444","updatedTime":"1672364262457","rejectReason":"EC_NoError",'
    b'"category":"linear","feeCurrency":""}]}'
)


def depth_update(
    first: int,
    last: int,
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
    prev: int | None = None,
) -> bytes:
    """A Binance depthUpdate frame (futures when `prev` is given)."""

    def levels(side: list[tuple[str, str]]) -> str:
        return ",".join(f'["{p}","{q}"]' for p, q in side)

    pu = f',"pu":{prev}' if prev is not None else ""
    return (
        f'{{"e":"depthUpdate","E":1700000000000,"s":"BTCUSDT","U":{first},"u":{last}{pu},'
        f'"b":[{levels(bids)}],"a":[{levels(asks)}]}}'
    ).encode()
