//! A byte-level JSON scanner for venue frames.
//!
//! Venue messages have a known shape, so the hot path never builds a value tree: a
//! cursor walks the bytes once, hands back spans of the fields it was asked for and
//! skips everything else while still checking that the skipped bytes are well-formed.
//! Every error carries the byte offset where the input stopped making sense.

use std::fmt;

use crate::fixed::{Decimal, FixedError, Grid};

/// Why a frame could not be scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// The bytes are not the JSON (or the shape) expected; `pos` is the offending byte.
    Malformed { pos: usize, what: &'static str },
    /// A required field is absent from the object that ends at `pos`.
    Missing { pos: usize, field: &'static str },
    /// A price or quantity at `pos` is not a whole number of grid steps.
    OffGrid { pos: usize },
    /// A number at `pos` does not fit the fixed-point range.
    Overflow { pos: usize },
}

impl ScanError {
    /// Byte offset of the problem in the input.
    pub fn pos(&self) -> usize {
        match *self {
            ScanError::Malformed { pos, .. }
            | ScanError::Missing { pos, .. }
            | ScanError::OffGrid { pos }
            | ScanError::Overflow { pos } => pos,
        }
    }
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanError::Malformed { pos, what } => {
                write!(f, "malformed input at byte {pos}: {what}")
            }
            ScanError::Missing { pos, field } => {
                write!(f, "field {field:?} missing in object ending at byte {pos}")
            }
            ScanError::OffGrid { pos } => {
                write!(f, "value at byte {pos} is not a multiple of the grid step")
            }
            ScanError::Overflow { pos } => write!(f, "number at byte {pos} is out of range"),
        }
    }
}

pub type Result<T> = std::result::Result<T, ScanError>;

/// A span of the input: `start..end` byte offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn of<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start as usize..self.end as usize]
    }
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// Bytes that end the fast scan of a string: quote, backslash and control bytes.
static STRING_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// A position in a frame being scanned.
pub struct Cursor<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

