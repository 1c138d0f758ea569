//! Python bindings for market data: the order book and the venue scanners.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::book::{ArrayLadder, Book, Status, Venue};
use crate::fixed::Grid as RawGrid;
use crate::json::{unescape, FastGrid, ScanError};
use crate::py::{fixed_err, DecodeError, OffGridError};
use crate::venues::{self, Field, OrderFields, OrderSource, Trade as RawTrade};

/// Turns a scan error into `DecodeError` (or `OffGridError`) with an `offset` attribute.
pub fn scan_err(err: ScanError) -> PyErr {
    let pyerr = match err {
        ScanError::OffGrid { .. } => OffGridError::new_err(err.to_string()),
        _ => DecodeError::new_err(err.to_string()),
    };
    Python::attach(|py| {
        // Setting an attribute on a fresh exception object cannot fail in practice.
        let _ = pyerr.value(py).setattr("offset", err.pos());
    });
    pyerr
}

pub fn fast_grid(step: &str) -> PyResult<FastGrid> {
    let raw = RawGrid::parse(step.as_bytes()).map_err(fixed_err)?;
    FastGrid::from_grid(&raw).ok_or_else(|| PyValueError::new_err("grid step out of range"))
}

/// Prices are negated for the ask side, so i64::MIN is refused; sizes are never negative.
fn check_level(price: i64, qty: i64) -> PyResult<()> {
    if price == i64::MIN {
        return Err(PyValueError::new_err("price out of range"));
    }
    if qty < 0 {
        return Err(PyValueError::new_err("size must not be negative"));
    }
    Ok(())
}

fn side_is_bid(side: i8) -> PyResult<bool> {
    match side {
        1 => Ok(true),
        -1 => Ok(false),
        _ => Err(PyValueError::new_err("side must be BID (1) or ASK (-1)")),
    }
}

/// L2 order book of one instrument in fixed-point units (price ticks, size steps),
/// following one venue's message format and sequence rules.
#[pyclass(module = "ems._core")]
pub struct OrderBook {
    book: Book<ArrayLadder>,
    price: RawGrid,
    venue: &'static str,
}

#[pymethods]
impl OrderBook {
    /// `venue` is one of "binance_spot", "binance_futures", "okx", "bybit", "deribit"
    /// (fed level by level by its owner: `apply` refuses every message); `tick` and
    /// `step` are the instrument's price tick and size step as decimal text.
    #[new]
    fn new(venue: &str, tick: &str, step: &str) -> PyResult<Self> {
        let v = Venue::parse(venue)
            .ok_or_else(|| PyValueError::new_err(format!("unknown venue {venue:?}")))?;
        let name = match v {
            Venue::BinanceSpot => "binance_spot",
            Venue::BinanceFutures => "binance_futures",
            Venue::Okx => "okx",
            Venue::Bybit => "bybit",
            Venue::Deribit => "deribit",
        };
        let price = RawGrid::parse(tick.as_bytes()).map_err(fixed_err)?;
        Ok(OrderBook {
            book: Book::new(v, fast_grid(tick)?, fast_grid(step)?),
            price,
            venue: name,
        })
    }

    /// Applies one whole venue message from its bytes (Binance depthUpdate, OKX books,
    /// Bybit orderbook) and returns APPLIED, STALE, BUFFERED or RESYNC.
    fn apply(&mut self, data: &[u8]) -> PyResult<u8> {
        self.book
            .apply_message(data)
            .map(|s| s as u8)
            .map_err(scan_err)
    }

    /// Loads a Binance REST depth snapshot (`{"lastUpdateId":..,"bids":..,"asks":..}`)
    /// and replays the buffered diffs; returns APPLIED or RESYNC.
    fn load_snapshot(&mut self, data: &[u8]) -> PyResult<u8> {
        self.book
            .load_binance_snapshot(data)
            .map(|s| s as u8)
            .map_err(scan_err)
    }

    /// Loads a snapshot given in units; `last_id` is the venue's sequence number.
    fn load_levels(
        &mut self,
        bids: Vec<(i64, i64)>,
        asks: Vec<(i64, i64)>,
        last_id: i64,
    ) -> PyResult<u8> {
        for &(p, q) in bids.iter().chain(&asks) {
            check_level(p, q)?;
        }
        Ok(self.book.load_snapshot(&bids, &asks, last_id) as u8)
    }

    /// Sets one level (size 0 removes it), outside any sequence check.
    fn update(&mut self, side: i8, price: i64, qty: i64) -> PyResult<()> {
        let bid = side_is_bid(side)?;
        check_level(price, qty)?;
        self.book.set_level(bid, price, qty);
        Ok(())
    }

