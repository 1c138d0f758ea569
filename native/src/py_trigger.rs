//! Python binding for the trigger index.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::trigger::TriggerIndex as RawIndex;

/// Price triggers of one (exchange, symbol). An UP trigger fires on a buy-aggressor
/// trade at a price >= its level, a DOWN trigger on a sell-aggressor trade at a price
/// <= its level; each carries pre-encoded bytes handed back when it fires.
#[pyclass(module = "ems._core")]
pub struct TriggerIndex {
    inner: RawIndex<Py<PyBytes>>,
    fired: Vec<(u64, Py<PyBytes>)>,
}

#[pymethods]
impl TriggerIndex {
    #[new]
    fn new() -> Self {
        TriggerIndex {
            inner: RawIndex::new(),
            fired: Vec::new(),
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

    /// Removes a trigger; returns its payload, or None if it was not present.
    fn remove(&mut self, trigger_id: u64) -> Option<Py<PyBytes>> {
        self.inner.remove(trigger_id)
    }

    /// Fires every trigger a trade at `price` (ticks) by `aggressor_side` (BUY or SELL)
    /// crosses, removing them. Returns [(trigger_id, payload), ...] in the order the
    /// price crossed them, or None when nothing fires.
    fn on_trade<'py>(
        &mut self,
        py: Python<'py>,
        price: i64,
        aggressor_side: i8,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        if aggressor_side != 1 && aggressor_side != -1 {
            return Err(PyValueError::new_err(
                "aggressor_side must be BUY (1) or SELL (-1)",
            ));
        }
        if !self.inner.would_fire(price, aggressor_side) {
            return Ok(None);
        }
        self.fired.clear();
        self.inner.on_trade(price, aggressor_side, &mut self.fired);
        let items = self
            .fired
            .drain(..)
            .map(|(id, payload)| {
                PyTuple::new(
                    py,
                    [
                        id.into_pyobject(py)?.into_any(),
                        payload.into_bound(py).into_any(),
                    ],
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TriggerIndex>()?;
    m.add("UP", 1)?;
    m.add("DOWN", -1)?;
    Ok(())
}
