"""State of the simulated OKX venue: books, orders, accounts, and what they publish.

Every public method runs to completion without awaiting, so each request is atomic with
respect to the others.  Order operations take the request's argument object (as decoded
from REST or WebSocket JSON) and either return the per-item result (``ordId``,
``clOrdId``, ``sCode`` "0"...) or raise :class:`ItemError` with OKX's ``sCode`` and
``sMsg``.  Pushes go out through two callables the WebSocket layer sets: one for the
private channels (``orders``, ``account``, ``positions``) of an account and one for the
public channels of an instrument.

Semantics (protocols.md B.4): a ``post_only`` order that would take is accepted and then
cancelled with ``cancelSource`` 31; the unfilled part of an ``ioc`` / market order is
cancelled with 14; an ``fok`` order that cannot fill in full is cancelled with 13 and does
not trade.  Spot ``cash`` orders lock balance; spot ``cross`` (margin) and SWAP orders do
not check margin (documented simplification), and SWAP fills move a net position.
Self-trades are allowed (the venue's default STP mode is not simulated).
"""

from __future__ import annotations

import re
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from ems.sim.accounts import Balance, Position
from ems.sim.marketmaker import MM_OWNER, MarketMaker, Quoting
from ems.sim.matching import ZERO, Book, Fill, RestingOrder, Side
from ems.sim.okx.auth import OkxCredential, now_ms
from ems.sim.okx.specs import INSTRUMENTS, InstrumentSpec, instrument_json, text

ADMIN_OWNER = "__admin__"
BATCH_MAX = 20
CL_ORD_ID_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")
TAG_RE = re.compile(r"^[A-Za-z0-9]{0,16}$")
_NUMBER_RE = re.compile(r"^[0-9]+(\.[0-9]+)?$")

INITIAL_BALANCES = {"USDT": Decimal("1000000"), "BTC": Decimal("100"), "ETH": Decimal("1000")}
FEES = {  # (maker, taker)
    "SPOT": (Decimal("0.0008"), Decimal("0.001")),
    "SWAP": (Decimal("0.0002"), Decimal("0.0005")),
}

# cancelSource values (orders channel).
CANCEL_USER = "1"
CANCEL_FOK = "13"
CANCEL_IOC = "14"
CANCEL_POST_ONLY = "31"
CANCEL_REASONS = {
    CANCEL_USER: "Order canceled by user",
    CANCEL_FOK: "Order canceled: FOK order was canceled due to incompletely filled",
    CANCEL_IOC: "Order canceled: IOC order was partially canceled due to incompletely filled",
    CANCEL_POST_ONLY: "The post-only order will take liquidity in taker orders",
}

ORD_TYPES = ("market", "limit", "post_only", "fok", "ioc", "optimal_limit_ioc")


class ItemError(Exception):
    """One order operation refused: OKX's ``sCode`` and ``sMsg``."""

    def __init__(self, s_code: str, s_msg: str) -> None:
        """Keeps the venue's code and message."""
        super().__init__(f"{s_code} {s_msg}")
        self.s_code = s_code
        self.s_msg = s_msg


class RequestError(Exception):
    """A whole request refused: OKX's top-level ``code`` and ``msg`` (HTTP status too)."""

    def __init__(self, code: str, msg: str, status: int = 200) -> None:
        """``status`` is what REST answers with (OKX uses 200 for most refusals)."""
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status


def param_error(name: str) -> ItemError:
    """51000: a parameter is missing or malformed."""
    return ItemError("51000", f"Parameter {name} error")


@dataclass(slots=True, eq=False)
class Order:
    """One order of a simulated account, working or finished."""

    spec: InstrumentSpec
    ord_id: str
    cl_ord_id: str
    tag: str
    account: str
    side: str
    ord_type: str
    td_mode: str
    tgt_ccy: str
    px: Decimal
    sz: Decimal
    c_time: int
    u_time: int
    pos_side: str = "net"
    reduce_only: bool = False
    ccy: str = ""
    """The margin currency of a spot cross order."""
    state: str = "live"
    acc_fill_sz: Decimal = ZERO
    fill_value: Decimal = ZERO
    fee: Decimal = ZERO
    fee_ccy: str = ""
    locked: Decimal = ZERO
    lock_ccy: str = ""
    cancel_source: str = ""
    amend_result: str = ""
    req_id: str = ""
    last_fill: dict[str, str] = field(default_factory=dict)

    @property
    def book_side(self) -> Side:
        """The matching engine's side."""
        return Side.BUY if self.side == "buy" else Side.SELL

    @property
    def working(self) -> bool:
        """live or partially_filled."""
        return self.state in ("live", "partially_filled")

    @property
    def avg_px(self) -> Decimal:
        """Average fill price (0 without fills)."""
        return self.fill_value / self.acc_fill_sz if self.acc_fill_sz else ZERO


@dataclass(slots=True)
class PublicTrade:
    """A printed trade, kept for ``/market/trades``."""

    inst_id: str
    trade_id: int
    px: Decimal
    sz: Decimal
    side: str
    ts: int


@dataclass(slots=True)
class BookFeed:
    """Per-instrument state of the ``books`` channel (100 ms diffs with seqId)."""

    seq_id: int = 0
    changed_bids: dict[Decimal, Decimal] = field(default_factory=dict)
    changed_asks: dict[Decimal, Decimal] = field(default_factory=dict)
    last_top5: tuple[Any, ...] = ()
    last_bbo: tuple[Any, ...] = ()
    faults: list[str] = field(default_factory=list)
    """Faults for the next ``books`` updates, in order: ``gap`` (the update is lost on
    the wire; its seqId is used up) or ``checksum`` (it carries a wrong checksum)."""


PrivateSink = Callable[[str, str, dict[str, Any]], None]
"""``(api_key, channel, data item)`` for the orders / account / positions channels."""
PublicSink = Callable[[str, str, dict[str, Any]], None]
"""``(channel, instId, whole push message)``."""


