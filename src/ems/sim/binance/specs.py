"""Products, instruments and their exchangeInfo filters for the Binance simulators."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

D = Decimal


class Product(enum.Enum):
    """A Binance product family; its value is the name used on the simulator's first line."""

    SPOT = "binance-spot"
    USDM = "binance-usdm-future"
    COINM = "binance-coinm-future"

    @property
    def is_futures(self) -> bool:
        """USD-M and COIN-M share the futures order model."""
        return self is not Product.SPOT


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One tradable instrument and how the market maker quotes it."""

    symbol: str
    base: str
    quote: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    min_price: Decimal
    max_price: Decimal
    min_notional: Decimal
    price_precision: int
    qty_precision: int
    mid: Decimal
    mm_step: Decimal
    mm_size: Decimal
    mm_levels: int = 5
    margin_asset: str = ""
    contract_size: Decimal = Decimal(0)
    pair: str = ""


SPOT_SYMBOLS = (
    SymbolSpec(
        symbol="BTCUSDT",
        base="BTC",
        quote="USDT",
        tick=D("0.01"),
        step=D("0.00001"),
        min_qty=D("0.00001"),
        max_qty=D("9000"),
        market_max_qty=D("100"),
        min_price=D("0.01"),
        max_price=D("1000000"),
        min_notional=D("5"),
        price_precision=2,
        qty_precision=5,
        mid=D("30000.00"),
        mm_step=D("0.50"),
        mm_size=D("0.50000"),
    ),
    SymbolSpec(
        symbol="ETHUSDT",
        base="ETH",
        quote="USDT",
        tick=D("0.01"),
        step=D("0.0001"),
        min_qty=D("0.0001"),
        max_qty=D("9000"),
        market_max_qty=D("1000"),
        min_price=D("0.01"),
        max_price=D("1000000"),
        min_notional=D("5"),
        price_precision=2,
        qty_precision=4,
        mid=D("2000.00"),
        mm_step=D("0.05"),
        mm_size=D("5.0000"),
    ),
    SymbolSpec(
        symbol="BNBUSDT",
        base="BNB",
        quote="USDT",
        tick=D("0.01"),
        step=D("0.001"),
        min_qty=D("0.001"),
        max_qty=D("90000"),
        market_max_qty=D("10000"),
        min_price=D("0.01"),
        max_price=D("100000"),
        min_notional=D("5"),
        price_precision=2,
        qty_precision=3,
        mid=D("600.00"),
        mm_step=D("0.05"),
        mm_size=D("20.000"),
    ),
)

USDM_SYMBOLS = (
    SymbolSpec(
        symbol="BTCUSDT",
        base="BTC",
        quote="USDT",
        tick=D("0.10"),
        step=D("0.001"),
        min_qty=D("0.001"),
        max_qty=D("1000"),
        market_max_qty=D("120"),
        min_price=D("556.80"),
        max_price=D("4529764"),
        min_notional=D("100"),
        price_precision=2,
        qty_precision=3,
        mid=D("30000.00"),
        mm_step=D("0.50"),
        mm_size=D("2.000"),
        margin_asset="USDT",
        pair="BTCUSDT",
    ),
    SymbolSpec(
        symbol="ETHUSDT",
        base="ETH",
        quote="USDT",
        tick=D("0.01"),
        step=D("0.001"),
        min_qty=D("0.001"),
        max_qty=D("10000"),
        market_max_qty=D("2000"),
        min_price=D("39.86"),
        max_price=D("306177"),
        min_notional=D("20"),
        price_precision=2,
        qty_precision=3,
        mid=D("2000.00"),
        mm_step=D("0.05"),
        mm_size=D("20.000"),
        margin_asset="USDT",
        pair="ETHUSDT",
    ),
)

COINM_SYMBOLS = (
    SymbolSpec(
        symbol="BTCUSD_PERP",
        base="BTC",
        quote="USD",
        tick=D("0.1"),
        step=D("1"),
        min_qty=D("1"),
        max_qty=D("1000000"),
        market_max_qty=D("60000"),
        min_price=D("1000"),
        max_price=D("4520958"),
        min_notional=D("0"),
        price_precision=1,
        qty_precision=0,
        mid=D("30000.0"),
        mm_step=D("0.5"),
        mm_size=D("200"),
        margin_asset="BTC",
        contract_size=D("100"),
        pair="BTCUSD",
    ),
    SymbolSpec(
        symbol="ETHUSD_PERP",
        base="ETH",
        quote="USD",
        tick=D("0.01"),
        step=D("1"),
        min_qty=D("1"),
        max_qty=D("1000000"),
        market_max_qty=D("50000"),
        min_price=D("50"),
        max_price=D("306177"),
        min_notional=D("0"),
        price_precision=2,
        qty_precision=0,
        mid=D("2000.00"),
        mm_step=D("0.05"),
        mm_size=D("500"),
        margin_asset="ETH",
        contract_size=D("10"),
        pair="ETHUSD",
    ),
)


def symbols_for(product: Product) -> tuple[SymbolSpec, ...]:
    """The instruments a product lists."""
    if product is Product.SPOT:
        return SPOT_SYMBOLS
    if product is Product.USDM:
        return USDM_SYMBOLS
    return COINM_SYMBOLS


# Starting balances of every funded test account.
INITIAL_BALANCES: dict[Product, dict[str, Decimal]] = {
    Product.SPOT: {"USDT": D("1000000"), "BTC": D("10"), "ETH": D("100"), "BNB": D("0")},
    Product.USDM: {"USDT": D("1000000"), "USDC": D("0"), "BNB": D("0")},
    Product.COINM: {"BTC": D("100"), "ETH": D("1000")},
}

SPOT_FEE = D("0.001")
FUTURES_MAKER_FEE = D("0.0002")
FUTURES_TAKER_FEE = D("0.0005")
DEFAULT_LEVERAGE = 20


def fmt(value: Decimal, places: int) -> str:
    """A decimal rendered with exactly ``places`` digits after the point."""
    q = Decimal(1).scaleb(-places)
    out = format(value.quantize(q), "f")
    return "0" if places == 0 and out in ("-0", "0") else out


def plain(value: Decimal) -> str:
    """A decimal rendered without exponent and without trailing zeros."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _rate_limits(product: Product) -> list[dict[str, Any]]:
    if product is Product.SPOT:
        return [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 6000,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            {
                "rateLimitType": "RAW_REQUESTS",
                "interval": "MINUTE",
                "intervalNum": 5,
                "limit": 61000,
            },
        ]
    return [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
    ]


