//! Python binding for the trigger index.

use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyList, PyTuple};

use crate::armed::Armed;
use crate::trigger::TriggerIndex as RawIndex;

/// A request built in full when its trigger is set, but for the timestamp (and, for
/// venues that sign each request, the signature) filled in when it fires.
#[pyclass(frozen, module = "ems._core")]
pub struct ArmedOrder {
    inner: Armed,
}

#[pymethods]
impl ArmedOrder {
    /// Complete as built: sent exactly as given.
    #[staticmethod]
    fn fixed(data: &[u8]) -> Self {
        ArmedOrder {
            inner: Armed::fixed(data.to_vec()),
        }
    }

    /// `head`, the venue time in milliseconds (local clock + `clock_offset_ms`), `tail`.
    #[staticmethod]
    #[pyo3(signature = (head, tail, clock_offset_ms=0))]
    fn millis(head: &[u8], tail: &[u8], clock_offset_ms: i64) -> Self {
        ArmedOrder {
            inner: Armed::millis(head.to_vec(), tail.to_vec(), clock_offset_ms),
        }
    }

    /// A Binance signed request whose `head` ends with `timestamp=`: the timestamp is
    /// appended, the query from byte `signed_from` on is signed with HMAC-SHA256 of
    /// `secret`, and `&signature=<hex>` and `tail` follow.
    #[staticmethod]
    #[pyo3(signature = (head, tail, signed_from, secret, clock_offset_ms=0))]
    fn binance(
        head: &[u8],
        tail: &[u8],
        signed_from: usize,
        secret: &[u8],
        clock_offset_ms: i64,
    ) -> PyResult<Self> {
        Armed::binance_query(
            head.to_vec(),
            tail.to_vec(),
            signed_from,
            secret,
            clock_offset_ms,
        )
        .map(|inner| ArmedOrder { inner })
        .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// The request as it would be sent at `now_ms` (default: now).
    #[pyo3(signature = (now_ms=None))]
    fn render<'py>(&self, py: Python<'py>, now_ms: Option<i64>) -> Bound<'py, PyBytes> {
        let mut out = Vec::new();
        self.inner.render(now_ms.unwrap_or_else(epoch_ms), &mut out);
        PyBytes::new(py, &out)
    }

    fn __repr__(&self) -> &'static str {
        // Templates hold keys: never shown.
        "ArmedOrder(...)"
    }
}

fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// What a trigger hands back when it fires.
enum Payload {
    /// Opaque bytes given at `add`.
    Bytes(Py<PyBytes>),
    /// Per order, its armed request and the callable that sends a rendered copy, or
    /// None for an order sent another way.
    Orders(Vec<Option<(Py<ArmedOrder>, Py<PyAny>)>>),
}

impl Payload {
    fn into_py(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        match self {
            Payload::Bytes(b) => Ok(b.into_bound(py).into_any()),
            Payload::Orders(orders) => Ok(PyList::new(py, orders)?.into_any()),
        }
    }
}

/// Renders a trigger's orders with the time `now` and sends them, in order, until the
/// first order that is not armed: from there on, to keep the trigger's order of
/// sending, the rest is handed back for the caller to send. Per order: True (sent),
/// the exception its sender raised, the rendered bytes (not sent) or None (not armed).
fn fire_orders<'py>(
    py: Python<'py>,
    orders: &[Option<(Py<ArmedOrder>, Py<PyAny>)>],
    now: i64,
    scratch: &mut Vec<u8>,
) -> PyResult<Bound<'py, PyList>> {
    let mut sending = true;
    let mut results = Vec::with_capacity(orders.len());
    for order in orders {
        let Some((armed, sender)) = order else {
            sending = false;
            results.push(py.None().into_bound(py));
            continue;
        };
        scratch.clear();
        armed.get().inner.render(now, scratch);
        let data = PyBytes::new(py, scratch);
        if !sending {
            results.push(data.into_any());
            continue;
        }
        results.push(match sender.bind(py).call1((data,)) {
            Ok(_) => PyBool::new(py, true).to_owned().into_any(),
            Err(err) => err.into_value(py).into_bound(py).into_any(),
        });
    }
    PyList::new(py, results)
}

/// Price triggers of one (exchange, symbol). An UP trigger fires on a buy-aggressor
/// trade at a price >= its level, a DOWN trigger on a sell-aggressor trade at a price
/// <= its level; each carries pre-encoded bytes, or armed orders rendered when it
/// fires.
#[pyclass(module = "ems._core")]
pub struct TriggerIndex {
    inner: RawIndex<Payload>,
    fired: Vec<(u64, Payload)>,
    scratch: Vec<u8>,
}

#[pymethods]
impl TriggerIndex {
    #[new]
    fn new() -> Self {
        TriggerIndex {
            inner: RawIndex::new(),
            fired: Vec::new(),
            scratch: Vec::with_capacity(1024),
        }
    }

