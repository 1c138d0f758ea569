//! Fixed-point prices and quantities.
//!
//! A venue publishes a price tick and a quantity step as decimal strings. Every price or
//! quantity ems sends is an integer count of those units, so what goes on the wire is
//! exactly a multiple of the grid: nothing is rounded on the way out, and input that is
//! not on the grid is refused instead of being nudged onto it.

use std::fmt;

/// Largest number of fractional digits a venue grid may use.
pub const MAX_SCALE: u32 = 18;

/// Why a decimal could not be read or placed on a grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixedError {
    /// The text is not a plain decimal number; `pos` is the offending byte.
    Malformed { pos: usize },
    /// More digits than an i128 mantissa or `MAX_SCALE` can hold.
    Overflow,
    /// The value is finite and well-formed but not a whole number of grid units.
    OffGrid,
    /// NaN or an infinity.
    NotFinite,
    /// A grid step must be strictly positive.
    NonPositiveStep,
}

impl fmt::Display for FixedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FixedError::Malformed { pos } => write!(f, "malformed decimal at byte {pos}"),
            FixedError::Overflow => write!(f, "decimal out of range"),
            FixedError::OffGrid => write!(f, "value is not a multiple of the grid step"),
            FixedError::NotFinite => write!(f, "value is not finite"),
            FixedError::NonPositiveStep => write!(f, "grid step must be positive"),
        }
    }
}

/// A decimal number as `mantissa * 10^-scale`, with trailing zeros removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    pub mantissa: i128,
    pub scale: u32,
}

impl Decimal {
    /// Reads a plain decimal (`-12.3400`, `5`, `.5`, `1e-5`); exponents are accepted
    /// because shortest-form float text uses them.
    pub fn parse(text: &[u8]) -> Result<Decimal, FixedError> {
        let mut i = 0;
        let negative = match text.first() {
            Some(b'-') => {
                i = 1;
                true
            }
            Some(b'+') => {
                i = 1;
                false
            }
            Some(_) => false,
            None => return Err(FixedError::Malformed { pos: 0 }),
        };
        let mut mantissa: i128 = 0;
        let mut scale: i64 = 0;
        let mut digits = 0usize;
        let mut seen_point = false;
        while i < text.len() {
            let c = text[i];
            match c {
                b'0'..=b'9' => {
                    mantissa = mantissa
                        .checked_mul(10)
                        .and_then(|m| m.checked_add(i128::from(c - b'0')))
                        .ok_or(FixedError::Overflow)?;
                    digits += 1;
                    if seen_point {
                        scale += 1;
                    }
                }
                b'.' if !seen_point => seen_point = true,
                b'e' | b'E' => break,
                _ => return Err(FixedError::Malformed { pos: i }),
            }
            i += 1;
        }
        if digits == 0 {
            return Err(FixedError::Malformed {
                pos: i.min(text.len()),
            });
        }
        if i < text.len() {
            // exponent part
            let exp_start = i;
            i += 1;
            let mut exp_negative = false;
            if let Some(&s) = text.get(i) {
                if s == b'-' || s == b'+' {
                    exp_negative = s == b'-';
                    i += 1;
                }
            }
            let mut exponent: i64 = 0;
            let mut exp_digits = 0;
            while i < text.len() {
                let c = text[i];
                if !c.is_ascii_digit() {
                    return Err(FixedError::Malformed { pos: i });
                }
                exponent = exponent * 10 + i64::from(c - b'0');
                if exponent > 400 {
                    return Err(FixedError::Overflow);
                }
                exp_digits += 1;
                i += 1;
            }
            if exp_digits == 0 {
                return Err(FixedError::Malformed { pos: exp_start });
            }
            scale -= if exp_negative { -exponent } else { exponent };
        }
        if negative {
            mantissa = -mantissa;
        }
        while scale < 0 {
            mantissa = mantissa.checked_mul(10).ok_or(FixedError::Overflow)?;
            scale += 1;
        }
        let mut d = Decimal {
            mantissa,
            scale: scale as u32,
        };
        d.normalize();
        if d.scale > MAX_SCALE {
            return Err(FixedError::Overflow);
        }
        Ok(d)
    }

    /// The exact decimal value of a double's shortest round-trip text, i.e. the number a
    /// person typed as `124.2`, not the binary fraction nearest to it.
    pub fn from_f64(value: f64) -> Result<Decimal, FixedError> {
        if !value.is_finite() {
            return Err(FixedError::NotFinite);
        }
        let text = format!("{value}");
        Decimal::parse(text.as_bytes())
    }

