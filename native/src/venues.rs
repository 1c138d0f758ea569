//! Scanners for the venues' hot JSON messages: trades and order updates.
//!
//! Field facts are from protocols.md (A.7, A.8, B.4, C.4). Trades come out in grid units
//! (the instrument is known from the subscription); order updates keep spans of the
//! venue's text so that the caller pays for a Python string only when it reads a field.

use crate::json::{
    binance_payload, bool_fast, decimal_fast, int_fast, literal, parse_i64, plain_string_end,
    Cursor, FastGrid, Result, ScanError, Span,
};

/// Buy side (bid, or a buyer-initiated trade).
pub const BUY: i8 = 1;
/// Sell side (ask, or a seller-initiated trade).
pub const SELL: i8 = -1;

/// A public trade in grid units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Trade {
    pub price: i64,
    pub qty: i64,
    /// `BUY` if the taker bought, `SELL` if the taker sold.
    pub aggressor_side: i8,
    /// Venue trade time, ms since the epoch.
    pub time: i64,
    /// The venue's trade id, or -1 when it is not numeric (Bybit derivatives use UUIDs).
    pub trade_id: i64,
}

fn missing<T>(buf: &[u8], field: &'static str) -> Result<T> {
    Err(ScanError::Missing {
        pos: buf.len(),
        field,
    })
}

/// Envelopes a Binance event may arrive in: a combined-stream `{"stream","data"}` or a
/// WS-API user-data `{"subscriptionId","event"}`, and a user-data event relayed through a
/// combined stream carries both. Anything nested deeper is refused, so that a hostile
/// frame cannot recurse the stack away.
pub const BINANCE_ENVELOPES: u32 = 2;

/// Walks a message that may be wrapped in a combined-stream envelope
/// (`{"stream":..,"data":{..}}`) or a WS-API user-data envelope
/// (`{"subscriptionId":..,"event":{..}}`), calling `each` for the inner object's keys.
fn binance_object<'a, F>(cur: &mut Cursor<'a>, each: &mut F) -> Result<()>
where
    F: FnMut(&mut Cursor<'a>, &'a [u8]) -> Result<()>,
{
    binance_object_within(cur, each, BINANCE_ENVELOPES)
}

fn binance_object_within<'a, F>(cur: &mut Cursor<'a>, each: &mut F, envelopes: u32) -> Result<()>
where
    F: FnMut(&mut Cursor<'a>, &'a [u8]) -> Result<()>,
{
    cur.object(|c, key| match key {
        b"data" | b"event" if c.peek() == Some(b'{') => {
            if envelopes == 0 {
                return Err(ScanError::Malformed {
                    pos: c.pos,
                    what: "envelopes nested too deep",
                });
            }
            binance_object_within(c, each, envelopes - 1)
        }
        _ => each(c, key),
    })
}

fn side_of(text: &[u8], at: usize) -> Result<i8> {
    match text {
        b"BUY" | b"Buy" | b"buy" => Ok(BUY),
        b"SELL" | b"Sell" | b"sell" => Ok(SELL),
        _ => Err(ScanError::Malformed {
            pos: at,
            what: "unknown side",
        }),
    }
}

