//! Python binding for the pre-trade risk gate.

use std::time::Instant;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::fixed::Grid;
use crate::py::fixed_err;
use crate::risk::{Denial, Exposure, Gate, GateError, Limits, OrderUnits};

fn gate_err(e: GateError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn index(value: i64, what: &str) -> PyResult<usize> {
    usize::try_from(value)
        .map_err(|_| PyValueError::new_err(format!("{what} must not be negative")))
}

fn outcome(result: Result<(), Denial>) -> Option<(&'static str, String)> {
    result.err().map(|d| (d.reason.as_str(), d.detail))
}

/// Pre-trade risk of a whole server: per (session, symbol) key the effective limits and
/// the exposure kept incrementally (working orders, their unfilled quantity per side in
/// steps, the position), the rate buckets and the kill switch. `check` is O(1) and
/// returns None or (reason, detail) with the API's reason text. Indices (sessions, keys,
/// venue rules) are the small integers the add_* methods return. Times are seconds of
/// the gate's own monotonic clock unless `now` is given.
#[pyclass(module = "ems._core")]
pub struct RiskGate {
    inner: Gate,
    origin: Instant,
}

impl RiskGate {
    fn now(&self, now: Option<f64>) -> PyResult<f64> {
        match now {
            Some(t) if t.is_finite() => Ok(t),
            Some(_) => Err(PyValueError::new_err("now must be a finite number")),
            None => Ok(self.origin.elapsed().as_secs_f64()),
        }
    }
}

#[pymethods]
impl RiskGate {
    #[new]
    fn new() -> Self {
        RiskGate {
            inner: Gate::new(),
            origin: Instant::now(),
        }
    }

    /// Blocks every new order (updates and cancels still pass) while true.
    #[getter]
    fn kill_switch(&self) -> bool {
        self.inner.kill_switch
    }

    #[setter]
    fn set_kill_switch(&mut self, active: bool) {
        self.inner.kill_switch = active;
    }

    /// A new session; returns its index.
    fn add_session(&mut self) -> usize {
        self.inner.add_session()
    }

    /// Forgets the bucket of a session's own maxOrdersPerSecond (it starts full again).
    fn reset_session_rate(&mut self, session: i64) -> PyResult<()> {
        self.inner
            .reset_session_rate(index(session, "session")?)
            .map_err(gate_err)
    }

    /// A venue order-rate rule: `rate` orders per second with `burst` at once (at least
    /// 1); `detail` is the sentence its denials carry. Returns its index.
    #[pyo3(signature = (rate, burst, detail, now=None))]
    fn add_venue_rule(
        &mut self,
        rate: f64,
        burst: f64,
        detail: String,
        now: Option<f64>,
    ) -> PyResult<usize> {
        let now = self.now(now)?;
        self.inner
            .add_venue_rule(rate, burst, detail, now)
            .map_err(gate_err)
    }

    /// A new (session, symbol) key with no limits and no exposure; returns its index.
    fn add_key(&mut self, session: i64, symbol: String) -> PyResult<usize> {
        self.inner
            .add_key(index(session, "session")?, symbol)
            .map_err(gate_err)
    }

    /// The instrument of a key: price tick and quantity step (decimal text) and the
    /// contract size (None or 0 for quote-priced instruments).
    #[pyo3(signature = (key, price_step, qty_step, contract_size=None))]
    fn set_instrument(
        &mut self,
        key: i64,
        price_step: &str,
        qty_step: &str,
        contract_size: Option<f64>,
    ) -> PyResult<()> {
        let price = Grid::parse(price_step.as_bytes()).map_err(fixed_err)?;
        let qty = Grid::parse(qty_step.as_bytes()).map_err(fixed_err)?;
        self.inner
            .set_instrument(index(key, "key")?, price, qty, contract_size)
            .map_err(gate_err)
    }

    /// Replaces a key's effective limits (None: not limited).
    #[pyo3(signature = (
        key,
        max_order_qty=None,
        max_order_notional=None,
        price_band_percent=None,
        max_working_orders=None,
        max_position=None,
        max_orders_per_second=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn set_limits(
        &mut self,
        key: i64,
        max_order_qty: Option<f64>,
        max_order_notional: Option<f64>,
        price_band_percent: Option<f64>,
        max_working_orders: Option<i64>,
        max_position: Option<f64>,
        max_orders_per_second: Option<f64>,
    ) -> PyResult<()> {
        let limits = Limits {
            max_order_qty,
            max_order_notional,
            price_band_percent,
            max_working_orders,
            max_position,
            max_orders_per_second,
        };
        self.inner
            .set_limits(index(key, "key")?, limits)
            .map_err(gate_err)
    }

    /// Points a key at venue rules (empty: none); a new order needs a token from each.
    fn set_venue_rules(&mut self, key: i64, rules: Vec<i64>) -> PyResult<()> {
        let rules = rules
            .into_iter()
            .map(|r| index(r, "rule"))
            .collect::<PyResult<Vec<_>>>()?;
        self.inner
            .set_venue_rules(index(key, "key")?, &rules)
            .map_err(gate_err)
    }

    /// Whether any check can refuse an order on this key.
    fn applies(&self, key: i64) -> PyResult<bool> {
        self.inner.applies(index(key, "key")?).map_err(gate_err)
    }

    /// Adds (negative: removes) `orders` working orders and `qty` unfilled steps on
    /// `side` (BUY 1, SELL -1). Raises ValueError, changing nothing, if a count would go
    /// negative.
    fn book(&mut self, key: i64, side: i8, orders: i64, qty: i64) -> PyResult<()> {
        self.inner
            .book(index(key, "key")?, side, orders, qty)
            .map_err(gate_err)
    }

    /// The session's position in the key's symbol.
    fn set_position(&mut self, key: i64, position: f64) -> PyResult<()> {
        self.inner
            .set_position(index(key, "key")?, position)
            .map_err(gate_err)
    }

    /// (working orders, unfilled buy steps, unfilled sell steps, position).
    fn state(&self, key: i64) -> PyResult<(i64, i64, i64, f64)> {
        let s = self.inner.state(index(key, "key")?).map_err(gate_err)?;
        Ok((s.working, s.working_buy, s.working_sell, s.position))
    }

    /// Checks an order: `price` in ticks (None: market), `qty` its unfilled steps. For an
    /// update, `booked_qty`/`booked_working` are what is booked for the order itself (left
    /// out of the exposure). Returns None, or (reason, detail).
    #[pyo3(signature = (
        key,
        side,
        price,
        qty,
        reference,
        new_order,
        booked_qty=0,
        booked_working=false,
        now=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn check(
        &mut self,
        key: i64,
        side: i8,
        price: Option<i64>,
        qty: i64,
        reference: Option<f64>,
        new_order: bool,
        booked_qty: i64,
        booked_working: bool,
        now: Option<f64>,
    ) -> PyResult<Option<(&'static str, String)>> {
        let now = self.now(now)?;
        let order = OrderUnits {
            side,
            price,
            qty,
            booked_qty,
            booked_working,
        };
        self.inner
            .check(index(key, "key")?, &order, reference, new_order, now)
            .map(outcome)
            .map_err(gate_err)
    }

    /// Checks an order described by its exposure as doubles (quantities and prices as
    /// values, not units), with the key's limits, the kill switch and the rate buckets.
    #[pyo3(signature = (
        key,
        side,
        price,
        qty,
        position,
        working_same_side,
        working_orders,
        reference,
        contract_size,
        new_order,
        now=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn check_exposure(
        &mut self,
        key: i64,
        side: i8,
        price: Option<f64>,
        qty: f64,
        position: f64,
        working_same_side: f64,
        working_orders: i64,
        reference: Option<f64>,
        contract_size: Option<f64>,
        new_order: bool,
        now: Option<f64>,
    ) -> PyResult<Option<(&'static str, String)>> {
        let now = self.now(now)?;
        let x = Exposure {
            side,
            price,
            qty,
            position,
            working_same_side,
            working_orders,
            reference,
            contract_size,
        };
        self.inner
            .check_exposure(index(key, "key")?, &x, new_order, now)
            .map(outcome)
            .map_err(gate_err)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RiskGate>()?;
    Ok(())
}