    fn normalize(&mut self) {
        while self.scale > 0 && self.mantissa % 10 == 0 {
            self.mantissa /= 10;
            self.scale -= 1;
        }
        if self.mantissa == 0 {
            self.scale = 0;
        }
    }

    /// The mantissa expressed at a larger or equal scale.
    fn at_scale(self, scale: u32) -> Result<i128, FixedError> {
        if scale < self.scale {
            return Err(FixedError::OffGrid);
        }
        10i128
            .checked_pow(scale - self.scale)
            .and_then(|p| self.mantissa.checked_mul(p))
            .ok_or(FixedError::Overflow)
    }
}

/// Writes `mantissa * 10^-scale` as plain decimal text with no trailing zeros.
pub fn format_scaled(mantissa: i128, scale: u32, out: &mut String) {
    let negative = mantissa < 0;
    let digits = mantissa.unsigned_abs().to_string();
    if negative {
        out.push('-');
    }
    let scale = scale as usize;
    if scale == 0 {
        out.push_str(&digits);
        return;
    }
    let (int_part, frac_part) = if digits.len() > scale {
        digits.split_at(digits.len() - scale)
    } else {
        ("", digits.as_str())
    };
    if int_part.is_empty() {
        out.push('0');
    } else {
        out.push_str(int_part);
    }
    let pad = scale.saturating_sub(frac_part.len());
    let mut frac = String::with_capacity(scale);
    for _ in 0..pad {
        frac.push('0');
    }
    frac.push_str(frac_part);
    let trimmed = frac.trim_end_matches('0');
    if !trimmed.is_empty() {
        out.push('.');
        out.push_str(trimmed);
    }
}

/// A venue's price tick or quantity step: values are whole numbers of `step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// The step as an integer at `scale` fractional digits.
    pub step: i128,
    pub scale: u32,
}

impl Grid {
    /// Builds a grid from the venue's step text (`"0.01000000"`).
    pub fn parse(step: &[u8]) -> Result<Grid, FixedError> {
        let d = Decimal::parse(step)?;
        if d.mantissa <= 0 {
            return Err(FixedError::NonPositiveStep);
        }
        Ok(Grid {
            step: d.mantissa,
            scale: d.scale,
        })
    }

    /// The number of steps in `value`, refusing anything off the grid.
    pub fn units(&self, value: Decimal) -> Result<i64, FixedError> {
        let scaled = value.at_scale(self.scale)?;
        if scaled % self.step != 0 {
            return Err(FixedError::OffGrid);
        }
        i64::try_from(scaled / self.step).map_err(|_| FixedError::Overflow)
    }

    /// The number of whole steps in `value`, rounded toward zero.
    pub fn units_floor(&self, value: Decimal) -> Result<i64, FixedError> {
        let units = if value.scale <= self.scale {
            value.at_scale(self.scale)? / self.step
        } else {
            let shrink = 10i128
                .checked_pow(value.scale - self.scale)
                .ok_or(FixedError::Overflow)?;
            let step_at_value = self.step.checked_mul(shrink).ok_or(FixedError::Overflow)?;
            value.mantissa / step_at_value
        };
        i64::try_from(units).map_err(|_| FixedError::Overflow)
    }

    /// `units * step` at the grid's scale; a step of up to 38 digits can push the product
    /// past i128, which is an error, not a wrapped number.
    fn scaled(&self, units: i64) -> Result<i128, FixedError> {
        i128::from(units)
            .checked_mul(self.step)
            .ok_or(FixedError::Overflow)
    }

    /// Exact venue text for a number of steps.
    pub fn format(&self, units: i64) -> Result<String, FixedError> {
        let mut out = String::with_capacity(24);
        format_scaled(self.scaled(units)?, self.scale, &mut out);
        Ok(out)
    }

