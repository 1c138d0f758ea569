//! Python bindings for the FIX 4.4 codec.

use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyList, PyString, PyTuple};

use crate::fix::{self, Encoder, FieldCheck, FieldRef, FixError};
use crate::py::DecodeError;

fn fix_err(e: FixError) -> PyErr {
    let pyerr = DecodeError::new_err(e.to_string());
    Python::attach(|py| {
        let _ = pyerr.value(py).setattr("offset", e.pos);
    });
    pyerr
}

/// Refuses a header value that would corrupt the framing (empty, or holding SOH).
fn check_header(what: &str, value: &[u8]) -> PyResult<()> {
    fix::check_header_value(value).map_err(|why| PyValueError::new_err(format!("{what}: {why}")))
}

/// Checks each field against what the decoder accepts: data fields (RawData and
/// friends, `fix::DATA_FIELDS`) may hold SOH and must follow their length field with the
/// exact size; in every other value an SOH would end the field early.
fn check_field(check: &mut FieldCheck, tag: u32, value: &[u8]) -> PyResult<()> {
    check
        .field(tag, value)
        .map_err(|why| PyValueError::new_err(format!("tag {tag}: {why}")))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One FIX session's encoder: BeginString, SenderCompID and TargetCompID are written
/// once; each call writes BodyLength(9) and CheckSum(10).
#[pyclass(module = "ems._core")]
pub struct FixSession {
    enc: Encoder,
    out: Vec<u8>,
}

impl FixSession {
    fn start(&mut self, msg_type: &[u8], seq_num: u64, sending_time: Option<&str>) -> PyResult<()> {
        check_header("MsgType (35)", msg_type)?;
        match sending_time {
            Some(t) => {
                check_header("SendingTime (52)", t.as_bytes())?;
                self.enc.begin(msg_type, seq_num, t.as_bytes());
            }
            None => self
                .enc
                .begin(msg_type, seq_num, &fix::utc_timestamp(now_ms())),
        }
        Ok(())
    }

    fn done<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        if self.enc.body_len() > fix::MAX_BODY_LENGTH {
            return Err(PyValueError::new_err(format!(
                "message body of {} bytes exceeds BodyLength's 7 digits",
                self.enc.body_len()
            )));
        }
        self.enc.finish(&mut self.out);
        Ok(PyBytes::new(py, &self.out))
    }
}

#[pymethods]
impl FixSession {
    #[new]
    #[pyo3(signature = (sender, target, begin_string = "FIX.4.4"))]
    fn new(sender: &str, target: &str, begin_string: &str) -> PyResult<Self> {
        check_header("SenderCompID (49)", sender.as_bytes())?;
        check_header("TargetCompID (56)", target.as_bytes())?;
        check_header("BeginString (8)", begin_string.as_bytes())?;
        Ok(FixSession {
            enc: Encoder::new(
                begin_string.as_bytes(),
                sender.as_bytes(),
                target.as_bytes(),
            ),
            out: Vec::with_capacity(256),
        })
    }

