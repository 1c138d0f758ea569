//! Python binding for the batch-cancel builder.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::cancel::{BatchCancel, CancelError};

fn cancel_err(e: CancelError) -> PyErr {
    match e {
        CancelError::BadOrderId => {
            PyValueError::new_err("order ids must be 1 to 32 ASCII letters or digits")
        }
        CancelError::BadRequestPrefix => {
            PyValueError::new_err("request_prefix must be at most 12 ASCII letters or digits")
        }
    }
}

/// One session's working orders on one OKX instrument, with the `batch-cancel-orders`
/// WebSocket messages (20 orders each) kept serialised as Python bytes after every
/// insert and remove, so that `pull()` only hands out ready objects.
#[pyclass(module = "ems._core")]
pub struct OkxBatchCancel {
    inner: BatchCancel,
    ready: Vec<Py<PyBytes>>,
}

impl OkxBatchCancel {
    fn sync_ready(&mut self, py: Python<'_>) {
        self.ready.truncate(self.inner.chunk_count());
        for &c in &self.inner.touched {
            let frame = PyBytes::new(py, self.inner.frame(c)).unbind();
            if c < self.ready.len() {
                self.ready[c] = frame;
            } else {
                self.ready.push(frame);
            }
        }
    }
}

#[pymethods]
impl OkxBatchCancel {
    /// Give `inst_id` ("BTC-USDT") or, after OKX's 2026 change, `inst_id_code` (10459).
    /// `by` is "ordId" or "clOrdId"; request ids are `request_prefix` + a counter.
    #[new]
    #[pyo3(signature = (inst_id = None, inst_id_code = None, by = "ordId", request_prefix = "bc"))]
    fn new(
        inst_id: Option<&str>,
        inst_id_code: Option<i64>,
        by: &str,
        request_prefix: &str,
    ) -> PyResult<Self> {
        let instrument = match (inst_id, inst_id_code) {
            (Some(id), None) => {
                if id.is_empty()
                    || !id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(PyValueError::new_err(
                        "inst_id must be letters, digits, '-' or '_'",
                    ));
                }
                format!("\"instId\":\"{id}\"")
            }
            (None, Some(code)) => format!("\"instIdCode\":{code}"),
            _ => {
                return Err(PyValueError::new_err(
                    "give exactly one of inst_id and inst_id_code",
                ))
            }
        };
        if by != "ordId" && by != "clOrdId" {
            return Err(PyValueError::new_err("by must be \"ordId\" or \"clOrdId\""));
        }
        let inner = BatchCancel::new(&instrument, by, request_prefix).map_err(cancel_err)?;
        Ok(OkxBatchCancel {
            inner,
            ready: Vec::new(),
        })
    }

    /// Adds a working order; False if it was already there.
    fn insert(&mut self, py: Python<'_>, order_id: &str) -> PyResult<bool> {
        let added = self.inner.insert(order_id).map_err(cancel_err)?;
        self.sync_ready(py);
        Ok(added)
    }

    /// Removes an order that is no longer working; False if it was not there.
    fn remove(&mut self, py: Python<'_>, order_id: &str) -> bool {
        let removed = self.inner.remove(order_id);
        self.sync_ready(py);
        removed
    }

    /// The ready messages that cancel every working order (no encoding happens here).
    /// The orders stay in the set until `remove` is called for each confirmed cancel.
    fn pull<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.ready.iter().map(|b| b.bind(py)))
    }

    /// Forgets every order.
    fn clear(&mut self) {
        self.inner.clear();
        self.ready.clear();
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __contains__(&self, order_id: &str) -> bool {
        self.inner.contains(order_id)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<OkxBatchCancel>()?;
    m.add("OKX_BATCH_CANCEL_MAX", crate::cancel::OKX_BATCH)?;
    Ok(())
}