    /// The nearest double to a number of steps (for the JSON API, which speaks doubles).
    pub fn to_f64(&self, units: i64) -> f64 {
        let Ok(scaled) = self.scaled(units) else {
            // Past i128 the exact text is out of reach; a double still holds the value.
            return units as f64 * self.step as f64 / 10f64.powi(self.scale as i32);
        };
        let mut text = String::with_capacity(24);
        format_scaled(scaled, self.scale, &mut text);
        text.parse().unwrap_or(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::parse(s.as_bytes()).expect("valid decimal")
    }

    #[test]
    fn parse_strips_trailing_zeros() {
        assert_eq!(
            dec("0.01000000"),
            Decimal {
                mantissa: 1,
                scale: 2
            }
        );
        assert_eq!(
            dec("-12.340"),
            Decimal {
                mantissa: -1234,
                scale: 2
            }
        );
        assert_eq!(
            dec("100"),
            Decimal {
                mantissa: 100,
                scale: 0
            }
        );
        assert_eq!(
            dec(".5"),
            Decimal {
                mantissa: 5,
                scale: 1
            }
        );
        assert_eq!(
            dec("1e-5"),
            Decimal {
                mantissa: 1,
                scale: 5
            }
        );
        assert_eq!(
            dec("2.5E3"),
            Decimal {
                mantissa: 2500,
                scale: 0
            }
        );
    }

    #[test]
    fn parse_reports_position_of_bad_byte() {
        assert_eq!(
            Decimal::parse(b"12x4"),
            Err(FixedError::Malformed { pos: 2 })
        );
        assert_eq!(Decimal::parse(b""), Err(FixedError::Malformed { pos: 0 }));
        assert_eq!(Decimal::parse(b"-"), Err(FixedError::Malformed { pos: 1 }));
        assert_eq!(
            Decimal::parse(b"1.2.3"),
            Err(FixedError::Malformed { pos: 3 })
        );
        assert_eq!(Decimal::parse(b"1e"), Err(FixedError::Malformed { pos: 1 }));
    }

    #[test]
    fn doubles_read_as_the_text_a_person_typed() {
        assert_eq!(
            Decimal::from_f64(124.2).unwrap(),
            Decimal {
                mantissa: 1242,
                scale: 1
            }
        );
        assert_eq!(Decimal::from_f64(0.1 + 0.2).unwrap().scale, 17);
        assert_eq!(
            Decimal::from_f64(1e-7).unwrap(),
            Decimal {
                mantissa: 1,
                scale: 7
            }
        );
        assert_eq!(Decimal::from_f64(f64::NAN), Err(FixedError::NotFinite));
    }

    #[test]
    fn grid_accepts_multiples_and_refuses_the_rest() {
        let tick = Grid::parse(b"0.01000000").unwrap();
        assert_eq!(tick.units(dec("124.2")).unwrap(), 12420);
        assert_eq!(tick.units(dec("124.25")).unwrap(), 12425);
        assert_eq!(tick.units(dec("124.255")), Err(FixedError::OffGrid));
        let half = Grid::parse(b"0.5").unwrap();
        assert_eq!(half.units(dec("10.5")).unwrap(), 21);
        assert_eq!(half.units(dec("10.2")), Err(FixedError::OffGrid));
        assert_eq!(Grid::parse(b"0"), Err(FixedError::NonPositiveStep));
    }

    #[test]
    fn grid_formats_exact_text() {
        let tick = Grid::parse(b"0.01").unwrap();
        assert_eq!(tick.format(12420).unwrap(), "124.2");
        assert_eq!(tick.format(5).unwrap(), "0.05");
        assert_eq!(tick.format(-5).unwrap(), "-0.05");
        assert_eq!(tick.format(0).unwrap(), "0");
        let step = Grid::parse(b"0.00001").unwrap();
        assert_eq!(step.format(1).unwrap(), "0.00001");
        assert_eq!(step.format(100000).unwrap(), "1");
        let five = Grid::parse(b"5").unwrap();
        assert_eq!(five.format(3).unwrap(), "15");
    }

    #[test]
    fn format_of_extreme_units_is_an_error_not_a_wrapped_number() {
        // A 30-digit step times i64::MAX does not fit an i128.
        let huge = Grid::parse(b"100000000000000000000000000000").unwrap();
        assert_eq!(huge.format(i64::MAX), Err(FixedError::Overflow));
        assert_eq!(huge.format(i64::MIN), Err(FixedError::Overflow));
        assert_eq!(huge.format(1).unwrap(), "100000000000000000000000000000");
        assert!((huge.to_f64(i64::MAX) / 9.223e47 - 1.0).abs() < 1e-3);
        let tick = Grid::parse(b"0.01").unwrap();
        assert_eq!(tick.format(i64::MIN).unwrap(), "-92233720368547758.08");
    }

    #[test]
    fn floor_rounds_toward_zero() {
        let step = Grid::parse(b"0.001").unwrap();
        assert_eq!(step.units_floor(dec("1.23456")).unwrap(), 1234);
        assert_eq!(step.units_floor(dec("2")).unwrap(), 2000);
    }

    #[test]
    fn round_trip_of_every_unit_in_a_range() {
        let tick = Grid::parse(b"0.1").unwrap();
        for units in -2000..2000 {
            let text = tick.format(units).unwrap();
            assert_eq!(tick.units(dec(&text)).unwrap(), units, "{text}");
            let back = Decimal::from_f64(tick.to_f64(units)).unwrap();
            assert_eq!(tick.units(back).unwrap(), units);
        }
    }
}