    /// Any message: `fields` are (tag, value) after the standard header, value str,
    /// bytes or int. `sending_time` defaults to now (UTC, ms).
    #[pyo3(signature = (msg_type, seq_num, fields, sending_time = None))]
    fn encode<'py>(
        &mut self,
        py: Python<'py>,
        msg_type: &str,
        seq_num: u64,
        fields: &Bound<'py, PyAny>,
        sending_time: Option<&str>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        self.start(msg_type.as_bytes(), seq_num, sending_time)?;
        let mut check = FieldCheck::default();
        let mut tmp = Vec::with_capacity(20);
        for item in fields.try_iter()? {
            let item = item?;
            let pair = item
                .cast::<PyTuple>()
                .map_err(|_| PyValueError::new_err("fields must be (tag, value) tuples"))?;
            if pair.len() != 2 {
                return Err(PyValueError::new_err("fields must be (tag, value) tuples"));
            }
            let tag: u32 = pair.get_item(0)?.extract()?;
            let value = pair.get_item(1)?;
            if let Ok(s) = value.cast::<PyString>() {
                let v = s.to_str()?.as_bytes();
                check_field(&mut check, tag, v)?;
                self.enc.field(tag, v);
            } else if let Ok(b) = value.cast::<PyBytes>() {
                check_field(&mut check, tag, b.as_bytes())?;
                self.enc.field(tag, b.as_bytes());
            } else if value.is_instance_of::<PyInt>() {
                let v: i64 = value.extract()?;
                tmp.clear();
                if v < 0 {
                    tmp.push(b'-');
                }
                fix::push_u64(&mut tmp, v.unsigned_abs());
                check_field(&mut check, tag, &tmp)?;
                self.enc.field(tag, &tmp);
            } else {
                return Err(PyValueError::new_err(format!(
                    "tag {tag}: value must be str, bytes or int"
                )));
            }
        }
        self.done(py)
    }

    /// NewOrderSingle (35=D): 11, 55, 54 (BUY -> 1, SELL -> 2), 38, 40, then 44, 59 and
    /// 18 when given. `qty` and `price` are exact decimal text (see Grid.format).
    #[pyo3(signature = (seq_num, cl_ord_id, symbol, side, qty, price = None, ord_type = "2", time_in_force = None, exec_inst = None, sending_time = None))]
    #[allow(clippy::too_many_arguments)]
    fn new_order_single<'py>(
        &mut self,
        py: Python<'py>,
        seq_num: u64,
        cl_ord_id: &str,
        symbol: &str,
        side: i8,
        qty: &str,
        price: Option<&str>,
        ord_type: &str,
        time_in_force: Option<&str>,
        exec_inst: Option<&str>,
        sending_time: Option<&str>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let side = match side {
            1 => b"1",
            -1 => b"2",
            _ => return Err(PyValueError::new_err("side must be BUY (1) or SELL (-1)")),
        };
        for (tag, v) in [
            (11, Some(cl_ord_id)),
            (55, Some(symbol)),
            (38, Some(qty)),
            (40, Some(ord_type)),
            (44, price),
            (59, time_in_force),
            (18, exec_inst),
        ] {
            if let Some(v) = v {
                check_field(&mut FieldCheck::default(), tag, v.as_bytes())?;
            }
        }
        self.start(b"D", seq_num, sending_time)?;
        self.enc.field(11, cl_ord_id.as_bytes());
        self.enc.field(55, symbol.as_bytes());
        self.enc.field(54, side);
        self.enc.field(38, qty.as_bytes());
        self.enc.field(40, ord_type.as_bytes());
        if let Some(p) = price {
            self.enc.field(44, p.as_bytes());
        }
        if let Some(t) = time_in_force {
            self.enc.field(59, t.as_bytes());
        }
        if let Some(e) = exec_inst {
            self.enc.field(18, e.as_bytes());
        }
        self.done(py)
    }

    /// OrderCancelRequest (35=F) by the venue's order id (41) and symbol (55).
    #[pyo3(signature = (seq_num, orig_cl_ord_id, symbol, cl_ord_id = None, sending_time = None))]
    fn order_cancel_request<'py>(
        &mut self,
        py: Python<'py>,
        seq_num: u64,
        orig_cl_ord_id: &str,
        symbol: &str,
        cl_ord_id: Option<&str>,
        sending_time: Option<&str>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        for (tag, v) in [
            (41, Some(orig_cl_ord_id)),
            (55, Some(symbol)),
            (11, cl_ord_id),
        ] {
            if let Some(v) = v {
                check_field(&mut FieldCheck::default(), tag, v.as_bytes())?;
            }
        }
        self.start(b"F", seq_num, sending_time)?;
        self.enc.field(41, orig_cl_ord_id.as_bytes());
        if let Some(c) = cl_ord_id {
            self.enc.field(11, c.as_bytes());
        }
        self.enc.field(55, symbol.as_bytes());
        self.done(py)
    }
}

/// A validated FIX message; values are read from the original bytes by tag.
#[pyclass(frozen, module = "ems._core")]
pub struct FixMessage {
    frame: Py<PyBytes>,
    fields: Vec<FieldRef>,
    length: usize,
}

impl FixMessage {
    fn find(&self, tag: u32) -> Option<FieldRef> {
        self.fields.iter().find(|f| f.tag == tag).copied()
    }

    fn slice<'a>(&self, buf: &'a [u8], f: FieldRef) -> &'a [u8] {
        &buf[f.start as usize..f.end as usize]
    }
}

