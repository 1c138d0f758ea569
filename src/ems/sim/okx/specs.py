"""Instruments of the simulated OKX venue and how its market maker quotes them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

D = Decimal


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """One OKX instrument (protocols.md B.4 naming) with its market-maker settings."""

    inst_id: str
    inst_type: str
    """SPOT or SWAP."""
    inst_id_code: int
    base: str
    quote: str
    tick: Decimal
    lot: Decimal
    min_sz: Decimal
    max_lmt_sz: Decimal
    max_mkt_sz: Decimal
    mid: Decimal
    mm_step: Decimal
    mm_size: Decimal
    mm_levels: int = 5
    ct_val: Decimal = Decimal(0)
    ct_type: str = ""
    """linear or inverse (SWAP only)."""
    settle: str = ""

    @property
    def is_swap(self) -> bool:
        """Derivatives are sized in contracts and trade with a margin mode."""
        return self.inst_type == "SWAP"

    @property
    def inverse(self) -> bool:
        """Coin-margined: contracts of ``ct_val`` USD, PnL in the base coin."""
        return self.ct_type == "inverse"

    @property
    def family(self) -> str:
        """instFamily / uly of a derivative (``BTC-USDT``)."""
        return f"{self.base}-{self.quote}"


INSTRUMENTS = (
    InstrumentSpec(
        inst_id="BTC-USDT", inst_type="SPOT", inst_id_code=10001, base="BTC", quote="USDT",
        tick=D("0.1"), lot=D("0.00000001"), min_sz=D("0.00001"), max_lmt_sz=D("9999999999"),
        max_mkt_sz=D("1000000"), mid=D("30000.0"), mm_step=D("0.5"), mm_size=D("0.5"),
    ),
    InstrumentSpec(
        inst_id="ETH-USDT", inst_type="SPOT", inst_id_code=10002, base="ETH", quote="USDT",
        tick=D("0.01"), lot=D("0.000001"), min_sz=D("0.0001"), max_lmt_sz=D("9999999999"),
        max_mkt_sz=D("1000000"), mid=D("2000.00"), mm_step=D("0.05"), mm_size=D("5"),
    ),
    InstrumentSpec(
        inst_id="BTC-USDT-SWAP", inst_type="SWAP", inst_id_code=10459, base="BTC", quote="USDT",
        tick=D("0.1"), lot=D("0.01"), min_sz=D("0.01"), max_lmt_sz=D("100000000"),
        max_mkt_sz=D("12000"), mid=D("30000.0"), mm_step=D("0.5"), mm_size=D("200"),
        ct_val=D("0.01"), ct_type="linear", settle="USDT",
    ),
    InstrumentSpec(
        inst_id="BTC-USD-SWAP", inst_type="SWAP", inst_id_code=10460, base="BTC", quote="USD",
        tick=D("0.1"), lot=D("1"), min_sz=D("1"), max_lmt_sz=D("100000000"),
        max_mkt_sz=D("30000"), mid=D("30000.0"), mm_step=D("0.5"), mm_size=D("500"),
        ct_val=D("100"), ct_type="inverse", settle="BTC",
    ),
)  # fmt: skip


def text(value: Decimal) -> str:
    """A decimal as OKX writes it: plain notation, no trailing zeros."""
    if value == 0:
        return "0"
    out = format(value.normalize(), "f")
    return out


def instrument_json(spec: InstrumentSpec, list_time: int) -> dict[str, Any]:
    """The ``/api/v5/public/instruments`` entry of one instrument."""
    swap = spec.is_swap
    return {
        "alias": "",
        "auctionEndTime": "",
        "baseCcy": "" if swap else spec.base,
        "category": "1",
        "ctMult": "1" if swap else "",
        "ctType": spec.ct_type,
        "ctVal": text(spec.ct_val) if swap else "",
        "ctValCcy": ("USD" if spec.inverse else spec.base) if swap else "",
        "expTime": "",
        "instFamily": spec.family if swap else "",
        "instId": spec.inst_id,
        "instIdCode": spec.inst_id_code,
        "instType": spec.inst_type,
        "lever": "100" if swap else "10",
        "listTime": str(list_time),
        "lotSz": text(spec.lot),
        "maxIcebergSz": text(spec.max_lmt_sz),
        "maxLmtAmt": "20000000",
        "maxLmtSz": text(spec.max_lmt_sz),
        "maxMktAmt": "1000000",
        "maxMktSz": text(spec.max_mkt_sz),
        "maxStopSz": text(spec.max_mkt_sz),
        "maxTriggerSz": text(spec.max_lmt_sz),
        "maxTwapSz": text(spec.max_lmt_sz),
        "minSz": text(spec.min_sz),
        "optType": "",
        "quoteCcy": "" if swap else spec.quote,
        "ruleType": "normal",
        "settleCcy": spec.settle if swap else "",
        "state": "live",
        "stk": "",
        "tickSz": text(spec.tick),
        "uly": spec.family if swap else "",
    }