class OkxVenue:
    """Books, orders, accounts and market data of the simulated OKX."""

    def __init__(
        self, credentials: dict[str, OkxCredential], seed: int, market_maker: bool = True
    ) -> None:
        """Builds the initial state; :meth:`reset` returns to it."""
        self.credentials = credentials
        self.seed = seed
        self.market_maker_enabled = market_maker
        self.specs = {s.inst_id: s for s in INSTRUMENTS}
        self.codes = {s.inst_id_code: s for s in INSTRUMENTS}
        self.list_time = now_ms()
        self.on_private: PrivateSink = lambda key, channel, item: None
        self.on_public: PublicSink = lambda channel, inst_id, message: None
        self.public_wanted: Callable[[str, str], bool] = lambda channel, inst_id: False
        self._next_ord = 680000000000000000
        self._trade_ids = dict.fromkeys(self.specs, 100000)
        self._update_ids = dict.fromkeys(self.specs, 1000)
        self.feeds = {s: BookFeed() for s in self.specs}
        self._init_state()

    # ------------------------------------------------------------------ lifecycle
    def _init_state(self) -> None:
        self.books: dict[str, Book] = {}
        self.orders: dict[str, Order] = {}
        self.working: dict[str, dict[str, Order]] = {k: {} for k in self.credentials}
        self.history: dict[str, list[Order]] = {k: [] for k in self.credentials}
        self.open_cl: dict[tuple[str, str], Order] = {}
        self.cl_ord_id_uses: dict[str, dict[str, int]] = {}
        """Per account, how often each clOrdId was asked for (refused ones too)."""
        self.fills: dict[str, deque[dict[str, Any]]] = {
            k: deque(maxlen=5000) for k in self.credentials
        }
        self.balances: dict[str, dict[str, Balance]] = {
            k: {c: Balance(v) for c, v in INITIAL_BALANCES.items()} for k in self.credentials
        }
        self.positions: dict[str, dict[str, Position]] = {k: {} for k in self.credentials}
        self.public_trades: dict[str, deque[PublicTrade]] = {
            s: deque(maxlen=500) for s in self.specs
        }
        self.last_price: dict[str, Decimal] = {}
        self._touched: set[str] = set()
        self._touched_accounts: set[str] = set()
        self._touched_positions: set[tuple[str, str]] = set()
        self.mm = MarketMaker(self.seed, self._mm_order_id)
        for inst_id, spec in self.specs.items():
            book = Book(inst_id, update_id=self._update_ids[inst_id])
            book.add_listener(self._level_changed(inst_id))
            self.books[inst_id] = book
            self.mm.configure(
                inst_id,
                Quoting(
                    mid=spec.mid,
                    step=spec.mm_step,
                    size=spec.mm_size,
                    levels=spec.mm_levels,
                    tick=spec.tick,
                    enabled=self.market_maker_enabled,
                ),
            )
            self.mm.replenish(book)
            self._touched.add(inst_id)
        self.settle()

    def reset(self) -> None:
        """Restores the initial books, orders and balances; sequence numbers keep rising."""
        for inst_id, book in self.books.items():
            self._update_ids[inst_id] = book.update_id + 1
        self._init_state()

    def _mm_order_id(self) -> int:
        self._next_ord += 1
        return self._next_ord

    def _new_ord_id(self) -> str:
        self._next_ord += 1
        return str(self._next_ord)

    def _level_changed(self, inst_id: str) -> Callable[[Side, Decimal, Decimal, int], None]:
        feed = self.feeds[inst_id]

        def record(side: Side, price: Decimal, qty: Decimal, update_id: int) -> None:
            (feed.changed_bids if side is Side.BUY else feed.changed_asks)[price] = qty

        return record

    # ------------------------------------------------------------------ lookups
    def spec_of(self, args: dict[str, Any]) -> InstrumentSpec:
        """The instrument named by ``instId`` or ``instIdCode`` (both accepted)."""
        code = args.get("instIdCode")
        if code not in (None, ""):
            try:
                spec = self.codes.get(int(code))
            except (TypeError, ValueError):
                spec = None
            if spec is None:
                raise ItemError("51001", "Instrument ID or Spread ID doesn't exist.")
            return spec
        inst_id = args.get("instId")
        if not isinstance(inst_id, str) or not inst_id:
            raise param_error("instId")
        spec = self.specs.get(inst_id)
        if spec is None:
            raise ItemError("51001", "Instrument ID or Spread ID doesn't exist.")
        return spec

    def find(self, api_key: str, spec: InstrumentSpec, args: dict[str, Any]) -> Order | None:
        """An account's order by ``ordId`` or ``clOrdId`` (working orders first)."""
        ord_id = _str(args.get("ordId"))
        cl = _str(args.get("clOrdId"))
        if ord_id:
            order = self.orders.get(ord_id)
            if order is not None and order.account == api_key and order.spec is spec:
                return order
            return None
        if cl:
            order = self.open_cl.get((api_key, cl))
            if order is not None and order.spec is spec:
                return order
            for past in reversed(self.history.get(api_key, [])):
                if past.cl_ord_id == cl and past.spec is spec:
                    return past
            return None
        raise ItemError("51000", "Parameter ordId or clOrdId error")

    # ------------------------------------------------------------------ place
    def place(self, api_key: str, args: dict[str, Any]) -> dict[str, Any]:
        """One new order; returns its result item (``sCode`` "0") or raises ItemError."""
        if not isinstance(args, dict):
            raise param_error("args")
        spec = self.spec_of(args)
        side = _str(args.get("side"))
        if side not in ("buy", "sell"):
            raise param_error("side")
        ord_type = _str(args.get("ordType"))
        if ord_type not in ORD_TYPES:
            raise param_error("ordType")
        td_mode = _str(args.get("tdMode"))
        if td_mode not in ("cash", "cross", "isolated", "spot_isolated"):
            raise param_error("tdMode")
        if spec.is_swap and td_mode in ("cash", "spot_isolated"):
            raise ItemError("51000", "Parameter tdMode error")  # derivatives always trade on margin
        if not spec.is_swap and td_mode == "isolated":
            raise ItemError("51000", "Parameter tdMode error")
        ccy = _str(args.get("ccy"))
        if not spec.is_swap and td_mode == "cross":
            # The account is in "Spot and futures mode" (acctLv 2): a cross MARGIN order
            # must name its margin currency, one of the pair's two.
            if not ccy:
                raise ItemError("50014", "Parameter ccy can not be empty.")
            if ccy not in (spec.base, spec.quote):
                raise param_error("ccy")
        cl = _str(args.get("clOrdId"))
        if cl and not CL_ORD_ID_RE.match(cl):
            raise param_error("clOrdId")
        tag = _str(args.get("tag"))
        if not TAG_RE.match(tag):
            raise param_error("tag")
        if cl:
            uses = self.cl_ord_id_uses.setdefault(api_key, {})
            uses[cl] = uses.get(cl, 0) + 1
        if cl and (api_key, cl) in self.open_cl:
            raise ItemError("51016", "Duplicated clOrdId")
        sz = _decimal(args.get("sz"), "sz")
        if sz is None or sz <= ZERO:
            raise param_error("sz")
        tgt_ccy = _str(args.get("tgtCcy"))
        if tgt_ccy not in ("", "base_ccy", "quote_ccy"):
            raise param_error("tgtCcy")
        market = ord_type in ("market", "optimal_limit_ioc")
        if not market or spec.is_swap:
            tgt_ccy = ""
        elif not tgt_ccy:
            # Spot market buys are sized in the quote currency unless told otherwise.
            tgt_ccy = "quote_ccy" if side == "buy" else "base_ccy"
        px = ZERO
        if not market:
            px_value = _decimal(args.get("px"), "px")
            if px_value is None or px_value <= ZERO:
                raise param_error("px")
            if px_value % spec.tick != ZERO:
                raise ItemError(
                    "51000", f"Parameter px error: must be a multiple of tickSz {text(spec.tick)}"
                )
            px = px_value
        if tgt_ccy != "quote_ccy":
            if sz % spec.lot != ZERO:
                raise ItemError("51121", "Order quantity must be a multiple of the lot size.")
            if sz < spec.min_sz:
                raise ItemError(
                    "51020", "Your order should meet or exceed the minimum order amount."
                )
            limit = spec.max_mkt_sz if market else spec.max_lmt_sz
            if sz > limit:
                raise ItemError("51202", "Market order amount exceeds the maximum amount.")
        pos_side = _str(args.get("posSide")) or "net"
        if pos_side not in ("net", "long", "short"):
            raise param_error("posSide")
        now = now_ms()
        order = Order(
            spec=spec,
            ord_id=self._new_ord_id(),
            cl_ord_id=cl,
            tag=tag,
            account=api_key,
            side=side,
            ord_type=ord_type,
            td_mode=td_mode,
            tgt_ccy=tgt_ccy,
            ccy=ccy if td_mode == "cross" and not spec.is_swap else "",
            px=px,
            sz=sz,
            c_time=now,
            u_time=now,
            pos_side=pos_side,
            reduce_only=_flag(args.get("reduceOnly")),
        )
        book = self.books[spec.inst_id]
        if spec.inst_type == "SPOT" and td_mode == "cash":
            self._lock_for(order, book)
        self._register(order)
        self._execute(order, book)
        self.settle()
        return {
            "ordId": order.ord_id,
            "clOrdId": order.cl_ord_id,
            "tag": order.tag,
            "ts": str(now),
            "sCode": "0",
            "sMsg": "Order placed",
        }

    def _lock_for(self, order: Order, book: Book) -> None:
        """Reserves the cash a spot order may spend; 51008 when there is not enough."""
        spec = order.spec
        balances = self.balances[order.account]
        if order.side == "sell":
            ccy, need = spec.base, order.sz
        elif order.tgt_ccy == "quote_ccy":
            ccy, need = spec.quote, order.sz
        elif order.ord_type in ("market", "optimal_limit_ioc"):
            ccy = spec.quote
            need = sum((q * m.price for m, q in book.plan(Side.BUY, order.sz)), ZERO)
        else:
            ccy, need = spec.quote, order.sz * order.px
        bal = balances.setdefault(ccy, Balance(ZERO))
        if not bal.lock(need):
            raise ItemError(
                "51008", f"Order failed. Insufficient {ccy} balance in trading account."
            )
        order.locked = need
        order.lock_ccy = ccy

    def _register(self, order: Order) -> None:
        self.orders[order.ord_id] = order
        self.history.setdefault(order.account, []).append(order)
        self.working.setdefault(order.account, {})[order.ord_id] = order
        if order.cl_ord_id:
            self.open_cl[(order.account, order.cl_ord_id)] = order

    def _execute(self, order: Order, book: Book) -> None:
        """Matches a new order and then rests, cancels or reports it per its type."""
        side = order.book_side
        ord_type = order.ord_type
        market = ord_type in ("market", "optimal_limit_ioc")
        limit = None if market else order.px
        if ord_type == "post_only" and book.crosses(side, limit):
            self._finish(order, "canceled", CANCEL_POST_ONLY)
            return
        if order.tgt_ccy == "quote_ccy":
            plan = book.plan(side, None, None, quote_budget=order.sz, step=order.spec.lot)
        else:
            plan = book.plan(side, order.sz, limit)
        if ord_type == "fok" and sum((q for _, q in plan), ZERO) < order.sz:
            self._finish(order, "canceled", CANCEL_FOK)
            return
        if not market and ord_type not in ("ioc", "fok") and not plan:
            self._push_order(order)
            book.add(self._resting(order))
            return
        fills = book.execute(plan)
        ts = now_ms()
        trade_ids = self._print_trades(order.spec.inst_id, fills, order.side, ts)
        for fill, trade_id in zip(fills, trade_ids, strict=True):
            self._fill(order, fill.price, fill.qty, False, trade_id, ts)
            self._maker_fill(fill, trade_id, ts)
        if not order.working:
            return
        if market or ord_type in ("ioc", "fok") or order.tgt_ccy == "quote_ccy":
            self._finish(order, "canceled", CANCEL_IOC)
            return
        book.add(self._resting(order))
        if not fills:
            self._push_order(order)

    def _resting(self, order: Order) -> RestingOrder:
        return RestingOrder(
            order_id=int(order.ord_id),
            owner=order.account,
            side=order.book_side,
            price=order.px,
            leaves=order.sz - order.acc_fill_sz,
        )

    # ------------------------------------------------------------------ fills
    def _maker_fill(self, fill: Fill, trade_id: int, ts: int) -> None:
        owner = fill.maker.owner
        if owner in (MM_OWNER, ADMIN_OWNER):
            return
        maker = self.orders.get(str(fill.maker.order_id))
        if maker is not None:
            self._fill(maker, fill.price, fill.qty, True, trade_id, ts)

    def _fill(
        self, order: Order, px: Decimal, sz: Decimal, maker: bool, trade_id: int, ts: int
    ) -> None:
        spec = order.spec
        maker_rate, taker_rate = FEES[spec.inst_type]
        rate = maker_rate if maker else taker_rate
        order.acc_fill_sz += sz
        order.fill_value += sz * px
        order.u_time = ts
        balances = self.balances[order.account]
        if spec.is_swap:
            notional = sz * spec.ct_val / px if spec.inverse else sz * spec.ct_val * px
            fee = notional * rate
            fee_ccy = spec.settle
            signed = sz if order.side == "buy" else -sz
            pos = self.positions[order.account].setdefault(spec.inst_id, Position())
            if spec.inverse:
                realized = pos.apply_fill(signed, px, spec.ct_val)
            else:
                realized = pos.apply_fill(signed * spec.ct_val, px)
            pos.update_time = ts
            settle = balances.setdefault(spec.settle, Balance(ZERO))
            settle.free += realized - fee
            self._touched_positions.add((order.account, spec.inst_id))
        else:
            base = balances.setdefault(spec.base, Balance(ZERO))
            quote = balances.setdefault(spec.quote, Balance(ZERO))
            cost = sz * px
            if order.side == "buy":
                fee = sz * rate
                fee_ccy = spec.base
                self._spend(order, quote, cost)
                base.free += sz - fee
            else:
                fee = cost * rate
                fee_ccy = spec.quote
                self._spend(order, base, sz)
                quote.free += cost - fee
        order.fee -= fee
        order.fee_ccy = fee_ccy
        self._touched_accounts.add(order.account)
        done = order.acc_fill_sz >= order.sz or (
            order.tgt_ccy == "quote_ccy" and order.fill_value >= order.sz
        )
        order.state = "filled" if done else "partially_filled"
        order.last_fill = {
            "fillPx": text(px),
            "fillSz": text(sz),
            "tradeId": str(trade_id),
            "fillTime": str(ts),
            "fillFee": text(-fee),
            "fillFeeCcy": fee_ccy,
            "execType": "M" if maker else "T",
        }
        self.fills[order.account].append(
            {
                "instType": spec.inst_type, "instId": spec.inst_id, "tradeId": str(trade_id),
                "ordId": order.ord_id, "clOrdId": order.cl_ord_id, "billId": str(trade_id),
                "tag": order.tag, "fillPx": text(px), "fillSz": text(sz), "side": order.side,
                "posSide": order.pos_side, "execType": "M" if maker else "T",
                "feeCcy": fee_ccy, "fee": text(-fee), "ts": str(ts), "fillTime": str(ts),
            }
        )  # fmt: skip
        if done:
            self._closed(order)
        self._push_order(order)
        order.last_fill = {}

    def _spend(self, order: Order, bal: Balance, amount: Decimal) -> None:
        """Takes ``amount`` out of the order's lock (cash) or straight from free (margin)."""
        if order.locked > ZERO and order.lock_ccy:
            take = min(amount, order.locked)
            order.locked -= take
            bal.locked -= take
            bal.free -= amount - take
        else:
            bal.free -= amount

    def _closed(self, order: Order) -> None:
        """A finished order: release its lock and client id, forget it as working."""
        if order.locked > ZERO:
            self.balances[order.account][order.lock_ccy].unlock(order.locked)
            order.locked = ZERO
            self._touched_accounts.add(order.account)
        self.working.get(order.account, {}).pop(order.ord_id, None)
        if order.cl_ord_id and self.open_cl.get((order.account, order.cl_ord_id)) is order:
            del self.open_cl[(order.account, order.cl_ord_id)]

    def _finish(self, order: Order, state: str, cancel_source: str) -> None:
        order.state = state
        order.cancel_source = cancel_source
        order.u_time = now_ms()
        self._closed(order)
        self._push_order(order)

    # ------------------------------------------------------------------ cancel / amend
    def cancel(self, api_key: str, args: dict[str, Any]) -> dict[str, Any]:
        """Cancels one working order; 51400 when it is filled, cancelled or unknown."""
        if not isinstance(args, dict):
            raise param_error("args")
        spec = self.spec_of(args)
        order = self.find(api_key, spec, args)
        if order is None or not order.working:
            if order is not None and order.state == "filled":
                raise ItemError("51401", "Order cancellation failed as the order has been filled.")
            raise ItemError(
                "51400",
                "Order cancellation failed as the order has been filled, canceled or does "
                "not exist.",
            )
        self.books[spec.inst_id].remove(int(order.ord_id))
        self._touched.add(spec.inst_id)
        self._finish(order, "canceled", CANCEL_USER)
        self.settle()
        return {
            "ordId": order.ord_id,
            "clOrdId": order.cl_ord_id,
            "ts": str(order.u_time),
            "sCode": "0",
            "sMsg": "",
        }

    def amend(self, api_key: str, args: dict[str, Any]) -> dict[str, Any]:
        """Changes ``newSz`` and/or ``newPx`` of a working order.

        A size-only decrease keeps the queue place; a price change or increase goes to
        the back.  A new size at or below the filled size is refused (51503), unless
        ``cxlOnFail`` asks for the order to be cancelled then.
        """
        if not isinstance(args, dict):
            raise param_error("args")
        spec = self.spec_of(args)
        new_sz = _decimal(args.get("newSz"), "newSz")
        new_px = _decimal(args.get("newPx"), "newPx")
        if new_sz is None and new_px is None:
            raise ItemError("51000", "Parameter newSz or newPx error")
        order = self.find(api_key, spec, args)
        req_id = _str(args.get("reqId"))
        if order is None or not order.working:
            raise ItemError(
                "51503",
                "Order modification failed as the order has been filled, canceled or does "
                "not exist.",
            )
        if order.ord_type in ("market", "ioc", "fok", "optimal_limit_ioc"):
            raise ItemError("51512", "Modification failed: order type cannot be amended.")
        px = order.px if new_px is None else new_px
        sz = order.sz if new_sz is None else new_sz
        if px <= ZERO or px % spec.tick != ZERO:
            raise param_error("newPx")
        if sz % spec.lot != ZERO:
            raise ItemError("51121", "Order quantity must be a multiple of the lot size.")
        book = self.books[spec.inst_id]
        if sz <= order.acc_fill_sz:
            if _flag(args.get("cxlOnFail")):
                book.remove(int(order.ord_id))
                self._touched.add(spec.inst_id)
                self._finish(order, "canceled", CANCEL_USER)
                self.settle()
            raise ItemError(
                "51510", "Modification failed: the new size is not larger than the filled size."
            )
        if order.ord_type == "post_only" and px != order.px and book.crosses(order.book_side, px):
            raise ItemError(
                "51505", "Modification failed: the post-only order would take liquidity."
            )
        if order.td_mode == "cash" and spec.inst_type == "SPOT":
            need = (sz - order.acc_fill_sz) * (px if order.side == "buy" else 1)
            bal = self.balances[api_key][order.lock_ccy]
            if need > order.locked and not bal.lock(need - order.locked):
                raise ItemError(
                    "51008",
                    f"Order failed. Insufficient {order.lock_ccy} balance in trading account.",
                )
            if need < order.locked:
                bal.unlock(order.locked - need)
            if need != order.locked:
                self._touched_accounts.add(api_key)
            order.locked = need
        resting = book.get(int(order.ord_id))
        leaves = sz - order.acc_fill_sz
        if resting is not None and px == order.px and leaves <= resting.leaves:
            book.reduce(resting.order_id, leaves)
            order.sz = sz
        else:
            if resting is not None:
                book.remove(resting.order_id)
            order.px, order.sz = px, sz
            fills_before = order.acc_fill_sz
            plan = book.plan(order.book_side, leaves, px)
            fills = book.execute(plan)
            ts = now_ms()
            ids = self._print_trades(spec.inst_id, fills, order.side, ts)
            order.amend_result, order.req_id = "0", req_id
            for fill, trade_id in zip(fills, ids, strict=True):
                self._fill(order, fill.price, fill.qty, False, trade_id, ts)
                self._maker_fill(fill, trade_id, ts)
            if order.working:
                book.add(self._resting(order))
            if order.acc_fill_sz > fills_before:
                order.amend_result, order.req_id = "", ""
                self._touched.add(spec.inst_id)
                self.settle()
                return self._amend_item(order, req_id)
        self._touched.add(spec.inst_id)
        order.u_time = now_ms()
        order.amend_result, order.req_id = "0", req_id
        self._push_order(order)
        order.amend_result, order.req_id = "", ""
        self.settle()
        return self._amend_item(order, req_id)

    @staticmethod
    def _amend_item(order: Order, req_id: str) -> dict[str, Any]:
        return {
            "ordId": order.ord_id,
            "clOrdId": order.cl_ord_id,
            "reqId": req_id,
            "ts": str(now_ms()),
            "sCode": "0",
            "sMsg": "",
        }

    # ------------------------------------------------------------------ public data
    def _print_trades(self, inst_id: str, fills: list[Fill], side: str, ts: int) -> list[int]:
        ids = []
        for fill in fills:
            self._trade_ids[inst_id] += 1
            trade_id = self._trade_ids[inst_id]
            ids.append(trade_id)
            self.public_trades[inst_id].append(
                PublicTrade(inst_id, trade_id, fill.price, fill.qty, side, ts)
            )
            self.last_price[inst_id] = fill.price
        if fills:
            self._touched.add(inst_id)
            self._publish_trades(inst_id, fills, ids, side, ts)
        return ids

    def _publish_trades(
        self, inst_id: str, fills: list[Fill], ids: list[int], side: str, ts: int
    ) -> None:
        """``trades`` aggregates one aggressor's fills per price; ``trades-all`` does not."""
        if self.public_wanted("trades", inst_id):
            data: list[dict[str, Any]] = []
            for fill, trade_id in zip(fills, ids, strict=True):
                if data and data[-1]["px"] == text(fill.price):
                    data[-1]["sz"] = text(Decimal(data[-1]["sz"]) + fill.qty)
                    data[-1]["count"] = str(int(data[-1]["count"]) + 1)
                    continue
                data.append(
                    {
                        "instId": inst_id, "tradeId": str(trade_id), "px": text(fill.price),
                        "sz": text(fill.qty), "side": side, "ts": str(ts), "count": "1",
                        "source": "0", "seqId": trade_id,
                    }
                )  # fmt: skip
            self.on_public(
                "trades", inst_id, {"arg": {"channel": "trades", "instId": inst_id}, "data": data}
            )
        if self.public_wanted("trades-all", inst_id):
            for fill, trade_id in zip(fills, ids, strict=True):
                self.on_public(
                    "trades-all",
                    inst_id,
                    {
                        "arg": {"channel": "trades-all", "instId": inst_id},
                        "data": [
                            {
                                "instId": inst_id, "tradeId": str(trade_id),
                                "px": text(fill.price), "sz": text(fill.qty), "side": side,
                                "ts": str(ts), "source": "0",
                            }
                        ],
                    },
                )  # fmt: skip

    def levels(self, inst_id: str, depth: int) -> tuple[list[list[str]], list[list[str]]]:
        """Top levels as OKX's ``[px, sz, "0", orders]`` rows (bids, asks)."""
        book = self.books[inst_id]
        bids = [self._row(book, Side.BUY, p, q) for p, q in book.levels(Side.BUY, depth)]
        asks = [self._row(book, Side.SELL, p, q) for p, q in book.levels(Side.SELL, depth)]
        return bids, asks

    @staticmethod
    def _row(book: Book, side: Side, px: Decimal, sz: Decimal) -> list[str]:
        return [text(px), text(sz), "0", str(len(book.orders_at(side, px)))]

    def books_snapshot(self, inst_id: str, depth: int) -> dict[str, Any]:
        """``/market/books`` data item."""
        bids, asks = self.levels(inst_id, depth)
        return {"asks": asks, "bids": bids, "ts": str(now_ms())}

    def books_message(self, inst_id: str, channel: str = "books") -> dict[str, Any]:
        """A ``books`` snapshot push (prevSeqId -1) for a new subscriber."""
        feed = self.feeds[inst_id]
        bids, asks = self.levels(inst_id, 400)
        return {
            "arg": {"channel": channel, "instId": inst_id},
            "action": "snapshot",
            "data": [
                {
                    "asks": asks,
                    "bids": bids,
                    "ts": str(now_ms()),
                    "checksum": checksum(bids, asks),
                    "prevSeqId": -1,
                    "seqId": feed.seq_id,
                }
            ],
        }

    def flush_books(self) -> None:
        """Publishes the ``books`` diffs, ``books5`` and ``bbo-tbt`` changes (timer)."""
        ts = str(now_ms())
        for inst_id, feed in self.feeds.items():
            book = self.books[inst_id]
            if feed.changed_bids or feed.changed_asks:
                prev = feed.seq_id
                feed.seq_id = book.update_id
                fault = feed.faults.pop(0) if feed.faults else None
                if fault != "gap" and self.public_wanted("books", inst_id):
                    bids_all, asks_all = self.levels(inst_id, 400)
                    sum_ = checksum(bids_all, asks_all)
                    self.on_public(
                        "books",
                        inst_id,
                        {
                            "arg": {"channel": "books", "instId": inst_id},
                            "action": "update",
                            "data": [
                                {
                                    "asks": self._diff(book, Side.SELL, feed.changed_asks),
                                    "bids": self._diff(book, Side.BUY, feed.changed_bids),
                                    "ts": ts,
                                    "checksum": sum_ + 1 if fault == "checksum" else sum_,
                                    "prevSeqId": prev,
                                    "seqId": feed.seq_id,
                                }
                            ],
                        },
                    )
                feed.changed_bids, feed.changed_asks = {}, {}
            top5 = self.levels(inst_id, 5)
            key5 = (tuple(map(tuple, top5[0])), tuple(map(tuple, top5[1])))
            if key5 != feed.last_top5:
                feed.last_top5 = key5
                if self.public_wanted("books5", inst_id):
                    self.on_public(
                        "books5",
                        inst_id,
                        {
                            "arg": {"channel": "books5", "instId": inst_id},
                            "data": [
                                {
                                    "asks": top5[1], "bids": top5[0], "instId": inst_id,
                                    "ts": ts, "seqId": feed.seq_id,
                                }
                            ],
                        },
                    )  # fmt: skip

    @staticmethod
    def _diff(book: Book, side: Side, changed: dict[Decimal, Decimal]) -> list[list[str]]:
        rows = sorted(changed.items(), reverse=side is Side.BUY)
        return [
            [text(p), text(q), "0", str(len(book.orders_at(side, p)) if q else 0)] for p, q in rows
        ]

    def _publish_bbo(self, inst_id: str) -> None:
        feed = self.feeds[inst_id]
        bids, asks = self.levels(inst_id, 1)
        key = (tuple(map(tuple, bids)), tuple(map(tuple, asks)))
        if key == feed.last_bbo:
            return
        feed.last_bbo = key
        if self.public_wanted("bbo-tbt", inst_id):
            self.on_public(
                "bbo-tbt",
                inst_id,
                {
                    "arg": {"channel": "bbo-tbt", "instId": inst_id},
                    "data": [
                        {"asks": asks, "bids": bids, "ts": str(now_ms()),
                         "seqId": self.books[inst_id].update_id}
                    ],
                },
            )  # fmt: skip

    def ticker(self, inst_id: str) -> dict[str, Any]:
        """The ``/market/ticker`` item."""
        spec = self.specs[inst_id]
        book = self.books[inst_id]
        bid, ask = book.best_bid(), book.best_ask()
        last = self.last_price.get(inst_id, spec.mid)
        trades = self.public_trades[inst_id]
        vol = sum((t.sz for t in trades), ZERO)
        return {
            "instType": spec.inst_type, "instId": inst_id, "last": text(last),
            "lastSz": text(trades[-1].sz) if trades else "0",
            "askPx": text(ask) if ask is not None else "",
            "askSz": text(book.level_qty(Side.SELL, ask)) if ask is not None else "",
            "bidPx": text(bid) if bid is not None else "",
            "bidSz": text(book.level_qty(Side.BUY, bid)) if bid is not None else "",
            "open24h": text(spec.mid), "high24h": text(max([last, spec.mid])),
            "low24h": text(min([last, spec.mid])), "volCcy24h": text(vol * last),
            "vol24h": text(vol), "sodUtc0": text(spec.mid), "sodUtc8": text(spec.mid),
            "ts": str(now_ms()),
        }  # fmt: skip

    def market_trades(self, inst_id: str, limit: int) -> list[dict[str, Any]]:
        """``/market/trades``: newest first."""
        out: list[dict[str, Any]] = []
        for t in reversed(self.public_trades[inst_id]):
            if len(out) >= limit:
                break
            out.append(
                {
                    "instId": inst_id, "tradeId": str(t.trade_id), "px": text(t.px),
                    "sz": text(t.sz), "side": t.side, "ts": str(t.ts), "source": "0",
                }
            )  # fmt: skip
        return out

    # ------------------------------------------------------------------ settle
    def settle(self) -> None:
        """Ends a mutating request: maker replenish, bbo pushes, account/position pushes."""
        touched, self._touched = self._touched, set()
        for inst_id in touched:
            self._publish_bbo(inst_id)
            self.mm.replenish(self.books[inst_id])
            self._publish_bbo(inst_id)
        accounts, self._touched_accounts = self._touched_accounts, set()
        for api_key in accounts:
            self.on_private(api_key, "account", self.balance_view(api_key))
        positions, self._touched_positions = self._touched_positions, set()
        for api_key, inst_id in positions:
            self.on_private(api_key, "positions", self.position_view(api_key, inst_id))

    # ------------------------------------------------------------------ views
    def order_view(self, order: Order) -> dict[str, Any]:
        """An order as the ``orders`` channel and ``/trade/order`` show it."""
        spec = order.spec
        fill = order.last_fill
        state = order.state
        view: dict[str, Any] = {
            "instType": spec.inst_type, "instId": spec.inst_id, "tgtCcy": order.tgt_ccy,
            "ccy": order.ccy, "ordId": order.ord_id, "clOrdId": order.cl_ord_id, "tag": order.tag,
            "px": text(order.px) if order.px else "", "sz": text(order.sz), "pnl": "0",
            "ordType": order.ord_type, "side": order.side, "posSide": order.pos_side,
            "tdMode": order.td_mode, "accFillSz": text(order.acc_fill_sz),
            "fillPx": fill.get("fillPx", ""), "tradeId": fill.get("tradeId", ""),
            "fillSz": fill.get("fillSz", "0"), "fillTime": fill.get("fillTime", ""),
            "fillFee": fill.get("fillFee", "0"), "fillFeeCcy": fill.get("fillFeeCcy", ""),
            "execType": fill.get("execType", ""), "avgPx": text(order.avg_px),
            "state": state, "lever": "", "feeCcy": order.fee_ccy, "fee": text(order.fee),
            "rebateCcy": "", "rebate": "0", "source": "", "category": "normal",
            "reduceOnly": "true" if order.reduce_only else "false",
            "cancelSource": order.cancel_source,
            "cancelSourceReason": CANCEL_REASONS.get(order.cancel_source, ""),
            "amendResult": order.amend_result, "reqId": order.req_id, "amendSource": "",
            "stpMode": "cancel_maker", "stpId": "", "quickMgnType": "", "algoClOrdId": "",
            "algoId": "", "attachAlgoOrds": [], "lastPx": text(
                self.last_price.get(spec.inst_id, spec.mid)
            ),
            "uTime": str(order.u_time), "cTime": str(order.c_time), "code": "0", "msg": "",
        }  # fmt: skip
        return view

    def _push_order(self, order: Order) -> None:
        self.on_private(order.account, "orders", self.order_view(order))

    def balance_view(self, api_key: str, ccys: set[str] | None = None) -> dict[str, Any]:
        """The ``/account/balance`` item (and ``account`` channel push)."""
        details = []
        total = ZERO
        for ccy, bal in sorted(self.balances[api_key].items()):
            if ccys and ccy not in ccys:
                continue
            eq = bal.free + bal.locked
            usd = eq * (self.specs["BTC-USDT"].mid if ccy == "BTC" else 1)
            total += usd
            details.append(
                {
                    "ccy": ccy, "eq": text(eq), "cashBal": text(eq), "availBal": text(bal.free),
                    "availEq": text(bal.free), "frozenBal": text(bal.locked),
                    "ordFrozen": text(bal.locked), "upl": "0", "eqUsd": text(usd),
                    "disEq": text(usd), "liab": "0", "uTime": str(now_ms()),
                }
            )  # fmt: skip
        return {
            "adjEq": "", "imr": "", "mmr": "", "mgnRatio": "", "notionalUsd": "",
            "ordFroz": "", "totalEq": text(total), "isoEq": "0", "uTime": str(now_ms()),
            "details": details,
        }  # fmt: skip

    def position_view(self, api_key: str, inst_id: str) -> dict[str, Any]:
        """One ``/account/positions`` item (and ``positions`` channel push)."""
        spec = self.specs[inst_id]
        pos = self.positions[api_key].get(inst_id, Position())
        contracts = pos.amt if spec.inverse else pos.amt / spec.ct_val
        mark = self.mark(inst_id)
        return {
            "instType": spec.inst_type, "instId": inst_id, "mgnMode": "cross",
            "posId": f"{inst_id}-{api_key[:6]}", "posSide": "net",
            "pos": text(contracts.normalize()), "ccy": spec.settle, "posCcy": "",
            "avgPx": text(pos.entry), "markPx": text(mark),
            "upl": text(pos.unrealized(mark, spec.ct_val if spec.inverse else None)),
            "realizedPnl": text(pos.realized), "lever": "10", "liqPx": "",
            "notionalUsd": text(abs(contracts) * spec.ct_val * (1 if spec.inverse else mark)),
            "cTime": str(pos.update_time), "uTime": str(pos.update_time),
        }  # fmt: skip

    def mark(self, inst_id: str) -> Decimal:
        """The book mid snapped to the tick (the last price or spec mid when one-sided)."""
        spec = self.specs[inst_id]
        book = self.books[inst_id]
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None:
            return ((bid + ask) / 2 / spec.tick).to_integral_value(ROUND_DOWN) * spec.tick
        return self.last_price.get(inst_id, spec.mid)

    def pending(
        self, api_key: str, args: dict[str, str], page: bool = True
    ) -> list[dict[str, Any]]:
        """``/trade/orders-pending``: newest first, filtered by instType / instId / ordType.

        Pages of ``limit`` (at most 100); ``after`` / ``before`` are ordIds bounding the
        page (older than / newer than), as OKX paginates.
        """
        out = []
        after = int(args["after"]) if args.get("after", "").isdigit() else None
        before = int(args["before"]) if args.get("before", "").isdigit() else None
        limit = min(int(args["limit"]), 100) if args.get("limit", "").isdigit() else 100
        for order in sorted(
            self.working.get(api_key, {}).values(), key=lambda o: int(o.ord_id), reverse=True
        ):
            if args.get("instId") and order.spec.inst_id != args["instId"]:
                continue
            if args.get("instType") and order.spec.inst_type != args["instType"]:
                continue
            if args.get("ordType") and order.ord_type != args["ordType"]:
                continue
            if after is not None and int(order.ord_id) >= after:
                continue
            if before is not None and int(order.ord_id) <= before:
                continue
            out.append(self.order_view(order))
            if page and len(out) >= limit:
                break
        return out

    def history_view(self, api_key: str, args: dict[str, str]) -> list[dict[str, Any]]:
        """``/trade/orders-history``: finished orders, newest first; ``after`` (an
        ordId) pages to older ones, ``begin``/``end`` bound the creation time (ms),
        ``limit`` is at most 100."""
        after, begin, end = (int(args.get(k) or 0) for k in ("after", "begin", "end"))
        limit = min(int(args.get("limit") or 100), 100)
        out = []
        for order in reversed(self.history.get(api_key, [])):
            if order.working:
                continue
            if args.get("instType") and order.spec.inst_type != args["instType"]:
                continue
            if args.get("instId") and order.spec.inst_id != args["instId"]:
                continue
            if after and int(order.ord_id) >= after:
                continue
            if (begin and order.c_time < begin) or (end and order.c_time > end):
                continue
            out.append(self.order_view(order))
            if len(out) >= limit:
                break
        return out

    def positions_list(self, api_key: str, args: dict[str, str]) -> list[dict[str, Any]]:
        """``/account/positions``: open positions (and zero ones once traded)."""
        out = []
        for inst_id in sorted(self.positions.get(api_key, {})):
            if args.get("instId") and inst_id not in args["instId"].split(","):
                continue
            spec = self.specs[inst_id]
            if args.get("instType") and spec.inst_type != args["instType"]:
                continue
            out.append(self.position_view(api_key, inst_id))
        return out

    def instruments(self, inst_type: str, inst_id: str | None) -> list[dict[str, Any]]:
        """``/public/instruments`` for one instType."""
        return [
            instrument_json(s, self.list_time)
            for s in self.specs.values()
            if s.inst_type == inst_type and (not inst_id or s.inst_id == inst_id)
        ]

    # ------------------------------------------------------------------ admin
    def admin_trade(self, inst_id: str, px: Decimal, sz: Decimal, side: Side) -> dict[str, Any]:
        """A phantom aggressor takes the book up to ``px``; the rest prints at ``px``."""
        spec = self.specs.get(inst_id)
        if spec is None:
            raise KeyError(f"unknown instId {inst_id}")
        ts = now_ms()
        book = self.books[inst_id]
        fills = book.match(side, sz, px)
        ids = self._print_trades(inst_id, fills, side.value, ts)
        out: list[dict[str, Any]] = []
        for fill, trade_id in zip(fills, ids, strict=True):
            self._maker_fill(fill, trade_id, ts)
            owner = fill.maker.owner
            out.append(
                {
                    "tradeId": str(trade_id), "px": text(fill.price), "sz": text(fill.qty),
                    "ordId": str(fill.maker.order_id),
                    "owner": "mm" if owner in (MM_OWNER, ADMIN_OWNER) else owner,
                }
            )  # fmt: skip
        rest = sz - sum((f.qty for f in fills), ZERO)
        if rest > ZERO:
            phantom = Fill(
                maker=RestingOrder(0, ADMIN_OWNER, side.opposite, px, ZERO),
                price=px,
                qty=rest,
                maker_done=True,
            )
            trade_id = self._print_trades(inst_id, [phantom], side.value, ts)[0]
            out.append(
                {"tradeId": str(trade_id), "px": text(px), "sz": text(rest), "ordId": None,
                 "owner": None}
            )  # fmt: skip
        self._touched.add(inst_id)
        self.settle()
        return {"instId": inst_id, "side": side.value, "fills": out}

    def admin_book(self, inst_id: str, mid: Decimal | None, clear: bool) -> dict[str, Any]:
        """Recenters, resumes or clears the market maker of one instrument."""
        if inst_id not in self.specs:
            raise KeyError(f"unknown instId {inst_id}")
        book = self.books[inst_id]
        if clear:
            self.mm.clear(book)
        elif mid is not None:
            self.mm.recenter(book, mid)
        else:
            self.mm.quoting[inst_id].enabled = True
            self.mm.replenish(book)
        self._touched.add(inst_id)
        self.settle()
        bid, ask = book.best_bid(), book.best_ask()
        return {
            "instId": inst_id,
            "mid": text(self.mm.quoting[inst_id].mid),
            "quoting": self.mm.quoting[inst_id].enabled,
            "bestBid": text(bid) if bid is not None else None,
            "bestAsk": text(ask) if ask is not None else None,
        }

    def books_fault(self, inst_id: str, kind: str, count: int) -> dict[str, Any]:
        """Arms a fault on the next ``count`` ``books`` updates of one instrument."""
        if inst_id not in self.specs:
            raise KeyError(f"unknown instId {inst_id}")
        if kind not in ("gap", "checksum"):
            raise ValueError("books fault must be gap or checksum")
        if count < 1:
            raise ValueError("count must be >= 1")
        self.feeds[inst_id].faults += [kind] * count
        return {"books": kind, "instId": inst_id, "count": count}

    def clear_books_faults(self) -> None:
        for feed in self.feeds.values():
            feed.faults.clear()

    def drift(self) -> None:
        """Moves every quoted mid one seeded random step."""
        for inst_id, book in self.books.items():
            self.mm.drift(book)
            self._touched.add(inst_id)
        self.settle()


def checksum(bids: list[list[str]], asks: list[list[str]]) -> int:
    """OKX's book checksum: signed CRC32 of ``bid:size:ask:size...`` over 25 levels."""
    parts: list[str] = []
    for i in range(25):
        if i < len(bids):
            parts += [bids[i][0], bids[i][1]]
        if i < len(asks):
            parts += [asks[i][0], asks[i][1]]
    value = zlib.crc32(":".join(parts).encode())
    return value - (1 << 32) if value >= 1 << 31 else value


def _str(value: Any) -> str:
    """A JSON value as text; None becomes the empty string (clients send "" for absent)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flag(value: Any) -> bool:
    return value is True or _str(value).lower() == "true"


def _decimal(value: Any, name: str) -> Decimal | None:
    """A decimal string (or JSON number) parameter; None when absent."""
    raw = _str(value)
    if raw == "":
        return None
    if not _NUMBER_RE.match(raw):
        raise param_error(name)
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise param_error(name) from None