/// The spot `trade` / `aggTrade` events in their documented field order, read
/// straight through with no per-key dispatch (whose mispredicted jumps cost more than
/// the reading). Anything else returns None and takes the general path.
#[inline]
fn binance_trade_in_order(b: &[u8], price: &FastGrid, qty: &FastGrid) -> Option<Trade> {
    let (agg, i) = match literal(b, 0, b"{\"e\":\"trade\",\"E\":") {
        Some(i) => (false, i),
        None => (true, literal(b, 0, b"{\"e\":\"aggTrade\",\"E\":")?),
    };
    let (_, i) = int_fast(b, i)?;
    let i = literal(b, i, b",\"s\":\"")?;
    let i = plain_string_end(b, i)?;
    let i = literal(b, i, if agg { b"\",\"a\":" } else { b"\",\"t\":" })?;
    let (trade_id, i) = int_fast(b, i)?;
    let i = literal(b, i, b",\"p\":\"")?;
    let (p, i) = decimal_fast(b, i, price)?;
    let i = literal(b, i, b"\",\"q\":\"")?;
    let (q, mut i) = decimal_fast(b, i, qty)?;
    i += 1;
    if agg {
        i = literal(b, i, b",\"f\":")?;
        i = int_fast(b, i)?.1;
        i = literal(b, i, b",\"l\":")?;
        i = int_fast(b, i)?.1;
    }
    let i = literal(b, i, b",\"T\":")?;
    let (time, i) = int_fast(b, i)?;
    let i = literal(b, i, b",\"m\":")?;
    let (maker_buys, i) = bool_fast(b, i)?;
    let i = literal(b, i, b",\"M\":")?;
    let (_, i) = bool_fast(b, i)?;
    if literal(b, i, b"}")? != b.len() {
        return None;
    }
    Some(Trade {
        price: p,
        qty: q,
        aggressor_side: if maker_buys { SELL } else { BUY },
        time,
        trade_id,
    })
}

/// A Binance `trade` or `aggTrade` event (spot or futures).
pub fn binance_trade(buf: &[u8], price: &FastGrid, qty: &FastGrid) -> Result<Trade> {
    if let Some(t) = binance_trade_in_order(binance_payload(buf), price, qty) {
        return Ok(t);
    }
    let mut t = Trade {
        trade_id: -1,
        ..Trade::default()
    };
    let (mut has_p, mut has_q, mut has_m, mut has_t) = (false, false, false, false);
    let mut cur = Cursor::new(buf);
    binance_object(&mut cur, &mut |c, key| {
        match key {
            b"p" => {
                t.price = c.units_str(price)?;
                has_p = true;
            }
            b"q" => {
                t.qty = c.units_str(qty)?;
                has_q = true;
            }
            // m: the buyer is the maker, so the seller took liquidity.
            b"m" => {
                t.aggressor_side = if c.boolean()? { SELL } else { BUY };
                has_m = true;
            }
            b"T" => {
                t.time = c.int()?;
                has_t = true;
            }
            b"t" | b"a" => t.trade_id = c.int()?,
            _ => c.skip()?,
        }
        Ok(())
    })?;
    cur.end()?;
    if !has_p {
        return missing(buf, "p");
    }
    if !has_q {
        return missing(buf, "q");
    }
    if !has_m {
        return missing(buf, "m");
    }
    if !has_t {
        return missing(buf, "T");
    }
    Ok(t)
}

/// Every trade of an OKX `trades` push (`data[]` of px, sz, side, ts, tradeId).
pub fn okx_trades(
    buf: &[u8],
    price: &FastGrid,
    qty: &FastGrid,
    out: &mut Vec<Trade>,
) -> Result<()> {
    let mut cur = Cursor::new(buf);
    let mut has_data = false;
    cur.object(|c, key| {
        if key != b"data" {
            return c.skip();
        }
        has_data = true;
        c.array(|c| {
            let mut t = Trade {
                trade_id: -1,
                ..Trade::default()
            };
            let mut seen = 0u8;
            c.object(|c, k| {
                match k {
                    b"px" => {
                        t.price = c.units_str(price)?;
                        seen |= 1;
                    }
                    b"sz" => {
                        t.qty = c.units_str(qty)?;
                        seen |= 2;
                    }
                    b"side" => {
                        let (s, _) = c.string()?;
                        t.aggressor_side = side_of(s.of(c.buf), s.start as usize)?;
                        seen |= 4;
                    }
                    b"ts" => {
                        t.time = c.int_or_string()?;
                        seen |= 8;
                    }
                    b"tradeId" => t.trade_id = c.int_or_string()?,
                    _ => c.skip()?,
                }
                Ok(())
            })?;
            if seen != 15 {
                return Err(ScanError::Missing {
                    pos: c.pos,
                    field: "px, sz, side and ts",
                });
            }
            out.push(t);
            Ok(())
        })
    })?;
    cur.end()?;
    if !has_data {
        return missing(buf, "data");
    }
    Ok(())
}