#[pymethods]
impl FixMessage {
    /// Value of the first field with `tag`, or None.
    fn get<'py>(&self, py: Python<'py>, tag: u32) -> Option<Bound<'py, PyBytes>> {
        let f = self.find(tag)?;
        Some(PyBytes::new(
            py,
            self.slice(self.frame.bind(py).as_bytes(), f),
        ))
    }

    /// Value of the first field with `tag` as text, or None.
    fn get_str<'py>(&self, py: Python<'py>, tag: u32) -> PyResult<Option<Bound<'py, PyString>>> {
        let Some(f) = self.find(tag) else {
            return Ok(None);
        };
        let raw = self.slice(self.frame.bind(py).as_bytes(), f);
        let text = std::str::from_utf8(raw).map_err(|e| {
            fix_err(FixError {
                pos: f.start as usize + e.valid_up_to(),
                what: "invalid UTF-8",
            })
        })?;
        Ok(Some(PyString::new(py, text)))
    }

    /// Value of the first field with `tag` as an integer, or None.
    fn get_int(&self, py: Python<'_>, tag: u32) -> PyResult<Option<i64>> {
        let Some(f) = self.find(tag) else {
            return Ok(None);
        };
        let raw = self.slice(self.frame.bind(py).as_bytes(), f);
        crate::json::parse_i64(raw, f.start as usize)
            .map(Some)
            .map_err(|_| {
                fix_err(FixError {
                    pos: f.start as usize,
                    what: "not an integer",
                })
            })
    }

    /// Values of several tags at once (None where absent).
    fn get_many<'py>(&self, py: Python<'py>, tags: Vec<u32>) -> Vec<Option<Bound<'py, PyBytes>>> {
        tags.into_iter().map(|t| self.get(py, t)).collect()
    }

    /// MsgType (35).
    #[getter]
    fn msg_type<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyString>> {
        Ok(self
            .get_str(py, 35)?
            .unwrap_or_else(|| PyString::new(py, "")))
    }

    /// MsgSeqNum (34), or None.
    #[getter]
    fn seq_num(&self, py: Python<'_>) -> PyResult<Option<i64>> {
        self.get_int(py, 34)
    }

    /// Bytes the message occupies in the input (the input may hold more after it).
    #[getter]
    fn length(&self) -> usize {
        self.length
    }

    /// Every field in order as (tag, value), CheckSum excluded.
    fn fields<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let buf = self.frame.bind(py).as_bytes();
        let items = self
            .fields
            .iter()
            .map(|f| (f.tag, PyBytes::new(py, self.slice(buf, *f))))
            .collect::<Vec<_>>();
        PyList::new(py, items)
    }

    /// The instances of a repeating group: `count_tag` is its NumInGroup, `members` its
    /// tags with the delimiter first. Raises DecodeError if the count does not match.
    fn group<'py>(
        &self,
        py: Python<'py>,
        count_tag: u32,
        members: Vec<u32>,
    ) -> PyResult<Bound<'py, PyList>> {
        let buf = self.frame.bind(py).as_bytes();
        let ranges = fix::group(&self.fields, buf, count_tag, &members).map_err(fix_err)?;
        let out = PyList::empty(py);
        for r in ranges {
            let inst = self.fields[r]
                .iter()
                .map(|f| (f.tag, PyBytes::new(py, self.slice(buf, *f))))
                .collect::<Vec<_>>();
            out.append(PyList::new(py, inst)?)?;
        }
        Ok(out)
    }

    fn __contains__(&self, tag: u32) -> bool {
        self.find(tag).is_some()
    }

    fn __len__(&self) -> usize {
        self.fields.len()
    }
}

/// Validates and indexes the FIX message at the start of `data` (BodyLength and
/// CheckSum checked); raises DecodeError naming the offset.
#[pyfunction]
fn fix_decode(data: &Bound<'_, PyBytes>) -> PyResult<FixMessage> {
    let mut fields = Vec::with_capacity(24);
    let length = fix::decode(data.as_bytes(), &mut fields).map_err(fix_err)?;
    Ok(FixMessage {
        frame: data.clone().unbind(),
        fields,
        length,
    })
}

/// Length of the first complete message in a stream buffer, or None if incomplete.
#[pyfunction]
fn fix_frame_length(data: &[u8]) -> PyResult<Option<usize>> {
    fix::frame_length(data).map_err(fix_err)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FixSession>()?;
    m.add_class::<FixMessage>()?;
    m.add_function(wrap_pyfunction!(fix_decode, m)?)?;
    m.add_function(wrap_pyfunction!(fix_frame_length, m)?)?;
    Ok(())
}