#[inline]
fn malformed<T>(pos: usize, what: &'static str) -> Result<T> {
    Err(ScanError::Malformed { pos, what })
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf, pos: 0 }
    }

    #[inline]
    pub fn ws(&mut self) {
        while let Some(&c) = self.buf.get(self.pos) {
            if c == b' ' || c == b'\n' || c == b'\r' || c == b'\t' {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.buf.get(self.pos).copied()
    }

    #[inline]
    pub fn expect(&mut self, c: u8, what: &'static str) -> Result<()> {
        self.ws();
        if self.buf.get(self.pos) == Some(&c) {
            self.pos += 1;
            Ok(())
        } else {
            malformed(self.pos, what)
        }
    }

    /// Consumes `c` if it is next; tells whether it was.
    #[inline]
    pub fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.buf.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// A string's raw content (escapes kept) after the opening quote has been seen.
    /// The second value tells whether the content holds any escape.
    #[inline]
    pub fn string(&mut self) -> Result<(Span, bool)> {
        self.ws();
        let b = self.buf;
        let mut i = self.pos;
        if b.get(i) != Some(&b'"') {
            return malformed(i, "expected a string");
        }
        i += 1;
        let start = i;
        // Plain bytes need one table look-up each; quotes, escapes and control bytes
        // leave the loop.
        while let Some(&c) = b.get(i) {
            if STRING_SPECIAL[c as usize] {
                break;
            }
            i += 1;
        }
        if b.get(i) == Some(&b'"') {
            self.pos = i + 1;
            return Ok((
                Span {
                    start: start as u32,
                    end: i as u32,
                },
                false,
            ));
        }
        self.pos = i;
        self.string_slow(start)
    }

    #[cold]
    fn string_slow(&mut self, start: usize) -> Result<(Span, bool)> {
        let mut escaped = false;
        loop {
            match self.buf.get(self.pos) {
                Some(b'"') => {
                    let span = Span {
                        start: start as u32,
                        end: self.pos as u32,
                    };
                    self.pos += 1;
                    return Ok((span, escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    match self.buf.get(self.pos + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 2;
                        }
                        Some(b'u') => {
                            let hex = self.buf.get(self.pos + 2..self.pos + 6);
                            match hex {
                                Some(h) if h.iter().all(u8::is_ascii_hexdigit) => self.pos += 6,
                                _ => return malformed(self.pos, "bad \\u escape"),
                            }
                        }
                        _ => return malformed(self.pos, "bad escape"),
                    }
                }
                Some(&c) if c < 0x20 => return malformed(self.pos, "control byte in string"),
                Some(_) => self.pos += 1,
                None => return malformed(self.pos, "unterminated string"),
            }
        }
    }

    /// The raw text of a JSON number.
    #[inline]
    pub fn number(&mut self) -> Result<Span> {
        self.ws();
        let start = self.pos;
        let b = self.buf;
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        let int_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == int_start {
            return malformed(i, "expected a number");
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            let f = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == f {
                return malformed(i, "digit expected after '.'");
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let e = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == e {
                return malformed(i, "digit expected in exponent");
            }
        }
        self.pos = i;
        Ok(Span {
            start: start as u32,
            end: i as u32,
        })
    }

    /// A JSON integer as i64.
    #[inline]
    pub fn int(&mut self) -> Result<i64> {
        self.ws();
        let b = self.buf;
        let start = self.pos;
        let mut i = start;
        let neg = b.get(i) == Some(&b'-');
        if neg {
            i += 1;
        }
        let first = i;
        let mut v: u64 = 0;
        // Millisecond times and ids have 8 digits or more: take 8 in one word.
        if let Some(x) = eight_digits(b, i) {
            v = swar_value(x, 8);
            i += 8;
        }
        while let Some(&c) = b.get(i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            v = v.wrapping_mul(10).wrapping_add(u64::from(d));
            i += 1;
            if i - first > 18 {
                // Too many digits for the fast path: check exactly.
                let span = self.number()?;
                return parse_i64(span.of(b), start);
            }
        }
        if i == first || matches!(b.get(i), Some(b'.' | b'e' | b'E')) {
            return malformed(i, "expected an integer");
        }
        self.pos = i;
        let v = v as i64;
        Ok(if neg { -v } else { v })
    }

    /// An integer given either as a JSON number or as a string of digits (OKX sends ids,
    /// times and sequence numbers as strings).
    #[inline]
    pub fn int_or_string(&mut self) -> Result<i64> {
        if self.peek() == Some(b'"') {
            let at = self.pos + 1;
            let (span, _) = self.string()?;
            parse_i64(span.of(self.buf), at)
        } else {
            self.int()
        }
    }

    /// `true` or `false`.
    #[inline]
    pub fn boolean(&mut self) -> Result<bool> {
        self.ws();
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        if rest.starts_with(b"true") {
            self.pos += 4;
            Ok(true)
        } else if rest.starts_with(b"false") {
            self.pos += 5;
            Ok(false)
        } else {
            malformed(self.pos, "expected true or false")
        }
    }

    /// Skips any value, checking its syntax. Nesting depth is bounded to keep the stack
    /// small on hostile input.
    pub fn skip(&mut self) -> Result<()> {
        self.skip_depth(0)
    }

    fn skip_depth(&mut self, depth: u32) -> Result<()> {
        if depth > 64 {
            return malformed(self.pos, "nesting too deep");
        }
        match self.peek() {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'{') => {
                self.pos += 1;
                if self.eat(b'}') {
                    return Ok(());
                }
                loop {
                    self.string()?;
                    self.expect(b':', "expected ':'")?;
                    self.skip_depth(depth + 1)?;
                    if self.eat(b',') {
                        continue;
                    }
                    return self.expect(b'}', "expected ',' or '}'");
                }
            }
            Some(b'[') => {
                self.pos += 1;
                if self.eat(b']') {
                    return Ok(());
                }
                loop {
                    self.skip_depth(depth + 1)?;
                    if self.eat(b',') {
                        continue;
                    }
                    return self.expect(b']', "expected ',' or ']'");
                }
            }
            Some(b't') | Some(b'f') => self.boolean().map(|_| ()),
            Some(b'n') => {
                if self.buf[self.pos..].starts_with(b"null") {
                    self.pos += 4;
                    Ok(())
                } else {
                    malformed(self.pos, "expected null")
                }
            }
            Some(_) => self.number().map(|_| ()),
            None => malformed(self.pos, "unexpected end of input"),
        }
    }

    /// Walks the members of an object, calling `each(cursor, key)` with the cursor on
    /// the value; `each` must consume the value (or call `skip`).
    #[inline]
    pub fn object<F>(&mut self, mut each: F) -> Result<()>
    where
        F: FnMut(&mut Cursor<'a>, &'a [u8]) -> Result<()>,
    {
        self.expect(b'{', "expected '{'")?;
        if self.eat(b'}') {
            return Ok(());
        }
        let buf = self.buf;
        loop {
            // Binance keys are mostly one character: `"k":` read with four byte tests.
            let i = self.pos;
            let key = if buf.get(i) == Some(&b'"')
                && buf.get(i + 2) == Some(&b'"')
                && buf.get(i + 3) == Some(&b':')
                && buf.get(i + 1).is_some_and(|&c| c != b'\\' && c >= 0x20)
            {
                self.pos = i + 4;
                &buf[i + 1..i + 2]
            } else {
                let (key, _) = self.string()?;
                self.expect(b':', "expected ':'")?;
                key.of(buf)
            };
            each(self, key)?;
            match buf.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => {
                    if !self.eat(b',') {
                        return self.expect(b'}', "expected ',' or '}'");
                    }
                }
            }
        }
    }

    /// Walks the elements of an array, calling `each(cursor)` on each.
    #[inline]
    pub fn array<F>(&mut self, mut each: F) -> Result<()>
    where
        F: FnMut(&mut Cursor<'a>) -> Result<()>,
    {
        self.expect(b'[', "expected '['")?;
        if self.eat(b']') {
            return Ok(());
        }
        loop {
            each(self)?;
            if self.eat(b',') {
                continue;
            }
            return self.expect(b']', "expected ',' or ']'");
        }
    }

    /// Requires that only whitespace is left.
    pub fn end(&mut self) -> Result<()> {
        self.ws();
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            malformed(self.pos, "trailing bytes after the message")
        }
    }

    /// A quoted decimal as grid units, read in one pass; anything unusual (exponents,
    /// escapes, more than 18 digits) takes the exact path.
    #[inline]
    pub fn units_str(&mut self, grid: &FastGrid) -> Result<i64> {
        self.ws();
        let b = self.buf;
        let open = self.pos;
        if b.get(open) == Some(&b'"') {
            if let Some((units, close)) = decimal_fast(b, open + 1, grid) {
                self.pos = close + 1;
                return Ok(units);
            }
        }
        if b.get(open) != Some(&b'"') {
            return malformed(open, "expected a string");
        }
        let start = open + 1;
        let mut i = start;
        let neg = b.get(i) == Some(&b'-');
        if neg {
            i += 1;
        }
        let mut v: u64 = 0;
        let mut used = 0u32;
        let mut digits = 0u32;
        while let Some(&c) = b.get(i) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            v = v.wrapping_mul(10).wrapping_add(u64::from(d));
            used += u32::from(v != 0);
            digits += 1;
            i += 1;
            if used > 17 {
                return self.units_str_exact(grid);
            }
        }
        let mut frac = 0u32;
        if b.get(i) == Some(&b'.') {
            i += 1;
            while let Some(&c) = b.get(i) {
                let d = c.wrapping_sub(b'0');
                if d > 9 {
                    break;
                }
                if frac < grid.scale {
                    v = v.wrapping_mul(10).wrapping_add(u64::from(d));
                    used += u32::from(v != 0);
                    frac += 1;
                    if used > 17 {
                        return self.units_str_exact(grid);
                    }
                } else if d != 0 {
                    return Err(ScanError::OffGrid { pos: start });
                }
                digits += 1;
                i += 1;
            }
        }
        if b.get(i) != Some(&b'"') || digits == 0 {
            return self.units_str_exact(grid);
        }
        let mut v = v as i64;
        for _ in frac..grid.scale {
            v = v
                .checked_mul(10)
                .ok_or(ScanError::Overflow { pos: start })?;
        }
        let units = if grid.step == 1 {
            v
        } else {
            if v % grid.step != 0 {
                return Err(ScanError::OffGrid { pos: start });
            }
            v / grid.step
        };
        self.pos = i + 1;
        Ok(if neg { -units } else { units })
    }

    #[cold]
    fn units_str_exact(&mut self, grid: &FastGrid) -> Result<i64> {
        let (span, escaped) = self.string()?;
        if escaped {
            return malformed(span.start as usize, "escape inside a number");
        }
        grid.units(span.of(self.buf), span.start as usize)
    }

    /// A decimal given as a string or a bare number, as grid units.
    #[inline]
    pub fn units_any(&mut self, grid: &FastGrid) -> Result<i64> {
        if self.peek() == Some(b'"') {
            self.units_str(grid)
        } else {
            let span = self.number()?;
            grid.units(span.of(self.buf), span.start as usize)
        }
    }
}

