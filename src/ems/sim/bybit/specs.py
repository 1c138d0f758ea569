"""Categories and instruments of the simulated Bybit, with their starting balances."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

D = Decimal


class Category(enum.Enum):
    """A Bybit v5 product type; ``exchange`` is the name on the simulator's first line."""

    SPOT = "spot"
    LINEAR = "linear"
    INVERSE = "inverse"
    OPTION = "option"

    @property
    def exchange(self) -> str:
        """The ems exchange value served by this category."""
        return f"bybit-{self.value}"

    @property
    def batch_max(self) -> int:
        """Orders per batch request: 10 on spot, 20 elsewhere."""
        return 10 if self is Category.SPOT else 20

    @property
    def cancel_all_max(self) -> int | None:
        """Futures cancel at most 500 orders per cancel-all call; spot and options any."""
        return 500 if self in (Category.LINEAR, Category.INVERSE) else None

    @property
    def open_order_limit(self) -> int:
        """Working orders an account may hold (create-order docs, "Open orders up limit"):
        spot 500 over every symbol, linear and inverse 500 per symbol, options 50 per
        base coin ("in the coin dimension")."""
        return 50 if self is Category.OPTION else 500

    @property
    def derivative(self) -> bool:
        """Linear, inverse and option keep positions."""
        return self is not Category.SPOT


@dataclass(frozen=True, slots=True)
class Instrument:
    """One listed symbol and how the market maker quotes it.

    ``qty_step`` is spot's ``basePrecision`` and the derivatives' ``qtyStep``.  Inverse
    quantities are contracts of ``contract_value`` USD; option quantities are in the base
    coin; linear and spot in the base coin.
    """

    category: Category
    symbol: str
    base: str
    quote: str
    settle: str
    tick: Decimal
    qty_step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    max_market_qty: Decimal
    min_notional: Decimal
    min_price: Decimal
    max_price: Decimal
    mid: Decimal
    mm_step: Decimal
    mm_size: Decimal
    mm_levels: int = 5
    contract_type: str = ""
    contract_value: Decimal = Decimal(0)
    options_type: str = ""
    delivery_time: int = 0

    @property
    def key(self) -> str:
        """Unique across categories (spot and linear both list BTCUSDT)."""
        return f"{self.category.value}/{self.symbol}"


INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument(
        category=Category.SPOT, symbol="BTCUSDT", base="BTC", quote="USDT", settle="",
        tick=D("0.01"), qty_step=D("0.000001"), min_qty=D("0.000048"), max_qty=D("71.73"),
        max_market_qty=D("35"), min_notional=D("1"), min_price=D(0), max_price=D(0),
        mid=D("30000.00"), mm_step=D("0.50"), mm_size=D("0.500000"),
    ),
    Instrument(
        category=Category.SPOT, symbol="ETHUSDT", base="ETH", quote="USDT", settle="",
        tick=D("0.01"), qty_step=D("0.00001"), min_qty=D("0.00062"), max_qty=D("1229.2336"),
        max_market_qty=D("600"), min_notional=D("1"), min_price=D(0), max_price=D(0),
        mid=D("2000.00"), mm_step=D("0.05"), mm_size=D("5.00000"),
    ),
    Instrument(
        category=Category.LINEAR, symbol="BTCUSDT", base="BTC", quote="USDT", settle="USDT",
        tick=D("0.10"), qty_step=D("0.001"), min_qty=D("0.001"), max_qty=D("1190.000"),
        max_market_qty=D("500.000"), min_notional=D("5"), min_price=D("0.10"),
        max_price=D("1999999.80"), mid=D("30000.00"), mm_step=D("0.50"), mm_size=D("2.000"),
        contract_type="LinearPerpetual",
    ),
    Instrument(
        category=Category.LINEAR, symbol="ETHUSDT", base="ETH", quote="USDT", settle="USDT",
        tick=D("0.01"), qty_step=D("0.01"), min_qty=D("0.01"), max_qty=D("7240.00"),
        max_market_qty=D("3620.00"), min_notional=D("5"), min_price=D("0.01"),
        max_price=D("199999.98"), mid=D("2000.00"), mm_step=D("0.05"), mm_size=D("20.00"),
        contract_type="LinearPerpetual",
    ),
    Instrument(
        category=Category.INVERSE, symbol="BTCUSD", base="BTC", quote="USD", settle="BTC",
        tick=D("0.50"), qty_step=D("1"), min_qty=D("1"), max_qty=D("10000000"),
        max_market_qty=D("500000"), min_notional=D(0), min_price=D("0.50"),
        max_price=D("1999999.00"), mid=D("30000.00"), mm_step=D("0.50"), mm_size=D("5000"),
        contract_type="InversePerpetual", contract_value=D("1"),
    ),
    Instrument(
        category=Category.OPTION, symbol="BTC-26DEC36-30000-C", base="BTC", quote="USDC",
        settle="USDC", tick=D("5"), qty_step=D("0.01"), min_qty=D("0.01"), max_qty=D("500"),
        max_market_qty=D("500"), min_notional=D(0), min_price=D("5"), max_price=D("1110000"),
        mid=D("2500"), mm_step=D("5"), mm_size=D("10.00"), options_type="Call",
        delivery_time=2113891200000,
    ),
    Instrument(
        category=Category.OPTION, symbol="BTC-26DEC36-30000-P", base="BTC", quote="USDC",
        settle="USDC", tick=D("5"), qty_step=D("0.01"), min_qty=D("0.01"), max_qty=D("500"),
        max_market_qty=D("500"), min_notional=D(0), min_price=D("5"), max_price=D("1110000"),
        mid=D("1500"), mm_step=D("5"), mm_size=D("10.00"), options_type="Put",
        delivery_time=2113891200000,
    ),
)  # fmt: skip

INITIAL_WALLET: dict[str, Decimal] = {
    "USDT": D("1000000"),
    "USDC": D("1000000"),
    "BTC": D("10"),
    "ETH": D("100"),
}
"""Every funded account's unified wallet at start (and after ``/sim/reset``)."""

SPOT_FEE = D("0.001")
MAKER_FEE = D("0.0002")
TAKER_FEE = D("0.00055")
OPTION_FEE = D("0.0003")
LEVERAGE = D(10)
"""Initial margin of derivative orders and positions is notional / LEVERAGE."""
