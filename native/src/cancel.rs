//! Batch-cancel builder: one session's working orders on one instrument, kept with the
//! venue's batch-cancel messages already serialised.
//!
//! OKX `batch-cancel-orders` (protocols.md B.4) takes at most 20 orders per message.
//! Orders are packed densely into chunks of 20; an insert rewrites only the last chunk
//! and a remove rewrites the chunk it leaves plus the last one (whose final order moves
//! into the hole), so at pull time every message is ready and nothing is encoded.

use std::collections::HashMap;

/// Orders per OKX batch-cancel message.
pub const OKX_BATCH: usize = 20;

/// Longest request id OKX accepts.
const MAX_REQUEST_ID: usize = 32;

/// Why an order id was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelError {
    /// Ids must be 1..=32 ASCII letters or digits (OKX ordId / clOrdId rules), so that
    /// they need no JSON escaping.
    BadOrderId,
    BadRequestPrefix,
}

struct Chunk {
    orders: Vec<String>,
    frame: Vec<u8>,
}

/// Working orders and their pre-serialised OKX batch-cancel messages.
pub struct BatchCancel {
    /// `{"instId":"BTC-USDT","ordId":"` (or instIdCode / clOrdId variants).
    arg_head: Vec<u8>,
    request_prefix: String,
    request_seq: u64,
    chunks: Vec<Chunk>,
    /// order id -> (chunk, slot)
    index: HashMap<String, (usize, usize)>,
    /// Chunks rewritten by the last insert or remove (for the caller's caches).
    pub touched: Vec<usize>,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl BatchCancel {
    /// `instrument` is the JSON member naming the instrument, e.g. `"instId":"BTC-USDT"`
    /// or `"instIdCode":10459`; `key` is `ordId` or `clOrdId`.
    pub fn new(
        instrument: &str,
        key: &str,
        request_prefix: &str,
    ) -> Result<BatchCancel, CancelError> {
        if request_prefix.len() > 12 || !request_prefix.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(CancelError::BadRequestPrefix);
        }
        let arg_head = format!("{{{instrument},\"{key}\":\"").into_bytes();
        Ok(BatchCancel {
            arg_head,
            request_prefix: request_prefix.to_string(),
            request_seq: 0,
            chunks: Vec::new(),
            index: HashMap::new(),
            touched: Vec::with_capacity(2),
        })
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// The ready messages, one per chunk of up to 20 orders.
    pub fn frames(&self) -> impl Iterator<Item = &[u8]> {
        self.chunks.iter().map(|c| c.frame.as_slice())
    }

    pub fn frame(&self, chunk: usize) -> &[u8] {
        &self.chunks[chunk].frame
    }

    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    fn rebuild(&mut self, c: usize) {
        // A fresh request id per rewrite, so responses can be matched to the content.
        self.request_seq += 1;
        let chunk = &mut self.chunks[c];
        let f = &mut chunk.frame;
        f.clear();
        f.extend_from_slice(b"{\"id\":\"");
        f.extend_from_slice(self.request_prefix.as_bytes());
        let mut digits = [0u8; 20];
        let mut n = self.request_seq;
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let room = MAX_REQUEST_ID - self.request_prefix.len();
        let digits = &digits[i.max(digits.len().saturating_sub(room))..];
        f.extend_from_slice(digits);
        f.extend_from_slice(b"\",\"op\":\"batch-cancel-orders\",\"args\":[");
        for (k, id) in chunk.orders.iter().enumerate() {
            if k > 0 {
                f.push(b',');
            }
            f.extend_from_slice(&self.arg_head);
            f.extend_from_slice(id.as_bytes());
            f.extend_from_slice(b"\"}");
        }
        f.extend_from_slice(b"]}");
        self.touched.push(c);
    }

    /// Adds a working order; false if it is already present.
    pub fn insert(&mut self, id: &str) -> Result<bool, CancelError> {
        self.touched.clear();
        if !valid_id(id) {
            return Err(CancelError::BadOrderId);
        }
        if self.index.contains_key(id) {
            return Ok(false);
        }
        if self
            .chunks
            .last()
            .is_none_or(|c| c.orders.len() == OKX_BATCH)
        {
            self.chunks.push(Chunk {
                orders: Vec::with_capacity(OKX_BATCH),
                frame: Vec::with_capacity(1024),
            });
        }
        let c = self.chunks.len() - 1;
        let slot = self.chunks[c].orders.len();
        self.chunks[c].orders.push(id.to_string());
        self.index.insert(id.to_string(), (c, slot));
        self.rebuild(c);
        Ok(true)
    }

    /// Removes a working order (filled, canceled); false if it was not present.
    pub fn remove(&mut self, id: &str) -> bool {
        self.touched.clear();
        let Some((c, slot)) = self.index.remove(id) else {
            return false;
        };
        let last = self.chunks.len() - 1;
        let moved = self.chunks[last].orders.pop();
        if let Some(moved) = moved {
            if (c, slot) != (last, self.chunks[last].orders.len()) {
                self.index.insert(moved.clone(), (c, slot));
                self.chunks[c].orders[slot] = moved;
            }
        }
        if self.chunks[last].orders.is_empty() {
            self.chunks.pop();
        } else {
            self.rebuild(last);
        }
        if c != last {
            self.rebuild(c);
        }
        true
    }

    pub fn clear(&mut self) {
        self.chunks.clear();
        self.index.clear();
        self.touched.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testrng::Rng;

    fn ids_in(frame: &[u8]) -> Vec<String> {
        let text = std::str::from_utf8(frame).unwrap();
        text.split("\"ordId\":\"")
            .skip(1)
            .map(|s| s[..s.find('"').unwrap()].to_string())
            .collect()
    }

    #[test]
    fn messages_hold_twenty_orders_each() {
        let mut b = BatchCancel::new("\"instId\":\"BTC-USDT\"", "ordId", "bc").unwrap();
        for i in 0..45 {
            assert_eq!(b.insert(&format!("{}", 1000 + i)), Ok(true));
        }
        assert_eq!(b.insert("1000"), Ok(false));
        assert_eq!(b.insert("a-b"), Err(CancelError::BadOrderId));
        let frames: Vec<_> = b.frames().collect();
        assert_eq!(frames.len(), 3);
        assert_eq!(ids_in(frames[0]).len(), 20);
        assert_eq!(ids_in(frames[2]).len(), 5);
        let first = std::str::from_utf8(frames[0]).unwrap();
        assert!(first.starts_with("{\"id\":\"bc"), "{first}");
        assert!(first.contains("\"op\":\"batch-cancel-orders\",\"args\":[{\"instId\":\"BTC-USDT\",\"ordId\":\"1000\"},"));
        assert!(first.ends_with("\"}]}"));
    }

    #[test]
    fn random_inserts_and_removes_keep_frames_exact() {
        let mut rng = Rng::new(3);
        let mut b = BatchCancel::new("\"instIdCode\":10459", "clOrdId", "x").unwrap();
        let mut model = std::collections::BTreeSet::new();
        for _ in 0..5000 {
            let id = format!("o{}", rng.below(300));
            if rng.below(2) == 0 {
                assert_eq!(b.insert(&id).unwrap(), model.insert(id));
            } else {
                assert_eq!(b.remove(&id), model.remove(&id));
            }
            let mut seen = std::collections::BTreeSet::new();
            for f in b.frames() {
                let text = std::str::from_utf8(f).unwrap();
                let ids: Vec<String> = text
                    .split("\"clOrdId\":\"")
                    .skip(1)
                    .map(|s| s[..s.find('"').unwrap()].to_string())
                    .collect();
                assert!(!ids.is_empty() && ids.len() <= OKX_BATCH);
                seen.extend(ids);
            }
            assert_eq!(seen, model);
        }
    }
}