/// A decimal integer (optionally negative) at byte offset `at`.
#[inline]
pub fn parse_i64(text: &[u8], at: usize) -> Result<i64> {
    let (neg, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 {
        return if digits.is_empty() {
            malformed(at, "expected an integer")
        } else {
            Err(ScanError::Overflow { pos: at })
        };
    }
    let mut v: i64 = 0;
    for (k, &c) in digits.iter().enumerate() {
        if !c.is_ascii_digit() {
            return malformed(at + k + usize::from(neg), "expected an integer");
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(c - b'0')))
            .ok_or(ScanError::Overflow { pos: at })?;
    }
    Ok(if neg { -v } else { v })
}

/// A price or quantity grid in the form the scanners use: the step as an i64 at `scale`
/// fractional digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastGrid {
    pub step: i64,
    pub scale: u32,
}

impl FastGrid {
    pub fn from_grid(grid: &Grid) -> Option<FastGrid> {
        Some(FastGrid {
            step: i64::try_from(grid.step).ok()?,
            scale: grid.scale,
        })
    }

    /// Grid units of decimal text at byte offset `at` (for error positions). Digits past
    /// the grid's scale must be zeros; exponents take the slow exact path.
    #[inline]
    pub fn units(&self, text: &[u8], at: usize) -> Result<i64> {
        let mut i = 0;
        let neg = text.first() == Some(&b'-');
        if neg {
            i = 1;
        }
        let mut v: i64 = 0;
        let mut digits = 0;
        while let Some(&c) = text.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(i64::from(c - b'0')))
                .ok_or(ScanError::Overflow { pos: at })?;
            digits += 1;
            i += 1;
        }
        let mut frac = 0u32;
        if text.get(i) == Some(&b'.') {
            i += 1;
            while let Some(&c) = text.get(i) {
                if !c.is_ascii_digit() {
                    break;
                }
                if frac < self.scale {
                    v = v
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(i64::from(c - b'0')))
                        .ok_or(ScanError::Overflow { pos: at })?;
                    frac += 1;
                } else if c != b'0' {
                    return Err(ScanError::OffGrid { pos: at });
                }
                digits += 1;
                i += 1;
            }
        }
        if i != text.len() || digits == 0 {
            if matches!(text.get(i), Some(b'e' | b'E')) && digits > 0 {
                return self.units_slow(text, at);
            }
            return malformed(at + i, "expected a decimal number");
        }
        for _ in frac..self.scale {
            v = v.checked_mul(10).ok_or(ScanError::Overflow { pos: at })?;
        }
        if v % self.step != 0 {
            return Err(ScanError::OffGrid { pos: at });
        }
        let u = v / self.step;
        Ok(if neg { -u } else { u })
    }

    #[cold]
    fn units_slow(&self, text: &[u8], at: usize) -> Result<i64> {
        let grid = Grid {
            step: i128::from(self.step),
            scale: self.scale,
        };
        let d = Decimal::parse(text).map_err(|e| match e {
            FixedError::Malformed { pos } => ScanError::Malformed {
                pos: at + pos,
                what: "bad decimal",
            },
            _ => ScanError::Overflow { pos: at },
        })?;
        grid.units(d).map_err(|e| match e {
            FixedError::OffGrid => ScanError::OffGrid { pos: at },
            _ => ScanError::Overflow { pos: at },
        })
    }
}

