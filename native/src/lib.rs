//! `ems._core`: the compiled hot path of ems.
//!
//! Every function here takes bytes or numbers and returns bytes, strings or numbers; no
//! Rust panic is allowed to reach Python, and malformed input raises `ValueError`
//! (or a subclass) that names what was wrong and where.

pub mod fixed;
pub mod sign;

mod py;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    py::register(m)
}