    /// Forgets the sync state so that diffs buffer until the next snapshot.
    fn invalidate(&mut self) {
        self.book.invalidate();
    }

    /// (price, size) of the best bid, or None.
    fn best_bid(&self) -> Option<(i64, i64)> {
        self.book.best_bid()
    }

    /// (price, size) of the best ask, or None.
    fn best_ask(&self) -> Option<(i64, i64)> {
        self.book.best_ask()
    }

    /// Price of the best bid in ticks, or None.
    fn best_bid_price(&self) -> Option<i64> {
        self.book.best_bid().map(|l| l.0)
    }

    /// Price of the best ask in ticks, or None.
    fn best_ask_price(&self) -> Option<i64> {
        self.book.best_ask().map(|l| l.0)
    }

    /// Up to `n` levels of `side` (BID or ASK) from the best outward, as (price, size).
    fn depth(&self, side: i8, n: usize) -> PyResult<Vec<(i64, i64)>> {
        Ok(self.book.depth(side_is_bid(side)?, n))
    }

    /// The `index`-th level of `side` from the best (0 = best) as (price, size), or None.
    fn level(&self, side: i8, index: usize) -> PyResult<Option<(i64, i64)>> {
        let bid = side_is_bid(side)?;
        Ok(self
            .book
            .depth(bid, index.saturating_add(1))
            .get(index)
            .copied())
    }

    /// Size at `price` on `side`, 0 if there is no level.
    fn size_at(&self, side: i8, price: i64) -> PyResult<i64> {
        Ok(self.book.size_at(side_is_bid(side)?, price))
    }

    /// Best ask minus best bid in ticks, or None if a side is empty; ValueError if the
    /// difference does not fit 64 bits (levels set near both ends of the range).
    fn spread(&self) -> PyResult<Option<i64>> {
        let (Some(ask), Some(bid)) = (self.book.best_ask(), self.book.best_bid()) else {
            return Ok(None);
        };
        ask.0
            .checked_sub(bid.0)
            .map(Some)
            .ok_or_else(|| PyValueError::new_err("spread out of range"))
    }

    /// Mid price as a double in price terms (not ticks), or None.
    fn mid(&self) -> Option<f64> {
        let b = self.book.best_bid()?.0;
        let a = self.book.best_ask()?.0;
        Some((self.price.to_f64(a) + self.price.to_f64(b)) / 2.0)
    }

    /// Number of levels on `side`.
    fn levels(&self, side: i8) -> PyResult<usize> {
        Ok(self.book.len(side_is_bid(side)?))
    }

    /// OKX checksum of the current top 25 levels (signed 32-bit), from the levels'
    /// original text; 0 while OKX sends no checksums (none is kept then).
    fn okx_checksum(&self) -> i32 {
        self.book.okx_checksum()
    }

    /// True when the best bid is at or above the best ask.
    #[getter]
    fn crossed(&self) -> bool {
        self.book.is_crossed()
    }

    /// Sequence number of the last applied message.
    #[getter]
    fn last_update_id(&self) -> i64 {
        self.book.last_id
    }

    /// Venue time (ms) of the last applied message.
    #[getter]
    fn exch_time(&self) -> i64 {
        self.book.exch_time
    }

    /// False until a snapshot is loaded and after a gap (resync needed).
    #[getter]
    fn synced(&self) -> bool {
        self.book.is_synced()
    }

    /// Binance diffs waiting for a snapshot.
    #[getter]
    fn buffered(&self) -> usize {
        self.book.buffered()
    }

    /// The venue whose rules the book follows ("binance_spot", "okx", ...).
    #[getter]
    fn venue(&self) -> &'static str {
        self.venue
    }

    fn __repr__(&self) -> String {
        format!(
            "OrderBook({:?}, bid={:?}, ask={:?}, last_update_id={})",
            self.venue,
            self.book.best_bid(),
            self.book.best_ask(),
            self.book.last_id
        )
    }
}

/// A public trade in grid units.
#[pyclass(frozen, get_all, module = "ems._core")]
pub struct Trade {
    /// Price in ticks.
    price: i64,
    /// Size in steps.
    qty: i64,
    /// BUY (1) if the taker bought, SELL (-1) if the taker sold.
    aggressor_side: i8,
    /// Venue trade time, ms since the epoch.
    time: i64,
    /// Venue trade id, -1 when the venue's id is not numeric.
    trade_id: i64,
}