    /// Adds a trigger: `direction` UP or DOWN, `level` in ticks, `payload` the bytes to
    /// return when it fires. Raises ValueError if the id is already present.
    fn add(
        &mut self,
        trigger_id: u64,
        direction: i8,
        level: i64,
        payload: Py<PyBytes>,
    ) -> PyResult<()> {
        self.insert(trigger_id, direction, level, Payload::Bytes(payload))
    }

    /// Adds a trigger whose payload is its orders: each a pair (ArmedOrder, send), or
    /// None for an order sent another way. When the trigger fires, each armed order is
    /// rendered with the time of the trade and `send(request_bytes)` is called at once,
    /// in the orders' sequence (see `on_trade` for what comes back).
    fn arm(
        &mut self,
        trigger_id: u64,
        direction: i8,
        level: i64,
        orders: Vec<Option<(Py<ArmedOrder>, Py<PyAny>)>>,
    ) -> PyResult<()> {
        self.insert(trigger_id, direction, level, Payload::Orders(orders))
    }

    /// Removes a trigger; returns its payload (bytes, or the list given to `arm`), or
    /// None if it was not present.
    fn remove<'py>(
        &mut self,
        py: Python<'py>,
        trigger_id: u64,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner
            .remove(trigger_id)
            .map(|p| p.into_py(py))
            .transpose()
    }

    /// Fires every trigger a trade at `price` (ticks) by `aggressor_side` (BUY or SELL)
    /// crosses, removing them. Returns [(trigger_id, payload), ...] in the order the
    /// price crossed them, or None when nothing fires.
    ///
    /// An armed trigger's orders are sent from here, one `send` call each, as they are
    /// rendered; its payload is then one result per order: True (sent), the exception
    /// `send` raised, or, from the first order that `arm` was given None for onwards,
    /// None (not armed) or the rendered bytes (armed but not sent, so that the caller
    /// sends the trigger's orders in their sequence).
    fn on_trade<'py>(
        slf: &Bound<'py, Self>,
        price: i64,
        aggressor_side: i8,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        let py = slf.py();
        if aggressor_side != 1 && aggressor_side != -1 {
            return Err(PyValueError::new_err(
                "aggressor_side must be BUY (1) or SELL (-1)",
            ));
        }
        // The index is released before any order is sent: a sender may set or clear
        // triggers of this very index.
        let (mut fired, mut scratch) = {
            let mut this = slf.borrow_mut();
            if !this.inner.would_fire(price, aggressor_side) {
                return Ok(None);
            }
            let mut fired = std::mem::take(&mut this.fired);
            fired.clear();
            this.inner.on_trade(price, aggressor_side, &mut fired);
            (fired, std::mem::take(&mut this.scratch))
        };
        let mut now_ms = None;
        let mut items = Vec::with_capacity(fired.len());
        let mut outcome = Ok(());
        for (id, payload) in fired.drain(..) {
            let handed = match payload {
                Payload::Bytes(b) => Ok(b.into_bound(py).into_any()),
                Payload::Orders(orders) => {
                    let now = *now_ms.get_or_insert_with(epoch_ms);
                    fire_orders(py, &orders, now, &mut scratch).map(Bound::into_any)
                }
            };
            match handed.and_then(|h| PyTuple::new(py, [id.into_pyobject(py)?.into_any(), h])) {
                Ok(item) => items.push(item),
                Err(err) => {
                    // Only a failed allocation gets here; the triggers are gone from
                    // the index either way, so say so rather than lose them quietly.
                    outcome = Err(err);
                }
            }
        }
        {
            let mut this = slf.borrow_mut();
            this.fired = fired;
            this.scratch = scratch;
        }
        outcome?;
        Ok(Some(PyList::new(py, items)?))
    }

    /// True if a trade at `price` by `aggressor_side` would fire anything.
    fn would_fire(&self, price: i64, aggressor_side: i8) -> bool {
        self.inner.would_fire(price, aggressor_side)
    }

    /// (nearest UP level, nearest DOWN level); None where a direction is empty.
    fn next_levels(&self) -> (Option<i64>, Option<i64>) {
        self.inner.next_levels()
    }

    fn __contains__(&self, trigger_id: u64) -> bool {
        self.inner.contains(trigger_id)
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

impl TriggerIndex {
    fn insert(
        &mut self,
        trigger_id: u64,
        direction: i8,
        level: i64,
        payload: Payload,
    ) -> PyResult<()> {
        if direction != 1 && direction != -1 {
            return Err(PyValueError::new_err(
                "direction must be UP (1) or DOWN (-1)",
            ));
        }
        if self.inner.add(trigger_id, direction, level, payload) {
            Ok(())
        } else {
            Err(PyValueError::new_err(format!(
                "trigger {trigger_id} already exists or level is out of range"
            )))
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TriggerIndex>()?;
    m.add_class::<ArmedOrder>()?;
    m.add("UP", 1)?;
    m.add("DOWN", -1)?;
    Ok(())
}