const POW10: [u64; 19] = {
    let mut t = [1u64; 19];
    let mut k = 1;
    while k < 19 {
        t[k] = t[k - 1] * 10;
        k += 1;
    }
    t
};

/// The 8 bytes at `i` as a little-endian word if they are all ASCII digits.
#[inline(always)]
fn eight_digits(b: &[u8], i: usize) -> Option<u64> {
    let chunk: [u8; 8] = b.get(i..i + 8)?.try_into().ok()?;
    let x = u64::from_le_bytes(chunk);
    // A byte is a digit iff its high nibble is 3 and stays 3 after adding 6 (no digit
    // carries into its neighbour, and a non-digit fails the first test by itself).
    let high = x & 0xF0F0_F0F0_F0F0_F0F0;
    let bumped = x.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0;
    (high == 0x3030_3030_3030_3030 && bumped == 0x3030_3030_3030_3030).then_some(x)
}

/// Value of the first `n` (0..=8) digit bytes of the word `x` (first byte most
/// significant), three multiplies instead of `n` dependent ones.
#[inline(always)]
fn swar_value(x: u64, n: usize) -> u64 {
    if n == 0 {
        return 0;
    }
    // Drop the bytes after the first n and right-align those n; the vacated low bytes
    // read as leading zeros.
    let d = (x << (8 * (8 - n))) & 0x0F0F_0F0F_0F0F_0F0F;
    let d = (d * 10 + (d >> 8)) & 0x00FF_00FF_00FF_00FF;
    let d = (d * 100 + (d >> 16)) & 0x0000_FFFF_0000_FFFF;
    (d * 10_000 + (d >> 32)) & 0xFFFF_FFFF
}

