//! Pre-trade risk gate: the limits every order must pass before it is sent.
//!
//! The gate holds, per (session, symbol) key, the effective limits and the exposure the
//! session already has there, kept up to date incrementally by the caller: the number of
//! working orders, their unfilled quantity per side (in steps of the quantity grid) and
//! the position. A check therefore costs O(1) whatever the number of orders.
//!
//! Semantics follow the original Python checks exactly, including their use of floats:
//! quantities and prices are turned into the double nearest to their decimal value (as
//! `Grid.value` does) and compared with the limits as doubles, and denial details are
//! formatted as Python's `format(x, "g")` would. Checks run in this order, the first
//! failure wins: kill switch (new orders), quantity, notional, price band (or no
//! reference), working orders (new orders), position, order rate (new orders).
//!
//! Order rate: a session's own `maxOrdersPerSecond` is a token bucket of that rate with
//! one second of burst, shared by the session's symbols. Without it, a key may point at
//! venue buckets (the venue's documented order-rate rules; a new order needs a token from
//! each), possibly shared between keys (one account, or one account and instrument), each
//! with its own rate, burst and denial text.

use crate::fixed::Grid;

/// Order sides, as in the rest of the core.
pub const BUY: i8 = 1;
pub const SELL: i8 = -1;

/// Every limit is optional; `None` means not limited.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    pub max_order_qty: Option<f64>,
    pub max_order_notional: Option<f64>,
    pub price_band_percent: Option<f64>,
    pub max_working_orders: Option<i64>,
    pub max_position: Option<f64>,
    pub max_orders_per_second: Option<f64>,
}

impl Limits {
    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        self.max_order_qty.is_some()
            || self.max_order_notional.is_some()
            || self.price_band_percent.is_some()
            || self.max_working_orders.is_some()
            || self.max_position.is_some()
            || self.max_orders_per_second.is_some()
    }
}

/// Why an order was refused; `as_str` is the API's reason text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    KillSwitch,
    Quantity,
    Notional,
    PriceBand,
    NoReference,
    WorkingOrders,
    Position,
    Rate,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::KillSwitch => "KillSwitchActive",
            Reason::Quantity => "QuantityAboveMaximum",
            Reason::Notional => "NotionalAboveMaximum",
            Reason::PriceBand => "PriceOutsideBand",
            Reason::NoReference => "NoReferencePrice",
            Reason::WorkingOrders => "TooManyWorkingOrders",
            Reason::Position => "PositionLimitExceeded",
            Reason::Rate => "RateLimitExceeded",
        }
    }
}

/// A refusal: the reason and a sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    pub reason: Reason,
    pub detail: String,
}

fn deny(reason: Reason, detail: String) -> Result<(), Denial> {
    Err(Denial { reason, detail })
}

/// Misuse of the gate (a bug in the caller, or malformed input), never a denial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateError {
    UnknownKey,
    UnknownSession,
    UnknownVenueRule,
    BadSide,
    NoGrids,
    /// Bookkeeping that would make a count or quantity negative or overflow.
    Bookkeeping,
    /// A limit, rate, burst, price or quantity that is not a usable number.
    BadNumber(&'static str),
}

impl std::fmt::Display for GateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GateError::UnknownKey => write!(f, "unknown risk key"),
            GateError::UnknownSession => write!(f, "unknown risk session"),
            GateError::UnknownVenueRule => write!(f, "unknown venue rule"),
            GateError::BadSide => write!(f, "side must be BUY (1) or SELL (-1)"),
            GateError::NoGrids => write!(f, "the key has no price and quantity grids"),
            GateError::Bookkeeping => {
                write!(
                    f,
                    "working orders or quantity would become negative or overflow"
                )
            }
            GateError::BadNumber(what) => write!(f, "{what} is not a valid number"),
        }
    }
}

/// Python's `format(x, f".{precision}g")`: `precision` significant digits, trailing
/// zeros removed, scientific notation when the exponent is below -4 or not below the
/// precision. Rounding is to nearest, ties to even, on the exact binary value.
pub fn format_g(x: f64, precision: usize) -> String {
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let p = precision.max(1);
    let sci = format!("{:.*e}", p - 1, x);
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let p_i32 = i32::try_from(p).unwrap_or(i32::MAX);
    if (-4..p_i32).contains(&exp) {
        let decimals = usize::try_from(p_i32 - 1 - exp).unwrap_or(0);
        strip_zeros(&format!("{x:.decimals$}")).to_string()
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", strip_zeros(mantissa), exp.unsigned_abs())
    }
}

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn g(x: f64) -> String {
    format_g(x, 6)
}