/// Every trade of a Bybit `publicTrade.{symbol}` push (`data[]` of p, v, S, T, i).
pub fn bybit_trades(
    buf: &[u8],
    price: &FastGrid,
    qty: &FastGrid,
    out: &mut Vec<Trade>,
) -> Result<()> {
    let mut cur = Cursor::new(buf);
    let mut has_data = false;
    cur.object(|c, key| {
        if key != b"data" {
            return c.skip();
        }
        has_data = true;
        c.array(|c| {
            let mut t = Trade {
                trade_id: -1,
                ..Trade::default()
            };
            let mut seen = 0u8;
            c.object(|c, k| {
                match k {
                    b"p" => {
                        t.price = c.units_str(price)?;
                        seen |= 1;
                    }
                    b"v" => {
                        t.qty = c.units_str(qty)?;
                        seen |= 2;
                    }
                    b"S" => {
                        let (s, _) = c.string()?;
                        t.aggressor_side = side_of(s.of(c.buf), s.start as usize)?;
                        seen |= 4;
                    }
                    b"T" => {
                        t.time = c.int_or_string()?;
                        seen |= 8;
                    }
                    b"i" => {
                        let (s, _) = c.string()?;
                        t.trade_id = parse_i64(s.of(c.buf), s.start as usize).unwrap_or(-1);
                    }
                    _ => c.skip()?,
                }
                Ok(())
            })?;
            if seen != 15 {
                return Err(ScanError::Missing {
                    pos: c.pos,
                    field: "p, v, S and T",
                });
            }
            out.push(t);
            Ok(())
        })
    })?;
    cur.end()?;
    if !has_data {
        return missing(buf, "data");
    }
    Ok(())
}

/// The text fields of a normalised order update, by index into `OrderFields::spans`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Field {
    Symbol,
    ClientOrderId,
    OrderId,
    OrderType,
    TimeInForce,
    Status,
    ExecType,
    Price,
    Qty,
    LastQty,
    LastPrice,
    CumQty,
    AvgPrice,
    Fee,
    FeeAsset,
    TradeId,
    OrigClientOrderId,
    RejectReason,
    CumQuote,
    LeavesQty,
}

pub const FIELD_COUNT: usize = 20;

/// Which venue message an order update came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderSource {
    #[default]
    BinanceSpot,
    BinanceFutures,
    Okx,
    Bybit,
}

/// Spans of one order update's fields in the frame, plus the fields read as numbers.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderFields {
    pub source: OrderSource,
    pub spans: [Span; FIELD_COUNT],
    /// Bit `i` set: field `i` holds JSON escapes.
    pub escaped: u32,
    pub side: i8,
    /// Event (or update) time, ms.
    pub exch_time: i64,
    /// Fill (transaction) time, ms; 0 if none.
    pub trade_time: i64,
    pub is_maker: bool,
    pub reduce_only: bool,
}

impl OrderFields {
    fn set(&mut self, f: Field, span: Span, escaped: bool) {
        self.spans[f as usize] = span;
        if escaped {
            self.escaped |= 1 << (f as u32);
        }
    }
}

/// The text of any scalar: a string's content, a number's or literal's text, or an empty
/// span for `null`.
fn scalar(c: &mut Cursor<'_>) -> Result<(Span, bool)> {
    match c.peek() {
        Some(b'"') => c.string(),
        Some(b'n') | Some(b't') | Some(b'f') => {
            let start = c.pos;
            c.skip()?;
            if c.buf[start] == b'n' {
                Ok((
                    Span {
                        start: start as u32,
                        end: start as u32,
                    },
                    false,
                ))
            } else {
                Ok((
                    Span {
                        start: start as u32,
                        end: c.pos as u32,
                    },
                    false,
                ))
            }
        }
        Some(b'{') | Some(b'[') => Err(ScanError::Malformed {
            pos: c.pos,
            what: "expected a scalar",
        }),
        _ => Ok((c.number()?, false)),
    }
}