impl From<RawTrade> for Trade {
    fn from(t: RawTrade) -> Trade {
        Trade {
            price: t.price,
            qty: t.qty,
            aggressor_side: t.aggressor_side,
            time: t.time,
            trade_id: t.trade_id,
        }
    }
}

#[pymethods]
impl Trade {
    fn __repr__(&self) -> String {
        format!(
            "Trade(price={}, qty={}, aggressor_side={}, time={}, trade_id={})",
            self.price, self.qty, self.aggressor_side, self.time, self.trade_id
        )
    }
}

/// Reads one instrument's public trade messages into `Trade`s on its price/size grid.
#[pyclass(frozen, module = "ems._core")]
pub struct TradeScanner {
    price: FastGrid,
    qty: FastGrid,
}

#[pymethods]
impl TradeScanner {
    #[new]
    fn new(tick: &str, step: &str) -> PyResult<Self> {
        Ok(TradeScanner {
            price: fast_grid(tick)?,
            qty: fast_grid(step)?,
        })
    }

    /// A Binance `trade` or `aggTrade` event (raw or in a combined-stream envelope).
    fn binance_trade(&self, data: &[u8]) -> PyResult<Trade> {
        venues::binance_trade(data, &self.price, &self.qty)
            .map(Trade::from)
            .map_err(scan_err)
    }

    /// Every trade of an OKX `trades` push.
    fn okx_trades(&self, data: &[u8]) -> PyResult<Vec<Trade>> {
        let mut out = Vec::with_capacity(2);
        venues::okx_trades(data, &self.price, &self.qty, &mut out).map_err(scan_err)?;
        Ok(out.into_iter().map(Trade::from).collect())
    }

    /// Every trade of a Bybit `publicTrade` push.
    fn bybit_trades(&self, data: &[u8]) -> PyResult<Vec<Trade>> {
        let mut out = Vec::with_capacity(2);
        venues::bybit_trades(data, &self.price, &self.qty, &mut out).map_err(scan_err)?;
        Ok(out.into_iter().map(Trade::from).collect())
    }
}

/// One order update, normalised across venues. It keeps the frame's bytes and makes a
/// Python string only for the fields that are read; prices and sizes are the venue's
/// exact decimal text ("" when the venue did not send the field).
#[pyclass(frozen, module = "ems._core")]
pub struct OrderUpdate {
    frame: Py<PyBytes>,
    fields: OrderFields,
}

impl OrderUpdate {
    fn text<'py>(&self, py: Python<'py>, f: Field) -> PyResult<Bound<'py, PyString>> {
        let span = self.fields.spans[f as usize];
        let raw = span.of(self.frame.bind(py).as_bytes());
        if self.fields.escaped & (1 << (f as u32)) != 0 {
            let text = unescape(raw).ok_or_else(|| {
                scan_err(ScanError::Malformed {
                    pos: span.start as usize,
                    what: "bad string escape",
                })
            })?;
            return Ok(PyString::new(py, &text));
        }
        let text = std::str::from_utf8(raw).map_err(|e| {
            scan_err(ScanError::Malformed {
                pos: span.start as usize + e.valid_up_to(),
                what: "invalid UTF-8",
            })
        })?;
        Ok(PyString::new(py, text))
    }
}

macro_rules! text_getters {
    ($($name:ident => $field:ident, $doc:literal;)*) => {
        #[pymethods]
        impl OrderUpdate {
            $(
                #[doc = $doc]
                #[getter]
                fn $name<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyString>> {
                    self.text(py, Field::$field)
                }
            )*

            /// Venue family and product: "binance_spot", "binance_futures", "okx", "bybit".
            #[getter]
            fn venue(&self) -> &'static str {
                match self.fields.source {
                    OrderSource::BinanceSpot => "binance_spot",
                    OrderSource::BinanceFutures => "binance_futures",
                    OrderSource::Okx => "okx",
                    OrderSource::Bybit => "bybit",
                }
            }

            /// BUY (1) or SELL (-1).
            #[getter]
            fn side(&self) -> i8 {
                self.fields.side
            }

            /// Event or update time at the venue, ms.
            #[getter]
            fn exch_time(&self) -> i64 {
                self.fields.exch_time
            }

            /// Fill or transaction time at the venue, ms (0 if none).
            #[getter]
            fn trade_time(&self) -> i64 {
                self.fields.trade_time
            }

            /// True if the last fill added liquidity.
            #[getter]
            fn is_maker(&self) -> bool {
                self.fields.is_maker
            }

            /// True if the order may only reduce a position.
            #[getter]
            fn reduce_only(&self) -> bool {
                self.fields.reduce_only
            }

            fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
                Ok(format!(
                    "OrderUpdate(venue={:?}, symbol={:?}, client_order_id={:?}, status={:?})",
                    self.venue(),
                    self.text(py, Field::Symbol)?.to_string(),
                    self.text(py, Field::ClientOrderId)?.to_string(),
                    self.text(py, Field::Status)?.to_string(),
                ))
            }
        }
    };
}