def rate_limits(product: Product) -> list[dict[str, Any]]:
    """exchangeInfo's ``rateLimits`` list."""
    return _rate_limits(product)


SPOT_ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET"]
FUTURES_ORDER_TYPES = ["LIMIT", "MARKET"]


def spot_symbol_info(spec: SymbolSpec) -> dict[str, Any]:
    """A spot exchangeInfo symbol object."""
    return {
        "symbol": spec.symbol,
        "status": "TRADING",
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": SPOT_ORDER_TYPES,
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "opoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "pegInstructionsAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": fmt(spec.min_price, 8),
                "maxPrice": fmt(spec.max_price, 8),
                "tickSize": fmt(spec.tick, 8),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": fmt(spec.min_qty, 8),
                "maxQty": fmt(spec.max_qty, 8),
                "stepSize": fmt(spec.step, 8),
            },
            {
                "filterType": "MIN_NOTIONAL",
                "minNotional": fmt(spec.min_notional, 8),
                "applyToMarket": True,
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": fmt(spec.min_notional, 8),
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": fmt(spec.market_max_qty, 8),
                "stepSize": "0.00000000",
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": ["NONE"],
    }


def futures_symbol_info(product: Product, spec: SymbolSpec) -> dict[str, Any]:
    """A USD-M or COIN-M exchangeInfo symbol object."""
    pp, qp = spec.price_precision, spec.qty_precision
    filters: list[dict[str, Any]] = [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": plain(spec.min_price),
            "maxPrice": plain(spec.max_price),
            "tickSize": plain(spec.tick),
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": plain(spec.min_qty),
            "maxQty": plain(spec.max_qty),
            "stepSize": plain(spec.step),
        },
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": plain(spec.min_qty),
            "maxQty": plain(spec.market_max_qty),
            "stepSize": plain(spec.step),
        },
        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
        {
            "filterType": "PERCENT_PRICE",
            "multiplierUp": "1.0500",
            "multiplierDown": "0.9500",
            "multiplierDecimal": "4",
        },
    ]
    info: dict[str, Any] = {
        "symbol": spec.symbol,
        "pair": spec.pair,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": spec.base,
        "quoteAsset": spec.quote,
        "marginAsset": spec.margin_asset,
        "pricePrecision": pp,
        "quantityPrecision": qp,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "orderTypes": FUTURES_ORDER_TYPES,
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }
    if product is Product.USDM:
        filters.append({"filterType": "MIN_NOTIONAL", "notional": plain(spec.min_notional)})
        info.update({"status": "TRADING", "settlePlan": 0, "permissionSets": ["GRID", "COPY"]})
    else:
        info.update(
            {
                "contractStatus": "TRADING",
                "contractSize": int(spec.contract_size),
                "equalQtyPrecision": 4,
            }
        )
    info["filters"] = filters
    return info