/// What an order would add to, as the doubles the checks compare.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Exposure {
    pub side: i8,
    /// `None` for market orders.
    pub price: Option<f64>,
    /// The order's unfilled quantity.
    pub qty: f64,
    /// The session's position in the symbol.
    pub position: f64,
    /// Unfilled quantity of the session's other working orders on the same side.
    pub working_same_side: f64,
    /// The session's other working orders on the symbol.
    pub working_orders: i64,
    /// Last trade price (or mid) of the symbol, if known.
    pub reference: Option<f64>,
    pub contract_size: Option<f64>,
}

/// Every check but the kill switch and the order rate.
pub fn evaluate(
    limits: &Limits,
    symbol: &str,
    x: &Exposure,
    new_order: bool,
) -> Result<(), Denial> {
    if let Some(max) = limits.max_order_qty {
        if x.qty > max {
            return deny(
                Reason::Quantity,
                format!("qty {} exceeds {}", g(x.qty), g(max)),
            );
        }
    }
    let price = x.price.or(x.reference);
    if let (Some(max), Some(price)) = (limits.max_order_notional, price) {
        let per_unit = match x.contract_size {
            Some(size) if size != 0.0 => size,
            _ => price,
        };
        let notional = x.qty * per_unit;
        if notional > max {
            return deny(
                Reason::Notional,
                format!("notional {} exceeds {}", format_g(notional, 8), g(max)),
            );
        }
    }
    if let (Some(pct), Some(price)) = (limits.price_band_percent, x.price) {
        let Some(reference) = x.reference else {
            return deny(
                Reason::NoReference,
                format!("no reference price for {symbol} yet"),
            );
        };
        let band = reference * pct / 100.0;
        if (price - reference).abs() > band {
            return deny(
                Reason::PriceBand,
                format!(
                    "price {} is more than {}% from the reference {}",
                    g(price),
                    g(pct),
                    g(reference)
                ),
            );
        }
    }
    if let Some(max) = limits.max_working_orders {
        if new_order && x.working_orders >= max {
            return deny(
                Reason::WorkingOrders,
                format!("{} working orders already (limit {max})", x.working_orders),
            );
        }
    }
    if let Some(max) = limits.max_position {
        let sign = if x.side == BUY { 1.0 } else { -1.0 };
        let worst = x.position + sign * (x.working_same_side + x.qty);
        if worst.abs() > max && worst.abs() > x.position.abs() {
            return deny(
                Reason::Position,
                format!("position could reach {} (limit {})", g(worst), g(max)),
            );
        }
    }
    Ok(())
}

/// `rate` tokens per second up to `burst`; starts full. Times are seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub rate: f64,
    pub burst: f64,
    tokens: f64,
    stamp: f64,
}

impl Bucket {
    pub fn new(rate: f64, burst: f64, now: f64) -> Bucket {
        Bucket {
            rate,
            burst,
            tokens: burst,
            stamp: now,
        }
    }

    /// Adds the tokens earned since the last call (up to the burst).
    pub fn refill(&mut self, now: f64) {
        self.tokens = self.burst.min(self.tokens + (now - self.stamp) * self.rate);
        self.stamp = now;
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: f64) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub fn tokens(&self) -> f64 {
        self.tokens
    }
}

/// A venue's order-rate rule as a bucket, with the sentence a denial carries.
#[derive(Debug, Clone)]
struct VenueRule {
    bucket: Bucket,
    detail: String,
}

#[derive(Debug, Clone)]
struct Slot {
    session: usize,
    symbol: String,
    limits: Limits,
    grids: Option<(Grid, Grid)>,
    contract_size: Option<f64>,
    /// Venue rules (all must have a token), used when no own rate is set.
    venue: Vec<usize>,
    working: i64,
    /// Unfilled quantity of working orders: [buy, sell], in quantity steps.
    working_qty: [i64; 2],
    position: f64,
}

/// The state of one key, for inspection and tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyState {
    pub working: i64,
    pub working_buy: i64,
    pub working_sell: i64,
    pub position: f64,
}

/// The order seen by `Gate::check`, in grid units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderUnits {
    pub side: i8,
    /// Price in ticks; `None` for market orders.
    pub price: Option<i64>,
    /// The unfilled quantity the order would have (its qty minus what has filled).
    pub qty: i64,
    /// For an order already booked (an update): the unfilled quantity booked for it and
    /// whether it is counted as working; the check leaves these out of the exposure.
    pub booked_qty: i64,
    pub booked_working: bool,
}

fn side_index(side: i8) -> Result<usize, GateError> {
    match side {
        BUY => Ok(0),
        SELL => Ok(1),
        _ => Err(GateError::BadSide),
    }
}

fn finite(x: f64, what: &'static str) -> Result<f64, GateError> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(GateError::BadNumber(what))
    }
}

