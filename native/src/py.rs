//! Python bindings for the kernels.

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::fixed::{Decimal, FixedError, Grid as RawGrid};
use crate::sign::{self, Signer};

create_exception!(
    _core,
    OffGridError,
    PyValueError,
    "A value that is not a whole number of grid steps."
);
create_exception!(
    _core,
    DecodeError,
    PyValueError,
    "Bytes that could not be decoded."
);

pub fn fixed_err(err: FixedError) -> PyErr {
    match err {
        FixedError::OffGrid => OffGridError::new_err(err.to_string()),
        FixedError::Malformed { pos } => {
            let e = DecodeError::new_err(err.to_string());
            // Every DecodeError names the offending byte, as the scanners' do.
            Python::attach(|py| {
                let _ = e.value(py).setattr("offset", pos);
            });
            e
        }
        _ => PyValueError::new_err(err.to_string()),
    }
}

/// Reads a Python float, int or decimal string as an exact decimal.
fn decimal_of(value: &Bound<'_, PyAny>) -> PyResult<Decimal> {
    if let Ok(text) = value.extract::<&str>() {
        return Decimal::parse(text.as_bytes()).map_err(fixed_err);
    }
    if let Ok(int) = value.extract::<i64>() {
        return Ok(Decimal {
            mantissa: i128::from(int),
            scale: 0,
        });
    }
    let float: f64 = value.extract()?;
    Decimal::from_f64(float).map_err(fixed_err)
}

/// A venue price tick or quantity step. Values are integer counts of the step.
#[pyclass(frozen, module = "ems._core")]
pub struct Grid {
    raw: RawGrid,
    text: String,
}

#[pymethods]
impl Grid {
    /// Builds a grid from the venue's step text, e.g. `Grid("0.01000000")`.
    #[new]
    fn new(step: &str) -> PyResult<Self> {
        let raw = RawGrid::parse(step.as_bytes()).map_err(fixed_err)?;
        let text = raw.format(1).map_err(fixed_err)?;
        Ok(Grid { raw, text })
    }

    /// The step as canonical decimal text.
    #[getter]
    fn step(&self) -> &str {
        &self.text
    }

    /// Fractional digits of the step.
    #[getter]
    fn decimals(&self) -> u32 {
        self.raw.scale
    }

    /// Whole steps in `value` (float, int or decimal text); raises `OffGridError` if the
    /// value is not exactly on the grid.
    fn units(&self, value: &Bound<'_, PyAny>) -> PyResult<i64> {
        self.raw.units(decimal_of(value)?).map_err(fixed_err)
    }

    /// Whole steps in `value`, rounded toward zero.
    fn units_floor(&self, value: &Bound<'_, PyAny>) -> PyResult<i64> {
        self.raw.units_floor(decimal_of(value)?).map_err(fixed_err)
    }

    /// Exact decimal text of `units` steps, without trailing zeros; ValueError if the
    /// value is beyond the exact range (only with steps of more than 19 digits).
    fn format(&self, units: i64) -> PyResult<String> {
        self.raw.format(units).map_err(fixed_err)
    }

    /// The double nearest to `units` steps.
    fn value(&self, units: i64) -> f64 {
        self.raw.to_f64(units)
    }

    fn __repr__(&self) -> String {
        format!("Grid({:?})", self.text)
    }
}

/// HMAC-SHA256 keyed once; each call costs one clone of the prepared state.
#[pyclass(frozen, module = "ems._core")]
pub struct HmacSha256 {
    signer: Signer,
}

#[pymethods]
impl HmacSha256 {
    #[new]
    fn new(secret: &[u8]) -> Self {
        HmacSha256 {
            signer: Signer::new(secret),
        }
    }

    /// Lower-case hex tag of `payload`.
    fn hex(&self, payload: &[u8]) -> String {
        sign::to_hex(&self.signer.digest(payload))
    }

    /// Base64 tag of `payload`.
    fn base64(&self, payload: &[u8]) -> String {
        sign::to_base64(&self.signer.digest(payload))
    }

    /// Raw 32-byte tag of `payload`.
    fn digest<'py>(&self, py: Python<'py>, payload: &[u8]) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.signer.digest(payload))
    }

    fn __repr__(&self) -> &'static str {
        // The key is never shown.
        "HmacSha256(<secret>)"
    }
}

/// Base64 of the SHA-256 digest of `data`.
#[pyfunction]
fn sha256_base64(data: &[u8]) -> String {
    sign::to_base64(&sign::sha256(data))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Grid>()?;
    m.add_class::<HmacSha256>()?;
    m.add_function(wrap_pyfunction!(sha256_base64, m)?)?;
    m.add("OffGridError", m.py().get_type::<OffGridError>())?;
    m.add("DecodeError", m.py().get_type::<DecodeError>())?;
    crate::py_md::register(m)?;
    crate::py_trigger::register(m)?;
    crate::py_fix::register(m)?;
    crate::py_cancel::register(m)?;
    crate::py_risk::register(m)?;
    Ok(())
}