fn flag(c: &mut Cursor<'_>) -> Result<bool> {
    let (s, _) = scalar(c)?;
    Ok(matches!(s.of(c.buf), b"true" | b"True"))
}

/// Binance spot `executionReport` or futures `ORDER_TRADE_UPDATE` (either envelope).
pub fn binance_order(buf: &[u8]) -> Result<OrderFields> {
    let mut o = OrderFields::default();
    let mut event: Option<Span> = None;
    let mut cur = Cursor::new(buf);
    binance_object(&mut cur, &mut |c, key| {
        match key {
            b"e" => event = Some(c.string()?.0),
            b"E" => o.exch_time = c.int()?,
            b"o" if c.peek() == Some(b'{') => {
                o.source = OrderSource::BinanceFutures;
                c.object(|c, k| binance_order_field(c, k, &mut o, true))?;
            }
            _ => binance_order_field(c, key, &mut o, false)?,
        }
        Ok(())
    })?;
    cur.end()?;
    let event = match event {
        Some(e) => e.of(buf),
        None => return missing(buf, "e"),
    };
    match event {
        b"executionReport" => o.source = OrderSource::BinanceSpot,
        b"ORDER_TRADE_UPDATE" => {
            if o.source != OrderSource::BinanceFutures {
                return missing(buf, "o");
            }
        }
        _ => {
            return Err(ScanError::Malformed {
                pos: 0,
                what: "not an order update event",
            })
        }
    }
    if o.side == 0 {
        return missing(buf, "S");
    }
    Ok(o)
}

fn binance_order_field(
    c: &mut Cursor<'_>,
    key: &[u8],
    o: &mut OrderFields,
    inner: bool,
) -> Result<()> {
    let f = match key {
        b"s" => Field::Symbol,
        b"c" => Field::ClientOrderId,
        b"i" => Field::OrderId,
        b"o" => Field::OrderType,
        b"f" => Field::TimeInForce,
        b"X" => Field::Status,
        b"x" => Field::ExecType,
        b"p" => Field::Price,
        b"q" => Field::Qty,
        b"l" => Field::LastQty,
        b"L" => Field::LastPrice,
        b"z" => Field::CumQty,
        b"ap" => Field::AvgPrice,
        b"n" => Field::Fee,
        b"N" => Field::FeeAsset,
        b"t" => Field::TradeId,
        b"C" => Field::OrigClientOrderId,
        b"r" => Field::RejectReason,
        b"Z" => Field::CumQuote,
        b"S" => {
            let (s, _) = c.string()?;
            o.side = side_of(s.of(c.buf), s.start as usize)?;
            return Ok(());
        }
        b"T" => {
            o.trade_time = c.int()?;
            return Ok(());
        }
        b"E" if inner => {
            o.exch_time = c.int()?;
            return Ok(());
        }
        b"m" => {
            o.is_maker = c.boolean()?;
            return Ok(());
        }
        b"R" => {
            o.reduce_only = c.boolean()?;
            return Ok(());
        }
        _ => return c.skip(),
    };
    let (span, esc) = scalar(c)?;
    o.set(f, span, esc);
    Ok(())
}

