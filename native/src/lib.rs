//! `ems._core`: the compiled hot path of ems.
//!
//! Every function here takes bytes or numbers and returns bytes, strings or numbers; no
//! Rust panic is allowed to reach Python, and malformed input raises `ValueError`
//! (or a subclass) that names what was wrong and where; decode errors carry the byte
//! position as an `offset` attribute.
//!
//! Namespace: flat. Everything is imported from `ems._core` (`from ems._core import
//! OrderBook, TriggerIndex, FixSession`). Submodules would need entries in
//! `sys.modules` for `import ems._core.book` to work, and they would give a second
//! spelling for every name; the Rust modules below keep the kernels apart instead.
//!
//! Kernels: `book` (L2 book with venue sequence rules), `venues` + `json` (frame
//! scanners), `trigger` (trigger index), `fix` (FIX 4.4 codec), `cancel` (batch-cancel
//! builder), `sign` (HMAC), `fixed` (decimal grids); `fuzzing` holds the fuzz entry points.

pub mod armed;
pub mod book;
pub mod cancel;
pub mod crc32;
pub mod fix;
pub mod fixed;
pub mod fuzzing;
pub mod json;
pub mod risk;
pub mod sign;
#[cfg(test)]
mod testrng;
pub mod trigger;
pub mod venues;

mod py;
mod py_cancel;
mod py_fix;
mod py_md;
mod py_risk;
mod py_trigger;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    py::register(m)
}