text_getters! {
    symbol => Symbol, "Venue symbol (instId on OKX).";
    client_order_id => ClientOrderId, "Client order id (c, clOrdId, orderLinkId).";
    order_id => OrderId, "Venue order id.";
    order_type => OrderType, "Venue order type text.";
    time_in_force => TimeInForce, "Venue time-in-force text (empty on OKX).";
    status => Status, "Venue order status text (X, state, orderStatus).";
    exec_type => ExecType, "Binance execution type; Bybit cancelType; empty on OKX.";
    price => Price, "Order price text.";
    qty => Qty, "Order size text.";
    last_qty => LastQty, "Size of the last fill.";
    last_price => LastPrice, "Price of the last fill.";
    cum_qty => CumQty, "Filled size so far.";
    avg_price => AvgPrice, "Average fill price (empty on Binance spot: use cum_quote / cum_qty).";
    fee => Fee, "Fee of the last fill (cumulative on Bybit).";
    fee_asset => FeeAsset, "Fee currency.";
    trade_id => TradeId, "Venue trade id of the last fill.";
    orig_client_order_id => OrigClientOrderId, "Binance C: client id of the order being canceled.";
    reject_reason => RejectReason, "Binance r, OKX cancelSource, Bybit rejectReason.";
    cum_quote => CumQuote, "Cumulative quote amount (Binance Z, Bybit cumExecValue).";
    leaves_qty => LeavesQty, "Remaining size (Bybit).";
}

fn order_list(
    py: Python<'_>,
    frame: &Bound<'_, PyBytes>,
    fields: Vec<OrderFields>,
) -> PyResult<Vec<Py<OrderUpdate>>> {
    fields
        .into_iter()
        .map(|f| {
            Py::new(
                py,
                OrderUpdate {
                    frame: frame.clone().unbind(),
                    fields: f,
                },
            )
        })
        .collect()
}

/// A Binance `executionReport` (spot) or `ORDER_TRADE_UPDATE` (futures) event.
#[pyfunction]
fn binance_order_update(data: &Bound<'_, PyBytes>) -> PyResult<OrderUpdate> {
    let fields = venues::binance_order(data.as_bytes()).map_err(scan_err)?;
    Ok(OrderUpdate {
        frame: data.clone().unbind(),
        fields,
    })
}

/// Every order in an OKX `orders` channel push.
#[pyfunction]
fn okx_order_updates(py: Python<'_>, data: &Bound<'_, PyBytes>) -> PyResult<Vec<Py<OrderUpdate>>> {
    let mut out = Vec::with_capacity(1);
    venues::okx_orders(data.as_bytes(), &mut out).map_err(scan_err)?;
    order_list(py, data, out)
}

/// Every order in a Bybit private `order` push.
#[pyfunction]
fn bybit_order_updates(
    py: Python<'_>,
    data: &Bound<'_, PyBytes>,
) -> PyResult<Vec<Py<OrderUpdate>>> {
    let mut out = Vec::with_capacity(1);
    venues::bybit_orders(data.as_bytes(), &mut out).map_err(scan_err)?;
    order_list(py, data, out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<OrderBook>()?;
    m.add_class::<Trade>()?;
    m.add_class::<TradeScanner>()?;
    m.add_class::<OrderUpdate>()?;
    m.add_function(wrap_pyfunction!(binance_order_update, m)?)?;
    m.add_function(wrap_pyfunction!(okx_order_updates, m)?)?;
    m.add_function(wrap_pyfunction!(bybit_order_updates, m)?)?;
    m.add("BID", 1)?;
    m.add("ASK", -1)?;
    m.add("BUY", i32::from(venues::BUY))?;
    m.add("SELL", i32::from(venues::SELL))?;
    m.add("APPLIED", Status::Applied as u8)?;
    m.add("STALE", Status::Stale as u8)?;
    m.add("BUFFERED", Status::Buffered as u8)?;
    m.add("RESYNC", Status::Resync as u8)?;
    Ok(())
}