/// Spans of the price and size text of a level that `level_fast` accepted at `i`.
#[inline]
pub fn level_text(b: &[u8], i: usize) -> Option<(Span, Span)> {
    let px_start = i + 2;
    let px_end = plain_string_end(b, px_start)?;
    let sz_start = px_end + 3;
    let sz_end = plain_string_end(b, sz_start)?;
    Some((
        Span {
            start: px_start as u32,
            end: px_end as u32,
        },
        Span {
            start: sz_start as u32,
            end: sz_end as u32,
        },
    ))
}

/// Optimistic read of a non-negative decimal on `grid` starting at `i` (just after the
/// opening quote), up to the closing quote. Returns the units and the index of the
/// closing quote, or None for anything unusual (sign, exponent, off-grid digits, too
/// many digits, missing quote), in which case the caller re-reads it exactly.
#[inline(always)]
pub fn decimal_fast(b: &[u8], mut i: usize, grid: &FastGrid) -> Option<(i64, usize)> {
    let scale = grid.scale as usize;
    let int_start = i;
    let mut v: u64 = 0;
    while let Some(&c) = b.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    let int_digits = i - int_start;
    if int_digits == 0 || int_digits + scale > 18 {
        return None;
    }
    let mut frac = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        // Binance spot pads every decimal to 8 places: take those 8 digits in one word.
        if scale <= 8 {
            if let Some(x) = eight_digits(b, i) {
                let zeros_mask = if scale == 8 {
                    0
                } else {
                    u64::MAX << (8 * scale)
                };
                if (x ^ 0x3030_3030_3030_3030) & zeros_mask != 0 {
                    return None;
                }
                // Tick grids of 1 or 2 decimals need no word arithmetic.
                let frac_value = match scale {
                    0 => 0,
                    1 => x & 0x0F,
                    2 => (x & 0x0F) * 10 + ((x >> 8) & 0x0F),
                    _ => swar_value(x, scale),
                };
                v = v * POW10[scale] + frac_value;
                i += 8;
                while b.get(i) == Some(&b'0') {
                    i += 1;
                }
                frac = scale;
            }
        }
        while frac < scale {
            let d = b.get(i)?.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            v = v.wrapping_mul(10).wrapping_add(u64::from(d));
            i += 1;
            frac += 1;
        }
        // Digits past the grid's scale must all be '0'.
        while b.get(i) == Some(&b'0') {
            i += 1;
        }
    }
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let v = if frac == scale {
        v as i64
    } else {
        (v * POW10[scale - frac]) as i64
    };
    if grid.step == 1 {
        Some((v, i))
    } else if v % grid.step == 0 {
        Some((v / grid.step, i))
    } else {
        None
    }
}

