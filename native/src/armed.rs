//! Orders armed ahead of time: a request built in full when its trigger is set, but for
//! the venue timestamp and the signature over it, which are filled in when it fires.
//!
//! Rendering costs one copy of the template, the timestamp digits and, where the venue
//! signs each request, one HMAC over the signed part: a trade that fires a trigger
//! becomes the bytes to write in a single call, with no Python between the two.

use crate::sign::{Signer, HEX};

/// What is filled in at fire time.
#[derive(Clone)]
pub enum Stamp {
    /// Nothing: the request is complete as built (venues that authenticate the
    /// connection rather than each request, and whose orders carry no clock).
    Fixed,
    /// The millisecond timestamp, between `head` and `tail`.
    Millis,
    /// Binance signed endpoints: the timestamp ends the query, the query from byte
    /// `signed_from` of `head` through the timestamp is signed with HMAC-SHA256, and
    /// `&signature=<hex>` follows it before `tail`.
    BinanceQuery { signed_from: usize, signer: Signer },
}

/// One armed request.
#[derive(Clone)]
pub struct Armed {
    head: Vec<u8>,
    tail: Vec<u8>,
    stamp: Stamp,
    /// Added to the local clock: the venue's clock minus ours, as last measured.
    clock_offset_ms: i64,
}

/// Why a template cannot be armed.
#[derive(Debug, PartialEq, Eq)]
pub enum ArmError {
    SignedFromOutOfRange { signed_from: usize, head_len: usize },
}

impl std::fmt::Display for ArmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArmError::SignedFromOutOfRange {
                signed_from,
                head_len,
            } => write!(
                f,
                "signed_from {signed_from} is beyond the head's {head_len} bytes"
            ),
        }
    }
}

const SIGNATURE: &[u8] = b"&signature=";

impl Armed {
    pub fn fixed(data: Vec<u8>) -> Armed {
        Armed {
            head: data,
            tail: Vec::new(),
            stamp: Stamp::Fixed,
            clock_offset_ms: 0,
        }
    }

    pub fn millis(head: Vec<u8>, tail: Vec<u8>, clock_offset_ms: i64) -> Armed {
        Armed {
            head,
            tail,
            stamp: Stamp::Millis,
            clock_offset_ms,
        }
    }

    pub fn binance_query(
        head: Vec<u8>,
        tail: Vec<u8>,
        signed_from: usize,
        secret: &[u8],
        clock_offset_ms: i64,
    ) -> Result<Armed, ArmError> {
        if signed_from > head.len() {
            return Err(ArmError::SignedFromOutOfRange {
                signed_from,
                head_len: head.len(),
            });
        }
        Ok(Armed {
            head,
            tail,
            stamp: Stamp::BinanceQuery {
                signed_from,
                signer: Signer::new(secret),
            },
            clock_offset_ms,
        })
    }

    /// Appends the complete request for local time `now_ms` to `out`.
    pub fn render(&self, now_ms: i64, out: &mut Vec<u8>) {
        let start = out.len();
        out.reserve(self.head.len() + self.tail.len() + 96);
        out.extend_from_slice(&self.head);
        match &self.stamp {
            Stamp::Fixed => return,
            Stamp::Millis => push_i64(out, now_ms.saturating_add(self.clock_offset_ms)),
            Stamp::BinanceQuery {
                signed_from,
                signer,
            } => {
                push_i64(out, now_ms.saturating_add(self.clock_offset_ms));
                let tag = signer.digest(&out[start + signed_from..]);
                out.extend_from_slice(SIGNATURE);
                for b in tag {
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 15)]);
                }
            }
        }
        out.extend_from_slice(&self.tail);
    }
}

/// Decimal digits of `v` (with a minus sign if negative).
fn push_i64(out: &mut Vec<u8>, v: i64) {
    let mut digits = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::to_hex;

    fn rendered(armed: &Armed, now_ms: i64) -> String {
        let mut out = Vec::new();
        armed.render(now_ms, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn binance_signed_query_matches_signing_the_whole_query() {
        // Binance's documented HMAC example: this secret over this query gives this tag.
        let secret = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
        let query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1\
                     &price=0.1&recvWindow=5000&timestamp=";
        let head = format!("POST /api/v3/order?{query}");
        let signed_from = head.len() - query.len();
        let armed = Armed::binance_query(
            head.into_bytes(),
            b" HTTP/1.1\r\n\r\n".to_vec(),
            signed_from,
            secret,
            0,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let text = rendered(&armed, 1_499_827_319_559);
        assert_eq!(
            text,
            "POST /api/v3/order?symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC\
             &quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559\
             &signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71 \
             HTTP/1.1\r\n\r\n"
        );
    }

    #[test]
    fn clock_offset_moves_the_timestamp_and_the_signature_follows() {
        let armed = Armed::binance_query(b"GET /x?a=1&timestamp=".to_vec(), vec![], 7, b"k", -5)
            .unwrap_or_else(|e| panic!("{e}"));
        let text = rendered(&armed, 1000);
        let expected_tag = to_hex(&Signer::new(b"k").digest(b"a=1&timestamp=995"));
        assert_eq!(
            text,
            format!("GET /x?a=1&timestamp=995&signature={expected_tag}")
        );
    }

    #[test]
    fn millis_and_fixed() {
        let stamped = Armed::millis(b"{\"ts\":\"".to_vec(), b"\"}".to_vec(), 3);
        assert_eq!(rendered(&stamped, 10), "{\"ts\":\"13\"}");
        assert_eq!(rendered(&stamped, -20), "{\"ts\":\"-17\"}");
        assert_eq!(rendered(&Armed::fixed(b"abc".to_vec()), 5), "abc");
    }

    #[test]
    fn render_appends() {
        let mut out = b"prefix|".to_vec();
        Armed::millis(b"t=".to_vec(), vec![], 0).render(i64::MAX, &mut out);
        assert_eq!(out, b"prefix|t=9223372036854775807");
        out.clear();
        Armed::millis(vec![], vec![], i64::MIN).render(-1, &mut out);
        assert_eq!(out, b"-9223372036854775808");
    }

    #[test]
    fn signed_from_beyond_the_head_is_refused() {
        assert_eq!(
            Armed::binance_query(b"abc".to_vec(), vec![], 4, b"k", 0).err(),
            Some(ArmError::SignedFromOutOfRange {
                signed_from: 4,
                head_len: 3
            })
        );
    }
}