/// Every order of an OKX `orders` channel push.
pub fn okx_orders(buf: &[u8], out: &mut Vec<OrderFields>) -> Result<()> {
    let mut cur = Cursor::new(buf);
    let mut has_data = false;
    cur.object(|c, key| {
        if key != b"data" {
            return c.skip();
        }
        has_data = true;
        c.array(|c| {
            let mut o = OrderFields {
                source: OrderSource::Okx,
                ..OrderFields::default()
            };
            c.object(|c, k| {
                let f = match k {
                    b"instId" => Field::Symbol,
                    b"clOrdId" => Field::ClientOrderId,
                    b"ordId" => Field::OrderId,
                    b"ordType" => Field::OrderType,
                    b"state" => Field::Status,
                    b"px" => Field::Price,
                    b"sz" => Field::Qty,
                    b"fillSz" => Field::LastQty,
                    b"fillPx" => Field::LastPrice,
                    b"accFillSz" => Field::CumQty,
                    b"avgPx" => Field::AvgPrice,
                    b"fillFee" => Field::Fee,
                    b"fillFeeCcy" => Field::FeeAsset,
                    b"tradeId" => Field::TradeId,
                    b"cancelSource" => Field::RejectReason,
                    b"side" => {
                        let (s, _) = c.string()?;
                        o.side = side_of(s.of(c.buf), s.start as usize)?;
                        return Ok(());
                    }
                    b"uTime" => {
                        o.exch_time = c.int_or_string()?;
                        return Ok(());
                    }
                    b"fillTime" => {
                        let (s, _) = scalar(c)?;
                        if !s.is_empty() {
                            o.trade_time = parse_i64(s.of(c.buf), s.start as usize)?;
                        }
                        return Ok(());
                    }
                    b"execType" => {
                        o.is_maker = scalar(c)?.0.of(c.buf) == b"M";
                        return Ok(());
                    }
                    b"reduceOnly" => {
                        o.reduce_only = flag(c)?;
                        return Ok(());
                    }
                    _ => return c.skip(),
                };
                let (span, esc) = scalar(c)?;
                o.set(f, span, esc);
                Ok(())
            })?;
            if o.side == 0 {
                return Err(ScanError::Missing {
                    pos: c.pos,
                    field: "side",
                });
            }
            out.push(o);
            Ok(())
        })
    })?;
    cur.end()?;
    if !has_data {
        return missing(buf, "data");
    }
    Ok(())
}