/// Index after the literal `lit` if it is at `i`.
#[inline(always)]
pub fn literal<const N: usize>(b: &[u8], i: usize, lit: &[u8; N]) -> Option<usize> {
    let chunk: &[u8; N] = b.get(i..i + N)?.try_into().ok()?;
    (chunk == lit).then_some(i + N)
}

/// Optimistic read of a non-negative JSON integer at `i`: (value, index after it).
#[inline(always)]
pub fn int_fast(b: &[u8], mut i: usize) -> Option<(i64, usize)> {
    let first = i;
    let mut v: u64 = 0;
    if let Some(x) = eight_digits(b, i) {
        v = swar_value(x, 8);
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    let n = i - first;
    if n == 0 || n > 18 || (n > 1 && b[first] == b'0') {
        return None;
    }
    Some((v as i64, i))
}

/// Optimistic read of `true` or `false` at `i`.
#[inline(always)]
pub fn bool_fast(b: &[u8], i: usize) -> Option<(bool, usize)> {
    if let Some(j) = literal(b, i, b"true") {
        Some((true, j))
    } else {
        literal(b, i, b"false").map(|j| (false, j))
    }
}

/// Index of the closing quote of a plain string whose content starts at `i`.
#[inline(always)]
pub fn plain_string_end(b: &[u8], mut i: usize) -> Option<usize> {
    while let Some(&c) = b.get(i) {
        if STRING_SPECIAL[c as usize] {
            return (c == b'"').then_some(i);
        }
        i += 1;
    }
    None
}

/// The payload of a Binance combined-stream frame, `{"stream":"<name>","data":<payload>}`,
/// or the frame itself when it is not wrapped.
#[inline]
pub fn binance_payload(b: &[u8]) -> &[u8] {
    let inner = (|| {
        let i = literal(b, 0, b"{\"stream\":\"")?;
        let i = plain_string_end(b, i)?;
        let i = literal(b, i, b"\",\"data\":")?;
        (b.last() == Some(&b'}') && i < b.len()).then(|| &b[i..b.len() - 1])
    })();
    inner.unwrap_or(b)
}

/// Optimistic read of one compact `["price","size"(,"..")*]` level at `i`. Returns
/// price, size and the index after the closing bracket, or None to take the exact path.
/// The price text is at `i + 2 ..` up to its quote; see `level_text` for both spans.
#[inline(always)]
pub fn level_fast(
    b: &[u8],
    i: usize,
    price: &FastGrid,
    qty: &FastGrid,
) -> Option<(i64, i64, usize)> {
    // Byte compares, not slice compares: these are too short for a memcmp call.
    if *b.get(i)? != b'[' || *b.get(i + 1)? != b'"' {
        return None;
    }
    let (p, j) = decimal_fast(b, i + 2, price)?;
    if *b.get(j + 1)? != b',' || *b.get(j + 2)? != b'"' {
        return None;
    }
    let (q, k) = decimal_fast(b, j + 3, qty)?;
    let mut k = k + 1;
    // OKX levels carry two more string members (deprecated "0" and the order count).
    while *b.get(k)? == b',' {
        if *b.get(k + 1)? != b'"' {
            return None;
        }
        k = plain_string_end(b, k + 2)? + 1;
    }
    if *b.get(k)? != b']' {
        return None;
    }
    Some((p, q, k + 1))
}

/// Decodes a string's raw content (as returned by `Cursor::string`) into UTF-8 text.
pub fn unescape(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *raw.get(i + 1)?;
        i += 2;
        let ch = match e {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = hex4(raw.get(i..i + 4)?)?;
                i += 4;
                let code = if (0xD800..0xDC00).contains(&hi) {
                    if raw.get(i..i + 2) != Some(b"\\u") {
                        return None;
                    }
                    let lo = hex4(raw.get(i + 2..i + 6)?)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return None;
                    }
                    i += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                char::from_u32(code)?
            }
            _ => return None,
        };
        let mut tmp = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
    }
    String::from_utf8(out).ok()
}

