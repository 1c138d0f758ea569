//! `ems._core`: the compiled hot path of ems.
//!
//! Every function here takes bytes or numbers and returns bytes, strings or numbers; no
//! Rust panic is allowed to reach Python, and malformed input raises `ValueError`
//! (or a subclass) that names what was wrong and where.

pub mod book;
pub mod cancel;
pub mod crc32;
pub mod fix;
pub mod fixed;
pub mod fuzzing;
pub mod json;
pub mod sign;
#[cfg(test)]
mod testrng;
pub mod trigger;
pub mod venues;

mod py;
mod py_cancel;
mod py_fix;
mod py_md;
mod py_trigger;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    py::register(m)
}