/// Every order of a Bybit private `order` push.
pub fn bybit_orders(buf: &[u8], out: &mut Vec<OrderFields>) -> Result<()> {
    let mut cur = Cursor::new(buf);
    let mut has_data = false;
    cur.object(|c, key| {
        if key != b"data" {
            return c.skip();
        }
        has_data = true;
        c.array(|c| {
            let mut o = OrderFields {
                source: OrderSource::Bybit,
                ..OrderFields::default()
            };
            c.object(|c, k| {
                let f = match k {
                    b"symbol" => Field::Symbol,
                    b"orderLinkId" => Field::ClientOrderId,
                    b"orderId" => Field::OrderId,
                    b"orderType" => Field::OrderType,
                    b"timeInForce" => Field::TimeInForce,
                    b"orderStatus" => Field::Status,
                    b"price" => Field::Price,
                    b"qty" => Field::Qty,
                    b"cumExecQty" => Field::CumQty,
                    b"avgPrice" => Field::AvgPrice,
                    b"cumExecFee" => Field::Fee,
                    b"feeCurrency" => Field::FeeAsset,
                    b"rejectReason" => Field::RejectReason,
                    b"cumExecValue" => Field::CumQuote,
                    b"leavesQty" => Field::LeavesQty,
                    b"cancelType" => Field::ExecType,
                    b"side" => {
                        let (s, _) = c.string()?;
                        o.side = side_of(s.of(c.buf), s.start as usize)?;
                        return Ok(());
                    }
                    b"updatedTime" => {
                        o.exch_time = c.int_or_string()?;
                        return Ok(());
                    }
                    b"reduceOnly" => {
                        o.reduce_only = flag(c)?;
                        return Ok(());
                    }
                    _ => return c.skip(),
                };
                let (span, esc) = scalar(c)?;
                o.set(f, span, esc);
                Ok(())
            })?;
            if o.side == 0 {
                return Err(ScanError::Missing {
                    pos: c.pos,
                    field: "side",
                });
            }
            out.push(o);
            Ok(())
        })
    })?;
    cur.end()?;
    if !has_data {
        return missing(buf, "data");
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod samples {
    pub const BINANCE_TRADE: &[u8] = br#"{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.00100000","q":"100.00000000","T":1672515782136,"m":true,"M":true}"#;
    pub const BINANCE_AGG: &[u8] = br#"{"e":"aggTrade","E":1672515782136,"s":"BNBBTC","a":12345,"p":"0.001","q":"100","f":100,"l":105,"T":1672515782136,"m":false,"M":true}"#;
    pub const EXEC_REPORT: &[u8] = br#"{"e":"executionReport","E":1499405658658,"s":"ETHBTC","c":"mUvoqJxFIILMdfAW5iGSOW","S":"BUY","o":"LIMIT","f":"GTC","q":"1.00000000","p":"0.10264410","P":"0.00000000","F":"0.00000000","g":-1,"C":"","x":"TRADE","X":"PARTIALLY_FILLED","r":"NONE","i":4293153,"l":"0.50000000","z":"0.50000000","L":"0.10264410","n":"0.00010000","N":"BNB","T":1499405658657,"t":77,"I":8641984,"w":true,"m":false,"M":false,"O":1499405658657,"Z":"0.05132205","Y":"0.05132205","Q":"0.00000000","W":1499405658657,"V":"NONE"}"#;
    pub const ORDER_TRADE_UPDATE: &[u8] = br#"{"e":"ORDER_TRADE_UPDATE","E":1568879465651,"T":1568879465650,"o":{"s":"BTCUSDT","c":"TEST","S":"SELL","o":"TRAILING_STOP_MARKET","f":"GTC","q":"0.001","p":"0","ap":"0","sp":"7103.04","x":"NEW","X":"NEW","i":8886774,"l":"0","z":"0","L":"0","N":"USDT","n":"0","T":1568879465650,"t":0,"b":"0","a":"9.91","m":false,"R":false,"wt":"CONTRACT_PRICE","ot":"TRAILING_STOP_MARKET","ps":"LONG","cp":false,"AP":"7476.89","cr":"5.0","pP":false,"si":0,"ss":0,"rp":"0","V":"EXPIRE_TAKER","pm":"OPPONENT","gtd":0}}"#;
    pub const OKX_TRADES: &[u8] = br#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","ts":"1630048897897","count":"3","source":"0","seqId":1234}]}"#;
    pub const BYBIT_TRADES: &[u8] = br#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick","i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false,"seq":1783284617},{"T":1672304486866,"s":"BTCUSDT","S":"Sell","v":"0.002","p":"16578.00","i":"2290000000061666327","BT":false}]}"#;
    pub const BYBIT_ORDER: &[u8] = br#"{"id":"5923240c6880ab-c59f-420b-9adb-3639adc9dd90","topic":"order","creationTime":1672364262474,"data":[{"symbol":"ETH-30DEC22-1400-C","orderId":"5cf98598-39a7-459e-97bf-76ca765ee020","side":"Sell","orderType":"Market","cancelType":"UNKNOWN","price":"72.5","qty":"1","orderIv":"","timeInForce":"IOC","orderStatus":"Filled","orderLinkId":"","lastPriceOnCreated":"","reduceOnly":false,"leavesQty":"","leavesValue":"","cumExecQty":"1","cumExecValue":"75","avgPrice":"75","blockTradeId":"","positionIdx":0,"cumExecFee":"0.358635","createdTime":"1672364262444","updatedTime":"1672364262457","rejectReason":"EC_NoError","stopOrderType":"","tpslMode":"","triggerPrice":"","takeProfit":"","stopLoss":"","tpTriggerBy":"","slTriggerBy":"","tpLimitPrice":"","slLimitPrice":"","triggerDirection":0,"triggerBy":"","closeOnTrigger":false,"category":"option","placeType":"price","smpType":"None","smpGroup":0,"smpOrderId":"","feeCurrency":""}]}"#;
}

#[cfg(test)]
mod tests {
    use super::samples::*;
    use super::*;
    use crate::fixed::Grid;

    fn grid(s: &str) -> FastGrid {
        FastGrid::from_grid(&Grid::parse(s.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn binance_trade_fields_and_aggressor() {
        let t = binance_trade(BINANCE_TRADE, &grid("0.00001"), &grid("0.01")).unwrap();
        assert_eq!(
            t,
            Trade {
                price: 100,
                qty: 10000,
                aggressor_side: SELL,
                time: 1672515782136,
                trade_id: 12345
            }
        );
        let t = binance_trade(BINANCE_AGG, &grid("0.00001"), &grid("1")).unwrap();
        assert_eq!((t.aggressor_side, t.trade_id, t.qty), (BUY, 12345, 100));
        let wrapped = [
            &br#"{"stream":"bnbbtc@trade","data":"#[..],
            BINANCE_TRADE,
            b"}",
        ]
        .concat();
        assert_eq!(
            binance_trade(&wrapped, &grid("0.00001"), &grid("0.01"))
                .unwrap()
                .price,
            100
        );
    }

    #[test]
    fn in_order_path_agrees_with_general_path() {
        let (pg, qg) = (grid("0.00001"), grid("0.01"));
        for frame in [BINANCE_TRADE, BINANCE_AGG] {
            let fast = binance_trade_in_order(frame, &pg, &qg).expect("documented order");
            let mut spaced = frame.to_vec();
            spaced.insert(1, b' ');
            assert!(binance_trade_in_order(&spaced, &pg, &qg).is_none());
            assert_eq!(binance_trade(&spaced, &pg, &qg).unwrap(), fast);
            let wrapped = [&br#"{"stream":"bnbbtc@trade","data":"#[..], frame, b"}"].concat();
            let inner = crate::json::binance_payload(&wrapped);
            assert_eq!(inner, frame);
            assert_eq!(binance_trade_in_order(inner, &pg, &qg), Some(fast));
        }
        assert_eq!(
            crate::json::binance_payload(b"{\"stream\":\"x\",\"data\":"),
            b"{\"stream\":\"x\",\"data\":"
        );
    }

    #[test]
    fn binance_trade_errors() {
        let g = grid("0.01");
        assert!(matches!(
            binance_trade(br#"{"p":"1","q":"1","T":1}"#, &g, &g),
            Err(ScanError::Missing { field: "m", .. })
        ));
        let e = binance_trade(br#"{"p":"1.001","q":"1","m":true,"T":1}"#, &g, &g).unwrap_err();
        assert_eq!(e, ScanError::OffGrid { pos: 6 });
        assert!(binance_trade(b"", &g, &g).is_err());
        assert!(binance_trade(br#"{"p":"1","q":"1","m":true,"T":1} x"#, &g, &g).is_err());
    }

    #[test]
    fn okx_and_bybit_trades() {
        let mut out = Vec::new();
        okx_trades(OKX_TRADES, &grid("0.1"), &grid("0.00000001"), &mut out).unwrap();
        assert_eq!(
            out,
            vec![Trade {
                price: 422199,
                qty: 12060306,
                aggressor_side: BUY,
                time: 1630048897897,
                trade_id: 130639474
            }]
        );
        out.clear();
        bybit_trades(BYBIT_TRADES, &grid("0.5"), &grid("0.001"), &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(
            (
                out[0].price,
                out[0].qty,
                out[0].aggressor_side,
                out[0].trade_id
            ),
            (33157, 1, BUY, -1)
        );
        assert_eq!(
            (out[1].aggressor_side, out[1].trade_id),
            (SELL, 2290000000061666327)
        );
    }

    fn wrap(n: usize, key: &str, inner: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.extend_from_slice(format!("{{\"{key}\":").as_bytes());
        }
        out.extend_from_slice(inner);
        out.extend(std::iter::repeat_n(b'}', n));
        out
    }

    #[test]
    fn envelopes_are_followed_to_the_documented_depth_only() {
        let (p, q) = (grid("0.00000001"), grid("0.00000001"));
        // A user-data event relayed through a combined stream: two envelopes.
        let mut two = br#"{"stream":"k","data":{"subscriptionId":0,"event":"#.to_vec();
        two.extend_from_slice(EXEC_REPORT);
        two.extend_from_slice(b"}}");
        assert_eq!(binance_order(&two).unwrap().side, BUY);
        let three = wrap(3, "event", EXEC_REPORT);
        let err = binance_order(&three).unwrap_err();
        assert_eq!(err.pos(), r#"{"event":{"event":{"event":"#.len());
        assert!(binance_trade(&wrap(2, "data", BINANCE_TRADE), &p, &q).is_ok());
        assert!(binance_trade(&wrap(3, "data", BINANCE_TRADE), &p, &q).is_err());
        // Deep enough to overflow the stack if it were followed.
        for key in ["data", "event"] {
            let deep = wrap(200_000, key, BINANCE_TRADE);
            assert!(matches!(
                binance_trade(&deep, &p, &q),
                Err(ScanError::Malformed { .. })
            ));
            assert!(binance_order(&deep).is_err());
            let mut out = Vec::new();
            assert!(okx_trades(&deep, &p, &q, &mut out).is_err());
            assert!(bybit_trades(&deep, &p, &q, &mut out).is_err());
            let mut orders = Vec::new();
            assert!(okx_orders(&deep, &mut orders).is_err());
            assert!(bybit_orders(&deep, &mut orders).is_err());
        }
    }

    #[test]
    fn binance_order_updates() {
        let o = binance_order(EXEC_REPORT).unwrap();
        assert_eq!(o.source, OrderSource::BinanceSpot);
        let t = |f: Field| o.spans[f as usize].of(EXEC_REPORT);
        assert_eq!(t(Field::ClientOrderId), b"mUvoqJxFIILMdfAW5iGSOW");
        assert_eq!(t(Field::OrderId), b"4293153");
        assert_eq!(t(Field::Status), b"PARTIALLY_FILLED");
        assert_eq!(t(Field::LastQty), b"0.50000000");
        assert_eq!(t(Field::CumQuote), b"0.05132205");
        assert_eq!(
            (o.side, o.trade_time, o.exch_time, o.is_maker),
            (BUY, 1499405658657, 1499405658658, false)
        );
        let o = binance_order(ORDER_TRADE_UPDATE).unwrap();
        assert_eq!(o.source, OrderSource::BinanceFutures);
        let t = |f: Field| o.spans[f as usize].of(ORDER_TRADE_UPDATE);
        assert_eq!(t(Field::OrderType), b"TRAILING_STOP_MARKET");
        assert_eq!(t(Field::Symbol), b"BTCUSDT");
        assert_eq!(
            (o.side, o.exch_time, o.trade_time),
            (SELL, 1568879465651, 1568879465650)
        );
        assert!(binance_order(BINANCE_TRADE).is_err());
    }

    #[test]
    fn bybit_order_update() {
        let mut out = Vec::new();
        bybit_orders(BYBIT_ORDER, &mut out).unwrap();
        let o = out[0];
        let t = |f: Field| o.spans[f as usize].of(BYBIT_ORDER);
        assert_eq!(t(Field::Status), b"Filled");
        assert_eq!(t(Field::AvgPrice), b"75");
        assert_eq!(t(Field::ClientOrderId), b"");
        assert_eq!(
            (o.side, o.exch_time, o.reduce_only),
            (SELL, 1672364262457, false)
        );
    }
}