fn hex4(h: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in h {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(step: &str) -> FastGrid {
        FastGrid::from_grid(&Grid::parse(step.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn units_accept_trailing_zeros_and_refuse_off_grid() {
        let g = grid("0.01");
        assert_eq!(g.units(b"27123.45000000", 0), Ok(2712345));
        assert_eq!(g.units(b"0.01", 0), Ok(1));
        assert_eq!(g.units(b"5", 0), Ok(500));
        assert_eq!(g.units(b"-1.5", 0), Ok(-150));
        assert_eq!(g.units(b"1.005", 7), Err(ScanError::OffGrid { pos: 7 }));
        assert_eq!(g.units(b"1e2", 0), Ok(10000));
        assert!(matches!(
            g.units(b"1.2x", 10),
            Err(ScanError::Malformed { pos: 13, .. })
        ));
        assert!(matches!(
            g.units(b"", 3),
            Err(ScanError::Malformed { pos: 3, .. })
        ));
        let five = grid("0.5");
        assert_eq!(five.units(b"10.5", 0), Ok(21));
        assert_eq!(five.units(b"10.2", 0), Err(ScanError::OffGrid { pos: 0 }));
        assert!(matches!(
            g.units(b"99999999999999999999", 0),
            Err(ScanError::Overflow { .. })
        ));
    }

    #[test]
    fn fast_decimal_agrees_with_exact_path() {
        let mut rng = crate::testrng::Rng::new(9);
        let alphabet = b"0123456789.0000-e";
        for step in ["1", "0.01", "0.00001", "0.5", "0.00000001", "25"] {
            let g = grid(step);
            for _ in 0..20_000 {
                let len = 1 + rng.below(14) as usize;
                let mut text: Vec<u8> = (0..len)
                    .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                    .collect();
                match rng.below(3) {
                    0 => {
                        text = format!("{}.{}", rng.below(100_000), rng.below(100_000_000))
                            .into_bytes();
                        text.truncate(1 + rng.below(text.len() as u64) as usize);
                    }
                    // Binance spot style: 8 decimals, sometimes more.
                    1 => {
                        let pad = 8 + rng.below(3) as usize;
                        text = format!("{}.{:0pad$}", rng.below(100_000), rng.below(100_000_000))
                            .into_bytes();
                    }
                    _ => {}
                }
                let mut frame = vec![b'"'];
                frame.extend_from_slice(&text);
                frame.extend_from_slice(b"\",\"pad-pad-pad\"");
                if let Some((u, end)) = decimal_fast(&frame, 1, &g) {
                    assert_eq!(end, 1 + text.len(), "{}", String::from_utf8_lossy(&text));
                    assert_eq!(
                        Ok(u),
                        g.units(&text, 0),
                        "{} on {step}",
                        String::from_utf8_lossy(&text)
                    );
                }
            }
        }
    }

    #[test]
    fn object_walk_and_skip() {
        let text = br#" {"a": [1, {"b": "x\"y"}, true, null, -2.5e3], "c" : "d", "n": 12} "#;
        let mut cur = Cursor::new(text);
        let mut seen = Vec::new();
        cur.object(|c, key| {
            match key {
                b"n" => seen.push(c.int()?),
                _ => c.skip()?,
            }
            Ok(())
        })
        .unwrap();
        cur.end().unwrap();
        assert_eq!(seen, vec![12]);
    }

    #[test]
    fn errors_name_the_offset() {
        let mut cur = Cursor::new(br#"{"a":tru}"#);
        let err = cur.skip().unwrap_err();
        assert_eq!(err.pos(), 5);
        let mut cur = Cursor::new(br#"{"a" 1}"#);
        assert_eq!(cur.skip().unwrap_err().pos(), 5);
        let mut cur = Cursor::new(b"[1,2");
        assert_eq!(cur.skip().unwrap_err().pos(), 4);
        let deep = vec![b'['; 1000];
        assert!(Cursor::new(&deep).skip().is_err());
    }

    #[test]
    fn unescape_handles_surrogates() {
        assert_eq!(unescape(br"a\nb").unwrap(), "a\nb");
        assert_eq!(unescape(br"\u00e9").unwrap(), "é");
        assert_eq!(unescape(br"\ud83d\ude00").unwrap(), "😀");
        assert!(unescape(br"\ud83d").is_none());
    }
}