/// Limits and exposure of every (session, symbol) key of a server, and the kill switch.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    slots: Vec<Slot>,
    /// Per session: the bucket of its own `maxOrdersPerSecond` once an order used it.
    sessions: Vec<Option<Bucket>>,
    venue: Vec<VenueRule>,
    pub kill_switch: bool,
}

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    /// A new session; returns its index.
    pub fn add_session(&mut self) -> usize {
        self.sessions.push(None);
        self.sessions.len() - 1
    }

    /// Forgets a session's own rate bucket (its limits were replaced).
    pub fn reset_session_rate(&mut self, session: usize) -> Result<(), GateError> {
        *self
            .sessions
            .get_mut(session)
            .ok_or(GateError::UnknownSession)? = None;
        Ok(())
    }

    /// A venue order-rate rule: `rate` orders per second, `burst` at once; starts full.
    pub fn add_venue_rule(
        &mut self,
        rate: f64,
        burst: f64,
        detail: String,
        now: f64,
    ) -> Result<usize, GateError> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(GateError::BadNumber("rate"));
        }
        if !(burst.is_finite() && burst >= 1.0) {
            return Err(GateError::BadNumber("burst"));
        }
        self.venue.push(VenueRule {
            bucket: Bucket::new(rate, burst, now),
            detail,
        });
        Ok(self.venue.len() - 1)
    }

    /// A new (session, symbol) key with no limits and no exposure; returns its index.
    pub fn add_key(&mut self, session: usize, symbol: String) -> Result<usize, GateError> {
        if session >= self.sessions.len() {
            return Err(GateError::UnknownSession);
        }
        self.slots.push(Slot {
            session,
            symbol,
            limits: Limits::default(),
            grids: None,
            contract_size: None,
            venue: Vec::new(),
            working: 0,
            working_qty: [0, 0],
            position: 0.0,
        });
        Ok(self.slots.len() - 1)
    }

    fn slot(&mut self, key: usize) -> Result<&mut Slot, GateError> {
        self.slots.get_mut(key).ok_or(GateError::UnknownKey)
    }

    /// The instrument's grids (price, quantity) and contract size, for `check`.
    pub fn set_instrument(
        &mut self,
        key: usize,
        price_grid: Grid,
        qty_grid: Grid,
        contract_size: Option<f64>,
    ) -> Result<(), GateError> {
        if let Some(size) = contract_size {
            finite(size, "contract_size")?;
        }
        let slot = self.slot(key)?;
        slot.grids = Some((price_grid, qty_grid));
        slot.contract_size = contract_size;
        Ok(())
    }

    /// Replaces the effective limits of a key.
    pub fn set_limits(&mut self, key: usize, limits: Limits) -> Result<(), GateError> {
        for (value, what) in [
            (limits.max_order_qty, "maxOrderQty"),
            (limits.max_order_notional, "maxOrderNotional"),
            (limits.price_band_percent, "priceBandPercent"),
            (limits.max_position, "maxPosition"),
            (limits.max_orders_per_second, "maxOrdersPerSecond"),
        ] {
            if let Some(v) = value {
                if v.is_nan() {
                    return Err(GateError::BadNumber(what));
                }
            }
        }
        self.slot(key)?.limits = limits;
        Ok(())
    }

    pub fn limits(&self, key: usize) -> Result<Limits, GateError> {
        Ok(self.slots.get(key).ok_or(GateError::UnknownKey)?.limits)
    }

    /// Points a key at venue rules (none: no venue rule). A new order needs a token
    /// from every one of them; a rule may be shared by many keys.
    pub fn set_venue_rules(&mut self, key: usize, rules: &[usize]) -> Result<(), GateError> {
        if rules.iter().any(|&r| r >= self.venue.len()) {
            return Err(GateError::UnknownVenueRule);
        }
        self.slot(key)?.venue = rules.to_vec();
        Ok(())
    }

    /// Whether any check can refuse an order on this key.
    pub fn applies(&self, key: usize) -> Result<bool, GateError> {
        let slot = self.slots.get(key).ok_or(GateError::UnknownKey)?;
        Ok(self.kill_switch || slot.limits.any() || !slot.venue.is_empty())
    }

    /// Adds (or, negative, removes) working orders and unfilled quantity on one side.
    /// Nothing changes if the result would be negative.
    pub fn book(&mut self, key: usize, side: i8, orders: i64, qty: i64) -> Result<(), GateError> {
        let i = side_index(side)?;
        let slot = self.slot(key)?;
        let working = slot
            .working
            .checked_add(orders)
            .filter(|w| *w >= 0)
            .ok_or(GateError::Bookkeeping)?;
        let sided = slot.working_qty[i]
            .checked_add(qty)
            .filter(|q| *q >= 0)
            .ok_or(GateError::Bookkeeping)?;
        slot.working = working;
        slot.working_qty[i] = sided;
        Ok(())
    }

    pub fn set_position(&mut self, key: usize, position: f64) -> Result<(), GateError> {
        let position = finite(position, "position")?;
        self.slot(key)?.position = position;
        Ok(())
    }

    pub fn state(&self, key: usize) -> Result<KeyState, GateError> {
        let slot = self.slots.get(key).ok_or(GateError::UnknownKey)?;
        Ok(KeyState {
            working: slot.working,
            working_buy: slot.working_qty[0],
            working_sell: slot.working_qty[1],
            position: slot.position,
        })
    }

    /// Checks an order against the key's limits and the exposure kept for it.
    /// `reference` is the symbol's last trade price (or mid); `now` is in seconds.
    pub fn check(
        &mut self,
        key: usize,
        order: &OrderUnits,
        reference: Option<f64>,
        new_order: bool,
        now: f64,
    ) -> Result<Result<(), Denial>, GateError> {
        let i = side_index(order.side)?;
        if let Some(r) = reference {
            finite(r, "reference")?;
        }
        if order.qty < 0 || order.booked_qty < 0 {
            return Err(GateError::BadNumber("qty"));
        }
        let slot = self.slots.get(key).ok_or(GateError::UnknownKey)?;
        let (price_grid, qty_grid) = slot.grids.ok_or(GateError::NoGrids)?;
        let limits = slot.limits;
        let kill = self.kill_switch && new_order;
        if !kill && !limits.any() && slot.venue.is_empty() {
            return Ok(Ok(()));
        }
        // Only what a set limit reads is converted (each conversion is exact decimal
        // text to the nearest double, as `Grid.value`).
        let needs_qty = limits.max_order_qty.is_some()
            || limits.max_order_notional.is_some()
            || limits.max_position.is_some();
        let needs_price =
            limits.max_order_notional.is_some() || limits.price_band_percent.is_some();
        let same_side = slot.working_qty[i] - order.booked_qty;
        let x = Exposure {
            side: order.side,
            price: if needs_price {
                order.price.map(|p| price_grid.to_f64(p))
            } else {
                None
            },
            qty: if needs_qty {
                qty_grid.to_f64(order.qty)
            } else {
                0.0
            },
            position: slot.position,
            working_same_side: if limits.max_position.is_some() {
                qty_grid.to_f64(same_side)
            } else {
                0.0
            },
            working_orders: slot.working - i64::from(order.booked_working),
            reference,
            contract_size: slot.contract_size,
        };
        Ok(self.decide(key, &x, new_order, now))
    }

    /// Checks an order described by its exposure (the caller computed it), with the
    /// key's limits, the kill switch and the rate buckets.
    pub fn check_exposure(
        &mut self,
        key: usize,
        x: &Exposure,
        new_order: bool,
        now: f64,
    ) -> Result<Result<(), Denial>, GateError> {
        side_index(x.side)?;
        for (v, what) in [
            (Some(x.qty), "qty"),
            (x.price, "price"),
            (Some(x.position), "position"),
            (Some(x.working_same_side), "working_same_side"),
            (x.reference, "reference"),
            (x.contract_size, "contract_size"),
        ] {
            if let Some(v) = v {
                finite(v, what)?;
            }
        }
        if key >= self.slots.len() {
            return Err(GateError::UnknownKey);
        }
        Ok(self.decide(key, x, new_order, now))
    }

    fn decide(
        &mut self,
        key: usize,
        x: &Exposure,
        new_order: bool,
        now: f64,
    ) -> Result<(), Denial> {
        if self.kill_switch && new_order {
            return deny(
                Reason::KillSwitch,
                "the kill switch is on; new orders are blocked".to_string(),
            );
        }
        let slot = &self.slots[key];
        evaluate(&slot.limits, &slot.symbol, x, new_order)?;
        if !new_order {
            return Ok(());
        }
        if let Some(rate) = slot.limits.max_orders_per_second {
            let bucket = &mut self.sessions[slot.session];
            let fresh = match bucket {
                Some(b) => b.rate != rate,
                None => true,
            };
            if fresh {
                *bucket = Some(Bucket::new(rate, rate, now));
            }
            if let Some(b) = bucket {
                if !b.take(now) {
                    return deny(
                        Reason::Rate,
                        format!("more than {} orders per second", g(rate)),
                    );
                }
            }
        } else if !slot.venue.is_empty() {
            let rules = &slot.venue;
            for &v in rules {
                let rule = &mut self.venue[v];
                rule.bucket.refill(now);
                if rule.bucket.tokens < 1.0 {
                    return deny(Reason::Rate, rule.detail.clone());
                }
            }
            for &v in rules {
                self.venue[v].bucket.tokens -= 1.0;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testrng::Rng;

    fn grid(step: &str) -> Grid {
        Grid::parse(step.as_bytes()).expect("valid step")
    }

    fn gate_with_key() -> (Gate, usize) {
        let mut gate = Gate::new();
        let s = gate.add_session();
        let k = gate
            .add_key(s, "BTCUSDT".to_string())
            .expect("session exists");
        gate.set_instrument(k, grid("0.01"), grid("0.001"), None)
            .expect("key exists");
        (gate, k)
    }

    fn order(side: i8, price: Option<i64>, qty: i64) -> OrderUnits {
        OrderUnits {
            side,
            price,
            qty,
            booked_qty: 0,
            booked_working: false,
        }
    }

    fn denied(r: Result<Result<(), Denial>, GateError>) -> Denial {
        r.expect("valid input").expect_err("denied")
    }

    #[test]
    fn format_g_matches_python() {
        let cases: &[(f64, &str, &str)] = &[
            (0.0, "0", "0"),
            (-0.0, "-0", "-0"),
            (1.0, "1", "1"),
            (2.5, "2.5", "2.5"),
            (123456.0, "123456", "123456"),
            (1234567.0, "1.23457e+06", "1234567"),
            (999999.5, "1e+06", "999999.5"),
            (9999995.0, "1e+07", "9999995"),
            (0.0001, "0.0001", "0.0001"),
            (1e-05, "1e-05", "1e-05"),
            (0.000123456789, "0.000123457", "0.00012345679"),
            (1e16, "1e+16", "1e+16"),
            (1.25e-05, "1.25e-05", "1.25e-05"),
            (0.1 + 0.2, "0.3", "0.3"),
            (0.0025, "0.0025", "0.0025"),
            (-0.002, "-0.002", "-0.002"),
            (12345.6789, "12345.7", "12345.679"),
            (1e21, "1e+21", "1e+21"),
            (1234565.0, "1.23456e+06", "1234565"),
            (-1234.5, "-1234.5", "-1234.5"),
            (f64::INFINITY, "inf", "inf"),
            (f64::NAN, "nan", "nan"),
        ];
        for &(x, six, eight) in cases {
            assert_eq!(format_g(x, 6), six, "{x:?}");
            assert_eq!(format_g(x, 8), eight, "{x:?}");
        }
        for &(x, p, want) in &[
            (0.125, 2, "0.12"),
            (2.5, 1, "2"),
            (3.5, 1, "4"),
            (0.375, 2, "0.38"),
            (9.5, 1, "1e+01"),
            (99.5, 2, "1e+02"),
        ] {
            assert_eq!(format_g(x, p), want, "{x:?} at {p}");
        }
    }

    #[test]
    fn each_limit_denies_with_its_reason_and_sentence() {
        let (mut gate, k) = gate_with_key();
        let buy = order(BUY, Some(3_000_000), 3); // 30000.00 x 0.003
        assert_eq!(gate.check(k, &buy, None, true, 0.0), Ok(Ok(())));
        gate.set_limits(
            k,
            Limits {
                max_order_qty: Some(0.002),
                ..Limits::default()
            },
        )
        .expect("key exists");
        let d = denied(gate.check(k, &buy, None, true, 0.0));
        assert_eq!(d.reason, Reason::Quantity);
        assert_eq!(d.detail, "qty 0.003 exceeds 0.002");

        gate.set_limits(
            k,
            Limits {
                max_order_notional: Some(10.0),
                ..Limits::default()
            },
        )
        .expect("key exists");
        let d = denied(gate.check(k, &buy, None, true, 0.0));
        assert_eq!(
            (d.reason, d.detail.as_str()),
            (Reason::Notional, "notional 90 exceeds 10")
        );
        // A market order has no price: the reference stands in, and without one the
        // notional is not checked.
        let market = order(BUY, None, 3);
        assert_eq!(gate.check(k, &market, None, true, 0.0), Ok(Ok(())));
        assert_eq!(
            denied(gate.check(k, &market, Some(5000.0), true, 0.0)).detail,
            "notional 15 exceeds 10"
        );

        gate.set_limits(
            k,
            Limits {
                price_band_percent: Some(1.0),
                ..Limits::default()
            },
        )
        .expect("key exists");
        let d = denied(gate.check(k, &buy, None, true, 0.0));
        assert_eq!(
            (d.reason, d.detail.as_str()),
            (Reason::NoReference, "no reference price for BTCUSDT yet")
        );
        assert_eq!(gate.check(k, &buy, Some(30_100.0), true, 0.0), Ok(Ok(())));
        let d = denied(gate.check(k, &buy, Some(31_000.0), true, 0.0));
        assert_eq!(d.reason, Reason::PriceBand);
        assert_eq!(
            d.detail,
            "price 30000 is more than 1% from the reference 31000"
        );
        assert_eq!(
            gate.check(k, &market, None, true, 0.0),
            Ok(Ok(())),
            "market orders have no band"
        );

        gate.set_limits(
            k,
            Limits {
                max_working_orders: Some(2),
                ..Limits::default()
            },
        )
        .expect("key exists");
        gate.book(k, BUY, 2, 5).expect("valid bookkeeping");
        let d = denied(gate.check(k, &buy, None, true, 0.0));
        assert_eq!(
            (d.reason, d.detail.as_str()),
            (Reason::WorkingOrders, "2 working orders already (limit 2)")
        );
        // An update is not a new order.
        assert_eq!(gate.check(k, &buy, None, false, 0.0), Ok(Ok(())));

        gate.set_limits(
            k,
            Limits {
                max_position: Some(0.0075),
                ..Limits::default()
            },
        )
        .expect("key exists");
        let d = denied(gate.check(k, &buy, None, true, 0.0));
        assert_eq!(d.reason, Reason::Position);
        assert_eq!(d.detail, "position could reach 0.008 (limit 0.0075)");
        // The order being updated is left out of its own side's working quantity.
        let update = OrderUnits {
            booked_qty: 2,
            booked_working: true,
            ..buy
        };
        assert_eq!(gate.check(k, &update, None, false, 0.0), Ok(Ok(())));
        // Reducing the position is always allowed.
        gate.set_position(k, 0.01).expect("finite");
        let sell = order(SELL, Some(3_000_000), 3);
        assert_eq!(gate.check(k, &sell, None, true, 0.0), Ok(Ok(())));

        gate.kill_switch = true;
        let d = denied(gate.check(k, &sell, None, true, 0.0));
        assert_eq!(
            (d.reason, d.detail.as_str()),
            (
                Reason::KillSwitch,
                "the kill switch is on; new orders are blocked"
            )
        );
        assert_eq!(
            gate.check(k, &sell, None, false, 0.0),
            Ok(Ok(())),
            "updates pass the kill switch"
        );
    }

    #[test]
    fn session_rate_bucket_and_venue_rule() {
        let (mut gate, k) = gate_with_key();
        let buy = order(BUY, Some(1), 1);
        gate.set_limits(
            k,
            Limits {
                max_orders_per_second: Some(3.0),
                ..Limits::default()
            },
        )
        .expect("key exists");
        let got: Vec<bool> = (0..5)
            .map(|_| {
                gate.check(k, &buy, None, true, 10.0)
                    .expect("valid")
                    .is_ok()
            })
            .collect();
        assert_eq!(got, [true, true, true, false, false]);
        assert_eq!(
            denied(gate.check(k, &buy, None, true, 10.0)).detail,
            "more than 3 orders per second"
        );
        assert!(
            gate.check(k, &buy, None, true, 10.34)
                .expect("valid")
                .is_ok(),
            "a third of a second refills one"
        );
        // Updates never take a token.
        assert!(gate
            .check(k, &buy, None, false, 10.34)
            .expect("valid")
            .is_ok());

        // Without an explicit rate, the venue rule's bucket applies, with its burst.
        let rule = gate
            .add_venue_rule(10.0, 100.0, "venue rule text".to_string(), 0.0)
            .expect("valid rule");
        gate.set_limits(k, Limits::default()).expect("key exists");
        gate.set_venue_rules(k, &[rule]).expect("rule exists");
        assert!(gate.applies(k).expect("key exists"));
        let passed = (0..150)
            .filter(|_| gate.check(k, &buy, None, true, 1.0).expect("valid").is_ok())
            .count();
        assert_eq!(passed, 100);
        let d = denied(gate.check(k, &buy, None, true, 1.0));
        assert_eq!(
            (d.reason, d.detail.as_str()),
            (Reason::Rate, "venue rule text")
        );
        let passed = (0..50)
            .filter(|_| gate.check(k, &buy, None, true, 2.0).expect("valid").is_ok())
            .count();
        assert_eq!(passed, 10, "one second refills `rate` tokens");
        // Two windows (e.g. per 10 s and per minute): each must have a token, and the
        // denial names the one that ran out.
        let minute = gate
            .add_venue_rule(1.0, 5.0, "per minute".to_string(), 2.0)
            .expect("valid rule");
        gate.set_venue_rules(k, &[rule, minute])
            .expect("rules exist");
        let passed = (0..10)
            .filter(|_| gate.check(k, &buy, None, true, 3.0).expect("valid").is_ok())
            .count();
        assert_eq!(passed, 5);
        assert_eq!(
            denied(gate.check(k, &buy, None, true, 3.0)).detail,
            "per minute"
        );
        assert_eq!(gate.set_venue_rules(k, &[]), Ok(()));
        assert!(!gate.applies(k).expect("key exists"));
        gate.set_venue_rules(k, &[rule]).expect("rule exists");
        // An explicit rate replaces the venue rule.
        gate.set_limits(
            k,
            Limits {
                max_orders_per_second: Some(1000.0),
                ..Limits::default()
            },
        )
        .expect("key exists");
        assert!(gate.check(k, &buy, None, true, 2.0).expect("valid").is_ok());
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let (mut gate, k) = gate_with_key();
        let buy = order(BUY, Some(1), 1);
        assert_eq!(
            gate.check(k + 1, &buy, None, true, 0.0),
            Err(GateError::UnknownKey)
        );
        assert_eq!(
            gate.check(k, &order(0, None, 1), None, true, 0.0),
            Err(GateError::BadSide)
        );
        assert_eq!(
            gate.check(k, &order(BUY, None, -1), None, true, 0.0),
            Err(GateError::BadNumber("qty"))
        );
        assert_eq!(
            gate.check(k, &buy, Some(f64::NAN), true, 0.0),
            Err(GateError::BadNumber("reference"))
        );
        assert_eq!(gate.book(k, SELL, -1, 0), Err(GateError::Bookkeeping));
        assert_eq!(gate.book(k, BUY, 1, i64::MAX), Ok(()));
        assert_eq!(gate.book(k, BUY, 0, 1), Err(GateError::Bookkeeping));
        assert_eq!(
            gate.state(k).expect("key").working,
            1,
            "a refused change changes nothing"
        );
        assert_eq!(gate.add_key(7, "X".into()), Err(GateError::UnknownSession));
        assert_eq!(
            gate.add_venue_rule(0.0, 1.0, String::new(), 0.0),
            Err(GateError::BadNumber("rate"))
        );
        assert_eq!(
            gate.add_venue_rule(1.0, 0.5, String::new(), 0.0),
            Err(GateError::BadNumber("burst"))
        );
        assert_eq!(
            gate.set_venue_rules(k, &[3]),
            Err(GateError::UnknownVenueRule)
        );
        let s = gate.add_session();
        let bare = gate.add_key(s, "Y".into()).expect("session exists");
        gate.set_limits(
            bare,
            Limits {
                max_order_qty: Some(1.0),
                ..Limits::default()
            },
        )
        .expect("key");
        assert_eq!(
            gate.check(bare, &buy, None, true, 0.0),
            Err(GateError::NoGrids)
        );
    }

    /// The original checks over a plain list of orders: exposure by a full scan.
    struct Model {
        /// (id, side, unfilled qty in steps, working)
        orders: Vec<(u64, i8, i64, bool)>,
        position: f64,
    }

    impl Model {
        fn exposure(
            &self,
            qty_grid: &Grid,
            side: i8,
            price: Option<f64>,
            qty: i64,
            exclude: Option<u64>,
            reference: Option<f64>,
        ) -> Exposure {
            let mut working = 0;
            let mut same = 0;
            for &(id, s, q, w) in &self.orders {
                if w && Some(id) != exclude {
                    working += 1;
                    if s == side {
                        same += q;
                    }
                }
            }
            Exposure {
                side,
                price,
                qty: qty_grid.to_f64(qty),
                position: self.position,
                working_same_side: qty_grid.to_f64(same),
                working_orders: working,
                reference,
                contract_size: None,
            }
        }
    }

    #[test]
    fn property_incremental_gate_equals_brute_force_scan() {
        let pg = grid("0.5");
        let qg = grid("0.001");
        for seed in 1..40 {
            let mut rng = Rng::new(seed);
            let mut gate = Gate::new();
            let s = gate.add_session();
            let k = gate.add_key(s, "SYM".to_string()).expect("session");
            gate.set_instrument(k, pg, qg, None).expect("key");
            // A second gate checked statelessly with the exposure the scan computes.
            let mut reference_gate = gate.clone();
            let mut model = Model {
                orders: Vec::new(),
                position: 0.0,
            };
            let mut next_id = 0u64;
            let mut now = 0.0;
            for step in 0..2000 {
                now += rng.below(50) as f64 / 1000.0;
                let pick = |r: &mut Rng, n: u64| {
                    if r.below(2) == 0 {
                        None
                    } else {
                        Some(n as f64 / 1000.0 + r.below(n) as f64 / 1000.0)
                    }
                };
                if rng.below(40) == 0 {
                    let limits = Limits {
                        max_order_qty: pick(&mut rng, 50),
                        max_order_notional: pick(&mut rng, 5000),
                        price_band_percent: pick(&mut rng, 20_000),
                        max_working_orders: if rng.below(2) == 0 {
                            None
                        } else {
                            Some(rng.below(20) as i64 + 1)
                        },
                        max_position: pick(&mut rng, 200),
                        max_orders_per_second: if rng.below(3) == 0 {
                            Some(rng.below(50) as f64 + 1.0)
                        } else {
                            None
                        },
                    };
                    gate.set_limits(k, limits).expect("key");
                    reference_gate.set_limits(k, limits).expect("key");
                }
                let side = if rng.below(2) == 0 { BUY } else { SELL };
                let reference = if rng.below(4) == 0 {
                    None
                } else {
                    Some(100.0 + rng.below(40) as f64 / 2.0)
                };
                match rng.below(8) {
                    0..=3 => {
                        // An insert; booked as working if allowed.
                        let price = if rng.below(5) == 0 {
                            None
                        } else {
                            Some(180 + rng.below(60) as i64)
                        };
                        let qty = rng.below(30) as i64 + 1;
                        let got = gate
                            .check(k, &order(side, price, qty), reference, true, now)
                            .expect("valid");
                        let x = model.exposure(
                            &qg,
                            side,
                            price.map(|p| pg.to_f64(p)),
                            qty,
                            None,
                            reference,
                        );
                        let want = reference_gate
                            .check_exposure(k, &x, true, now)
                            .expect("valid");
                        assert_eq!(got, want, "seed {seed} step {step}");
                        if got.is_ok() {
                            gate.book(k, side, 1, qty).expect("bookkeeping");
                            next_id += 1;
                            model.orders.push((next_id, side, qty, true));
                        }
                    }
                    4 => {
                        // A fill of part or all of a working order (a spot position moves).
                        let working: Vec<usize> = (0..model.orders.len())
                            .filter(|&i| model.orders[i].3)
                            .collect();
                        if let Some(&i) =
                            working.get(rng.below(working.len().max(1) as u64) as usize)
                        {
                            let (_, s, q, _) = model.orders[i];
                            let filled = (rng.below(q as u64) + 1) as i64;
                            let done = filled == q;
                            gate.book(k, s, -i64::from(done), -filled)
                                .expect("bookkeeping");
                            model.orders[i].2 -= filled;
                            model.orders[i].3 = !done;
                            let delta = qg.to_f64(filled) * f64::from(s);
                            model.position += delta;
                            gate.set_position(k, model.position).expect("finite");
                        }
                    }
                    5 => {
                        // A cancel.
                        let working: Vec<usize> = (0..model.orders.len())
                            .filter(|&i| model.orders[i].3)
                            .collect();
                        if let Some(&i) =
                            working.get(rng.below(working.len().max(1) as u64) as usize)
                        {
                            let (_, s, q, _) = model.orders[i];
                            gate.book(k, s, -1, -q).expect("bookkeeping");
                            model.orders[i].3 = false;
                        }
                    }
                    _ => {
                        // An update of a working order's size (price as given).
                        let working: Vec<usize> = (0..model.orders.len())
                            .filter(|&i| model.orders[i].3)
                            .collect();
                        if let Some(&i) =
                            working.get(rng.below(working.len().max(1) as u64) as usize)
                        {
                            let (id, s, q, _) = model.orders[i];
                            let new_qty = rng.below(30) as i64 + 1;
                            let price = Some(180 + rng.below(60) as i64);
                            let upd = OrderUnits {
                                side: s,
                                price,
                                qty: new_qty,
                                booked_qty: q,
                                booked_working: true,
                            };
                            let got = gate.check(k, &upd, reference, false, now).expect("valid");
                            let x = model.exposure(
                                &qg,
                                s,
                                price.map(|p| pg.to_f64(p)),
                                new_qty,
                                Some(id),
                                reference,
                            );
                            let want = reference_gate
                                .check_exposure(k, &x, false, now)
                                .expect("valid");
                            assert_eq!(got, want, "seed {seed} step {step} (update)");
                            if got.is_ok() {
                                gate.book(k, s, 0, new_qty - q).expect("bookkeeping");
                                model.orders[i].2 = new_qty;
                            }
                        }
                    }
                }
                let st = gate.state(k).expect("key");
                let live: Vec<_> = model.orders.iter().filter(|o| o.3).collect();
                assert_eq!(st.working, live.len() as i64);
                assert_eq!(
                    st.working_buy,
                    live.iter().filter(|o| o.1 == BUY).map(|o| o.2).sum::<i64>()
                );
                assert_eq!(
                    st.working_sell,
                    live.iter()
                        .filter(|o| o.1 == SELL)
                        .map(|o| o.2)
                        .sum::<i64>()
                );
            }
        }
    }
}
