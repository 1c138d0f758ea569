//! L2 order book per instrument, in fixed-point units, with each venue's sequence rules.
//!
//! Prices are ticks and sizes are steps (i64). A side is a `Ladder` keyed so that the
//! best level has the largest key (bids by price, asks by negated price), which lets one
//! implementation serve both sides. Three layouts exist behind the trait (sorted Vec,
//! B-tree, price-indexed array); the Python class uses the array, chosen by
//! `ladder_layouts_measured` (numbers in bench/RESULTS.md).
//!
//! Sequence rules (protocols.md A.7, B.4, C.4):
//! - Binance spot: events buffer until a snapshot; every event, the first after the
//!   snapshot included, is checked against the last id `L` (lastUpdateId, then the last
//!   applied `u`): `u <= L` is stale and dropped, `U > L + 1` is a gap (resync), anything
//!   else (`U <= L + 1 <= u`) is applied. An event that overlaps ids already applied is
//!   accepted, as the documented procedure does: its sizes are absolute, so applying
//!   them again is harmless.
//! - Binance futures: the first applied event has `U <= lastUpdateId <= u`; afterwards
//!   `pu == last u`, else resync.
//! - OKX: `prevSeqId == last seqId`, else resync; a non-zero `checksum` is checked as
//!   CRC32 over the top 25 levels' original text (OKX now sends 0 there: skipped).
//! - Bybit: a `snapshot` (or `u == 1`, a service restart) resets the book. A delta with
//!   `u <= last u` is stale; one whose cross sequence `seq` is smaller than the last
//!   applied message's was generated earlier (Bybit: a smaller `seq` means older data),
//!   so it is out of order and stale too, and changes nothing; otherwise a delta needs
//!   `u == last u + 1`, else resync. A message without `seq` is checked on `u` alone.

use std::collections::{BTreeMap, HashMap};

use crate::crc32::crc32;
use crate::json::{
    binance_payload, int_fast, level_fast, level_text, literal, plain_string_end, Cursor, FastGrid,
    Result, ScanError, Span,
};

/// Outcome of applying a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// The message changed the book (or confirmed it, for an empty update).
    Applied = 0,
    /// The message was older than the book and was ignored.
    Stale = 1,
    /// No snapshot yet: the message was kept to be replayed on the snapshot.
    Buffered = 2,
    /// A gap or checksum mismatch: the book is out of sync until a new snapshot.
    Resync = 3,
}

/// One side of a book. Keys grow toward the best level.
pub trait Ladder: Default {
    /// Sets the size at `key` (0 removes the level); returns the previous size.
    fn set(&mut self, key: i64, qty: i64) -> i64;
    fn get(&self, key: i64) -> i64;
    fn best(&self) -> Option<(i64, i64)>;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn clear(&mut self);
    /// Levels from the best outward.
    fn top(&self) -> impl Iterator<Item = (i64, i64)> + '_;
}

/// Levels in a Vec sorted by key, best at the end: updates near the top of the book
/// move few elements. A deleted level below the best stays as a tombstone (size 0), so
/// a level that disappears and comes back, as levels do, moves nothing; tombstones are
/// compacted away when they outnumber live levels.
#[derive(Default, Clone)]
pub struct VecLadder {
    levels: Vec<(i64, i64)>,
    tombstones: usize,
}

/// Levels within this many of the best are searched first.
const NEAR_TOP: usize = 128;

impl VecLadder {
    /// Index of the first level with a key >= `key`. Updates cluster near the best
    /// level, at the end, so the last `NEAR_TOP` levels are searched first.
    #[inline]
    fn position(&self, key: i64) -> usize {
        let levels = &self.levels;
        let n = levels.len();
        let base = if n > NEAR_TOP && levels[n - NEAR_TOP].0 <= key {
            n - NEAR_TOP
        } else {
            0
        };
        match levels[base..].binary_search_by(|l| l.0.cmp(&key)) {
            Ok(i) | Err(i) => base + i,
        }
    }

    /// Keeps the best (last) entry live.
    #[inline]
    fn trim(&mut self) {
        while let Some(&(_, 0)) = self.levels.last() {
            self.levels.pop();
            self.tombstones -= 1;
        }
    }
}

impl Ladder for VecLadder {
    #[inline]
    fn set(&mut self, key: i64, qty: i64) -> i64 {
        let n = self.levels.len();
        if let Some(&(k, q)) = self.levels.last() {
            if key > k {
                if qty != 0 {
                    self.levels.push((key, qty));
                }
                return 0;
            }
            if key == k {
                if qty != 0 {
                    self.levels[n - 1].1 = qty;
                } else {
                    self.levels.pop();
                    self.trim();
                }
                return q;
            }
        }
        let i = self.position(key);
        if i < n && self.levels[i].0 == key {
            let old = self.levels[i].1;
            self.levels[i].1 = qty;
            if old != 0 && qty == 0 {
                self.tombstones += 1;
                if self.tombstones > 32 && self.tombstones * 2 > n {
                    self.levels.retain(|l| l.1 != 0);
                    self.tombstones = 0;
                }
            } else if old == 0 && qty != 0 {
                self.tombstones -= 1;
            }
            old
        } else {
            if qty != 0 {
                self.levels.insert(i, (key, qty));
            }
            0
        }
    }
    #[inline]
    fn get(&self, key: i64) -> i64 {
        let i = self.position(key);
        match self.levels.get(i) {
            Some(&(k, q)) if k == key => q,
            _ => 0,
        }
    }
    #[inline]
    fn best(&self) -> Option<(i64, i64)> {
        self.levels.last().copied()
    }
    fn len(&self) -> usize {
        self.levels.len() - self.tombstones
    }
    fn clear(&mut self) {
        self.levels.clear();
        self.tombstones = 0;
    }
    fn top(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.levels.iter().rev().filter(|l| l.1 != 0).copied()
    }
}

/// Levels in a B-tree: O(log n) everywhere, no large moves for deep updates.
#[derive(Default, Clone)]
pub struct TreeLadder {
    levels: BTreeMap<i64, i64>,
}

impl Ladder for TreeLadder {
    #[inline]
    fn set(&mut self, key: i64, qty: i64) -> i64 {
        let old = if qty == 0 {
            self.levels.remove(&key)
        } else {
            self.levels.insert(key, qty)
        };
        old.unwrap_or(0)
    }
    fn get(&self, key: i64) -> i64 {
        self.levels.get(&key).copied().unwrap_or(0)
    }
    fn best(&self) -> Option<(i64, i64)> {
        self.levels.last_key_value().map(|(k, v)| (*k, *v))
    }
    fn len(&self) -> usize {
        self.levels.len()
    }
    fn clear(&mut self) {
        self.levels.clear();
    }
    fn top(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.levels.iter().rev().map(|(k, v)| (*k, *v))
    }
}

/// Levels in an array indexed by key over a window of `W` keys that holds the best
/// level (the hftbacktest-style price-range array), with a B-tree for levels below the
/// window. An update inside the window is an index; deleting the best scans down to
/// the next live slot. A new level above the window, or any level once the window is
/// empty, re-centres the window (O(W), rare while the market stays within W ticks).
#[derive(Clone)]
pub struct ArrayLadder<const W: usize = 4096> {
    /// Key of slot 0.
    base: i64,
    qty: Vec<i64>,
    /// Slot of the best live level in the window (valid when `live > 0`).
    best: usize,
    live: usize,
    /// Levels below the window (never above it).
    below: BTreeMap<i64, i64>,
}

impl<const W: usize> Default for ArrayLadder<W> {
    fn default() -> Self {
        ArrayLadder {
            base: 0,
            qty: vec![0; W],
            best: 0,
            live: 0,
            below: BTreeMap::new(),
        }
    }
}

impl<const W: usize> ArrayLadder<W> {
    #[inline]
    fn slot(&self, key: i64) -> Option<usize> {
        // Checked, not wrapping: a key near i64::MIN must not alias a slot of a window
        // near i64::MAX.
        let off = key.checked_sub(self.base)?;
        (0..W as i64).contains(&off).then_some(off as usize)
    }

    /// Moves the window so that the highest level (the best, or the new `key` if it is
    /// higher) sits three quarters up it, leaving room for a rising best and depth
    /// below, and re-files every level. Nothing ends up above the window.
    #[cold]
    fn recentre(&mut self, key: i64) {
        let mut all: Vec<(i64, i64)> = Vec::with_capacity(self.live + self.below.len());
        for (i, &q) in self.qty.iter().enumerate() {
            if q != 0 {
                all.push((self.base + i as i64, q));
            }
        }
        all.extend(self.below.iter().map(|(k, q)| (*k, *q)));
        let top = all.iter().map(|l| l.0).max().map_or(key, |m| m.max(key));
        self.qty.iter_mut().for_each(|q| *q = 0);
        self.below.clear();
        self.live = 0;
        self.base = top.saturating_sub((W * 3 / 4) as i64);
        for (k, q) in all {
            self.place(k, q);
        }
    }

    /// Files a live level without the re-centring checks.
    fn place(&mut self, key: i64, qty: i64) {
        match self.slot(key) {
            Some(i) => {
                if self.qty[i] == 0 {
                    self.live += 1;
                }
                self.qty[i] = qty;
                if self.live == 1 || i > self.best {
                    self.best = i;
                }
            }
            None => {
                self.below.insert(key, qty);
            }
        }
    }
}

impl<const W: usize> Ladder for ArrayLadder<W> {
    #[inline]
    fn set(&mut self, key: i64, qty: i64) -> i64 {
        let Some(i) = self.slot(key) else {
            if qty == 0 {
                return self.below.remove(&key).unwrap_or(0);
            } else if key >= self.base || self.live == 0 {
                let old = self.below.get(&key).copied().unwrap_or(0);
                self.recentre(key);
                self.place(key, qty);
                return old;
            } else {
                return self.below.insert(key, qty).unwrap_or(0);
            }
        };
        let old = self.qty[i];
        self.qty[i] = qty;
        if qty != 0 {
            if old == 0 {
                self.live += 1;
                if self.live == 1 || i > self.best {
                    self.best = i;
                }
            }
        } else if old != 0 {
            self.live -= 1;
            if i == self.best && self.live > 0 {
                let mut j = i;
                while self.qty[j] == 0 {
                    j -= 1;
                }
                self.best = j;
            }
        }
        old
    }
    #[inline]
    fn get(&self, key: i64) -> i64 {
        match self.slot(key) {
            Some(i) => self.qty[i],
            None => self.below.get(&key).copied().unwrap_or(0),
        }
    }
    #[inline]
    fn best(&self) -> Option<(i64, i64)> {
        if self.live > 0 {
            Some((self.base + self.best as i64, self.qty[self.best]))
        } else {
            self.below.last_key_value().map(|(k, q)| (*k, *q))
        }
    }
    fn len(&self) -> usize {
        self.live + self.below.len()
    }
    fn clear(&mut self) {
        if self.live > 0 {
            self.qty.iter_mut().for_each(|q| *q = 0);
        }
        self.live = 0;
        self.below.clear();
    }
    fn top(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        let top = if self.live > 0 { self.best + 1 } else { 0 };
        let base = self.base;
        self.qty[..top]
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, q)| **q != 0)
            .map(move |(i, q)| (base + i as i64, *q))
            .chain(self.below.iter().rev().map(|(k, q)| (*k, *q)))
    }
}

/// Which venue's message format and sequence rules a book follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Venue {
    BinanceSpot,
    BinanceFutures,
    Okx,
    Bybit,
    /// Fed level by level by its owner (Deribit's FIX market data), never from a
    /// message: no sequence rule of the core applies.
    Deribit,
}

impl Venue {
    pub fn parse(name: &str) -> Option<Venue> {
        Some(match name {
            "binance" | "binance_spot" => Venue::BinanceSpot,
            "binance_futures" | "binance_usdm" | "binance_coinm" => Venue::BinanceFutures,
            "okx" => Venue::Okx,
            "bybit" => Venue::Bybit,
            "deribit" => Venue::Deribit,
            _ => return None,
        })
    }
}

/// Where a book is in its synchronisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sync {
    /// No usable snapshot: Binance events are buffered, others need a snapshot.
    Waiting,
    /// Snapshot loaded, no event applied yet (Binance's first-event rule applies).
    First,
    Live,
}

/// One parsed level update, before it is applied.
#[derive(Debug, Clone, Copy)]
struct LevelUpdate {
    bid: bool,
    price: i64,
    qty: i64,
}

/// A Binance diff event kept until the snapshot arrives.
struct Buffered {
    first: i64,
    last: i64,
    prev: i64,
    levels: Vec<(bool, i64, i64)>,
}

/// Original text of an OKX level (price and size), kept for the checksum.
#[derive(Clone, Copy, Default)]
struct Text {
    len: u8,
    bytes: [u8; 23],
}

impl Text {
    fn new(raw: &[u8], at: usize) -> Result<Text> {
        if raw.len() > 23 {
            return Err(ScanError::Malformed {
                pos: at,
                what: "number text too long",
            });
        }
        let mut t = Text {
            len: raw.len() as u8,
            bytes: [0; 23],
        };
        t.bytes[..raw.len()].copy_from_slice(raw);
        Ok(t)
    }
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// `"data"` wrappers a Binance depth event may arrive in: the combined stream's
/// `{"stream","data"}`, once. Deeper nesting is refused instead of recursed into.
const DEPTH_ENVELOPES: u32 = 1;

/// Most Binance events kept while waiting for a snapshot; older ones are dropped (the
/// snapshot will be newer than them anyway).
const MAX_BUFFERED: usize = 4096;

/// A venue's L2 book for one instrument.
pub struct Book<L: Ladder = ArrayLadder> {
    pub venue: Venue,
    pub price_grid: FastGrid,
    pub qty_grid: FastGrid,
    bids: L,
    asks: L,
    sync: Sync,
    /// Binance `u`, OKX `seqId`, Bybit `u` of the last applied message.
    pub last_id: i64,
    /// Venue time of the last applied message (ms), 0 if none.
    pub exch_time: i64,
    buffer: Vec<Buffered>,
    scratch: Vec<LevelUpdate>,
    /// OKX only: each scratch level's original price and size text (for the checksum).
    texts: Vec<(Span, Span)>,
    /// OKX only: the last snapshot carried a checksum, so level text is kept. OKX sends
    /// 0 since its 2026 deprecation; then nothing is kept or checked.
    okx_checksum_active: bool,
    okx_text: HashMap<i64, (Text, Text)>,
    /// Bybit only: cross sequence (`seq`) of the last applied message, if it had one.
    bybit_seq: Option<i64>,
}

impl<L: Ladder> Book<L> {
    pub fn new(venue: Venue, price_grid: FastGrid, qty_grid: FastGrid) -> Book<L> {
        Book {
            venue,
            price_grid,
            qty_grid,
            bids: L::default(),
            asks: L::default(),
            sync: Sync::Waiting,
            last_id: 0,
            exch_time: 0,
            buffer: Vec::new(),
            scratch: Vec::with_capacity(64),
            texts: Vec::new(),
            okx_checksum_active: false,
            okx_text: HashMap::new(),
            bybit_seq: None,
        }
    }

    pub fn is_synced(&self) -> bool {
        self.sync != Sync::Waiting
    }

    /// Forgets the sync state (not the levels) so that the next snapshot starts over.
    pub fn invalidate(&mut self) {
        self.sync = Sync::Waiting;
    }

    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    #[inline]
    pub fn set_level(&mut self, bid: bool, price: i64, qty: i64) {
        if bid {
            self.bids.set(price, qty);
        } else {
            self.asks.set(-price, qty);
        }
    }

    #[inline]
    pub fn best_bid(&self) -> Option<(i64, i64)> {
        self.bids.best()
    }

    #[inline]
    pub fn best_ask(&self) -> Option<(i64, i64)> {
        self.asks.best().map(|(k, q)| (-k, q))
    }

    pub fn size_at(&self, bid: bool, price: i64) -> i64 {
        if bid {
            self.bids.get(price)
        } else {
            self.asks.get(-price)
        }
    }

    /// Up to `n` levels from the best outward, as (price, qty).
    pub fn depth(&self, bid: bool, n: usize) -> Vec<(i64, i64)> {
        if bid {
            self.bids.top().take(n).collect()
        } else {
            self.asks.top().take(n).map(|(k, q)| (-k, q)).collect()
        }
    }

    pub fn len(&self, bid: bool) -> usize {
        if bid {
            self.bids.len()
        } else {
            self.asks.len()
        }
    }

    pub fn is_crossed(&self) -> bool {
        match (self.best_bid(), self.best_ask()) {
            (Some((b, _)), Some((a, _))) => b >= a,
            _ => false,
        }
    }

    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.okx_text.clear();
    }

    /// Loads a snapshot given in units; `last_id` is Binance's `lastUpdateId`, OKX's
    /// `seqId` or Bybit's `u`. Buffered Binance events are replayed on top.
    pub fn load_snapshot(
        &mut self,
        bids: &[(i64, i64)],
        asks: &[(i64, i64)],
        last_id: i64,
    ) -> Status {
        self.clear();
        for &(p, q) in bids {
            self.bids.set(p, q);
        }
        for &(p, q) in asks {
            self.asks.set(-p, q);
        }
        self.after_snapshot(last_id)
    }

    fn after_snapshot(&mut self, last_id: i64) -> Status {
        self.last_id = last_id;
        match self.venue {
            Venue::BinanceSpot | Venue::BinanceFutures => {
                self.sync = Sync::First;
                let buffer = std::mem::take(&mut self.buffer);
                let mut status = Status::Applied;
                if let Some(first) = buffer.first() {
                    // A snapshot older than the first buffered event leaves a hole.
                    if last_id < first.first - 1 {
                        self.buffer = buffer;
                        self.sync = Sync::Waiting;
                        return Status::Resync;
                    }
                }
                for ev in &buffer {
                    self.scratch.clear();
                    for &(bid, price, qty) in &ev.levels {
                        self.scratch.push(LevelUpdate { bid, price, qty });
                    }
                    let s = self.binance_sequenced(ev.first, ev.last, ev.prev, &[]);
                    if s == Status::Resync {
                        status = Status::Resync;
                        break;
                    }
                }
                status
            }
            Venue::Okx | Venue::Bybit | Venue::Deribit => {
                self.sync = Sync::Live;
                Status::Applied
            }
        }
    }

    /// Applies the levels in `scratch` if the Binance sequence rules allow it.
    /// What the Binance rules say about an event, before anything changes: Buffered
    /// (no snapshot yet), Stale, Resync (gap) or Applied (apply it).
    fn binance_verdict(&self, first: i64, last: i64, prev: i64) -> Status {
        let l = self.last_id;
        let ok = match (self.venue, self.sync) {
            (_, Sync::Waiting) => return Status::Buffered,
            (Venue::BinanceFutures, Sync::First) => {
                if last < l {
                    return Status::Stale;
                }
                // The documented rule is U <= lastUpdateId <= u; an event that chains
                // exactly onto the snapshot (pu == lastUpdateId) is continuous too.
                first <= l || prev == l
            }
            (Venue::BinanceFutures, _) => {
                if last <= l {
                    return Status::Stale;
                }
                prev == l
            }
            (_, _) => {
                if last <= l {
                    return Status::Stale;
                }
                first <= l.saturating_add(1)
            }
        };
        if ok {
            Status::Applied
        } else {
            Status::Resync
        }
    }

    /// Applies the levels in `scratch` if the Binance sequence rules allow it.
    fn binance_sequenced(&mut self, first: i64, last: i64, prev: i64, buf: &[u8]) -> Status {
        let verdict = self.binance_verdict(first, last, prev);
        match verdict {
            Status::Buffered => {
                if self.buffer.len() == MAX_BUFFERED {
                    self.buffer.remove(0);
                }
                let levels = self
                    .scratch
                    .iter()
                    .map(|u| (u.bid, u.price, u.qty))
                    .collect();
                self.buffer.push(Buffered {
                    first,
                    last,
                    prev,
                    levels,
                });
            }
            Status::Resync => self.sync = Sync::Waiting,
            Status::Applied => {
                self.apply_scratch(buf);
                self.last_id = last;
                self.sync = Sync::Live;
            }
            Status::Stale => {}
        }
        verdict
    }

    fn apply_scratch(&mut self, buf: &[u8]) {
        let okx = self.venue == Venue::Okx && self.okx_checksum_active;
        for k in 0..self.scratch.len() {
            let u = self.scratch[k];
            if u.bid {
                self.bids.set(u.price, u.qty);
            } else {
                self.asks.set(-u.price, u.qty);
            }
            if okx {
                let key = if u.bid { u.price } else { -u.price - 1 };
                if u.qty == 0 {
                    self.okx_text.remove(&key);
                } else {
                    // Lengths were checked when the message was scanned.
                    let (px, sz) = self.texts.get(k).copied().unwrap_or_default();
                    let px = Text::new(px.of(buf), 0).unwrap_or_default();
                    let sz = Text::new(sz.of(buf), 0).unwrap_or_default();
                    self.okx_text.insert(key, (px, sz));
                }
            }
        }
    }

    /// Applies one venue message (a diff or, for OKX and Bybit, a snapshot) from its raw
    /// bytes. Nothing is changed if the bytes are malformed.
    pub fn apply_message(&mut self, buf: &[u8]) -> Result<Status> {
        match self.venue {
            Venue::BinanceSpot | Venue::BinanceFutures => self.apply_binance(buf),
            Venue::Okx => self.apply_okx(buf),
            Venue::Bybit => self.apply_bybit(buf),
            Venue::Deribit => Err(ScanError::Malformed {
                pos: 0,
                what: "a Deribit book is fed level by level, not from messages",
            }),
        }
    }

    /// Reads `[[price, qty, ...], ...]` into scratch.
    fn levels(&mut self, cur: &mut Cursor<'_>, bid: bool, keep_text: bool) -> Result<()> {
        let pg = self.price_grid;
        let qg = self.qty_grid;
        cur.expect(b'[', "expected '['")?;
        if cur.eat(b']') {
            return Ok(());
        }
        let b = cur.buf;
        loop {
            if let Some((price, qty, next)) = level_fast(b, cur.pos, &pg, &qg) {
                if keep_text {
                    let (px, sz) = level_text(b, cur.pos).unwrap_or_default();
                    Text::new(px.of(b), px.start as usize)?;
                    Text::new(sz.of(b), sz.start as usize)?;
                    self.texts.push((px, sz));
                }
                cur.pos = next;
                self.scratch.push(LevelUpdate { bid, price, qty });
            } else {
                self.level_exact(cur, bid, keep_text)?;
            }
            match b.get(cur.pos) {
                Some(b',') => cur.pos += 1,
                Some(b']') => {
                    cur.pos += 1;
                    return Ok(());
                }
                _ => {
                    if !cur.eat(b',') {
                        return cur.expect(b']', "expected ',' or ']'");
                    }
                }
            }
        }
    }

    /// One level read exactly (whitespace, exponents, extra members, OKX text).
    fn level_exact(&mut self, c: &mut Cursor<'_>, bid: bool, keep_text: bool) -> Result<()> {
        let pg = self.price_grid;
        let qg = self.qty_grid;
        c.expect(b'[', "expected a [price, size] pair")?;
        let (px, _) = c.string()?;
        let price = pg.units(px.of(c.buf), px.start as usize)?;
        c.expect(b',', "expected ','")?;
        let (sz, _) = c.string()?;
        let qty = qg.units(sz.of(c.buf), sz.start as usize)?;
        if qty < 0 {
            return Err(ScanError::Malformed {
                pos: sz.start as usize,
                what: "negative size",
            });
        }
        if keep_text {
            Text::new(px.of(c.buf), px.start as usize)?;
            Text::new(sz.of(c.buf), sz.start as usize)?;
        }
        while c.eat(b',') {
            c.skip()?;
        }
        c.expect(b']', "expected ']'")?;
        self.scratch.push(LevelUpdate { bid, price, qty });
        if keep_text {
            self.texts.push((px, sz));
        }
        Ok(())
    }

    /// A Binance `depthUpdate` (raw or wrapped in a combined-stream envelope).
    /// Reads a compact `[[..],..]` level array at `i`; None if anything differs from
    /// the compact form. With `direct`, each level goes straight into the book and
    /// scratch keeps the previous size (an undo log); otherwise scratch gets the update.
    #[inline]
    fn levels_in_order(&mut self, b: &[u8], i: usize, bid: bool, direct: bool) -> Option<usize> {
        let mut i = literal(b, i, b"[")?;
        if b.get(i) == Some(&b']') {
            return Some(i + 1);
        }
        loop {
            let (price, qty, next) = level_fast(b, i, &self.price_grid, &self.qty_grid)?;
            let qty = if direct {
                if bid {
                    self.bids.set(price, qty)
                } else {
                    self.asks.set(-price, qty)
                }
            } else {
                qty
            };
            self.scratch.push(LevelUpdate { bid, price, qty });
            match b.get(next) {
                Some(b',') => i = next + 1,
                Some(b']') => return Some(next + 1),
                _ => return None,
            }
        }
    }

    /// Puts back the sizes recorded by a direct `levels_in_order` that was abandoned.
    #[cold]
    fn undo_scratch(&mut self) {
        while let Some(u) = self.scratch.pop() {
            if u.bid {
                self.bids.set(u.price, u.qty);
            } else {
                self.asks.set(-u.price, u.qty);
            }
        }
    }

    /// A depthUpdate in its documented field order (spot: e E s U u b a; futures:
    /// e E T s U u pu b a), read with no per-key dispatch. The sequence numbers come
    /// before the levels, so when the event is to be applied the levels go straight
    /// into the book (undone if the fast read gives up). Returns (U, u, pu, E, applied).
    fn binance_depth_in_order(&mut self, b: &[u8]) -> Option<(i64, i64, i64, i64, bool)> {
        let i = literal(b, 0, b"{\"e\":\"depthUpdate\",\"E\":")?;
        let (time, mut i) = int_fast(b, i)?;
        if let Some(j) = literal(b, i, b",\"T\":") {
            i = int_fast(b, j)?.1;
        }
        let i = literal(b, i, b",\"s\":\"")?;
        let i = plain_string_end(b, i)?;
        let i = literal(b, i, b"\",\"U\":")?;
        let (first, i) = int_fast(b, i)?;
        let i = literal(b, i, b",\"u\":")?;
        let (last, mut i) = int_fast(b, i)?;
        let mut prev = i64::MIN;
        if let Some(j) = literal(b, i, b",\"pu\":") {
            let (pu, j) = int_fast(b, j)?;
            prev = pu;
            i = j;
        }
        let missing_pu = self.venue == Venue::BinanceFutures && prev == i64::MIN;
        let direct = !missing_pu && self.binance_verdict(first, last, prev) == Status::Applied;
        let read = (|| {
            let i = literal(b, i, b",\"b\":")?;
            let i = self.levels_in_order(b, i, true, direct)?;
            let i = literal(b, i, b",\"a\":")?;
            let i = self.levels_in_order(b, i, false, direct)?;
            (literal(b, i, b"}")? == b.len()).then_some(())
        })();
        if read.is_none() {
            if direct {
                self.undo_scratch();
            }
            return None;
        }
        Some((first, last, prev, time, direct))
    }

    fn apply_binance(&mut self, buf: &[u8]) -> Result<Status> {
        self.scratch.clear();
        if let Some((first, last, prev, time, applied)) =
            self.binance_depth_in_order(binance_payload(buf))
        {
            if applied {
                self.last_id = last;
                self.sync = Sync::Live;
                self.exch_time = time;
                return Ok(Status::Applied);
            }
            if self.venue == Venue::BinanceFutures && prev == i64::MIN && self.sync != Sync::Waiting
            {
                return Err(ScanError::Missing {
                    pos: buf.len(),
                    field: "pu",
                });
            }
            let status = self.binance_sequenced(first, last, prev, buf);
            if status == Status::Applied {
                self.exch_time = time;
            }
            return Ok(status);
        }
        self.scratch.clear();
        let mut cur = Cursor::new(buf);
        let (mut first, mut last, mut prev) = (None, None, i64::MIN);
        let mut time = 0;
        let mut event_ok = true;
        self.binance_depth_object(
            &mut cur,
            &mut first,
            &mut last,
            &mut prev,
            &mut time,
            &mut event_ok,
            DEPTH_ENVELOPES,
        )?;
        cur.end()?;
        if !event_ok {
            return Err(ScanError::Malformed {
                pos: 0,
                what: "not a depthUpdate event",
            });
        }
        let end = buf.len();
        let first = first.ok_or(ScanError::Missing {
            pos: end,
            field: "U",
        })?;
        let last = last.ok_or(ScanError::Missing {
            pos: end,
            field: "u",
        })?;
        if self.venue == Venue::BinanceFutures && prev == i64::MIN && self.sync != Sync::Waiting {
            return Err(ScanError::Missing {
                pos: end,
                field: "pu",
            });
        }
        let status = self.binance_sequenced(first, last, prev, buf);
        if status == Status::Applied {
            self.exch_time = time;
        }
        Ok(status)
    }

    /// Reads a depthUpdate object; `envelopes` is how many more `"data"` wrappers may
    /// follow (a combined stream adds one), so hostile nesting cannot exhaust the stack.
    #[allow(clippy::too_many_arguments)]
    fn binance_depth_object(
        &mut self,
        cur: &mut Cursor<'_>,
        first: &mut Option<i64>,
        last: &mut Option<i64>,
        prev: &mut i64,
        time: &mut i64,
        event_ok: &mut bool,
        envelopes: u32,
    ) -> Result<()> {
        cur.expect(b'{', "expected '{'")?;
        if cur.eat(b'}') {
            return Ok(());
        }
        loop {
            let (key, _) = cur.string()?;
            cur.expect(b':', "expected ':'")?;
            match key.of(cur.buf) {
                b"U" => *first = Some(cur.int()?),
                b"u" => *last = Some(cur.int()?),
                b"pu" => *prev = cur.int()?,
                b"E" => *time = cur.int()?,
                b"b" => self.levels(cur, true, false)?,
                b"a" => self.levels(cur, false, false)?,
                b"e" => {
                    let (v, _) = cur.string()?;
                    *event_ok = v.of(cur.buf) == b"depthUpdate";
                }
                b"data" => {
                    if envelopes == 0 {
                        return Err(ScanError::Malformed {
                            pos: cur.pos,
                            what: "envelopes nested too deep",
                        });
                    }
                    self.binance_depth_object(
                        cur,
                        first,
                        last,
                        prev,
                        time,
                        event_ok,
                        envelopes - 1,
                    )?
                }
                _ => cur.skip()?,
            }
            if cur.eat(b',') {
                continue;
            }
            return cur.expect(b'}', "expected ',' or '}'");
        }
    }

    /// A Binance REST depth snapshot `{"lastUpdateId":..,"bids":[..],"asks":[..]}`.
    pub fn load_binance_snapshot(&mut self, buf: &[u8]) -> Result<Status> {
        if !matches!(self.venue, Venue::BinanceSpot | Venue::BinanceFutures) {
            return Err(ScanError::Malformed {
                pos: 0,
                what: "a REST depth snapshot is for Binance books",
            });
        }
        self.scratch.clear();
        let mut cur = Cursor::new(buf);
        let mut last_id = None;
        cur.expect(b'{', "expected '{'")?;
        if !cur.eat(b'}') {
            loop {
                let (key, _) = cur.string()?;
                cur.expect(b':', "expected ':'")?;
                match key.of(buf) {
                    b"lastUpdateId" => last_id = Some(cur.int()?),
                    b"bids" => self.levels(&mut cur, true, false)?,
                    b"asks" => self.levels(&mut cur, false, false)?,
                    _ => cur.skip()?,
                }
                if cur.eat(b',') {
                    continue;
                }
                cur.expect(b'}', "expected ',' or '}'")?;
                break;
            }
        }
        cur.end()?;
        let last_id = last_id.ok_or(ScanError::Missing {
            pos: buf.len(),
            field: "lastUpdateId",
        })?;
        self.clear();
        self.apply_scratch(buf);
        Ok(self.after_snapshot(last_id))
    }

    /// An OKX `books`/`books-l2-tbt`/`books50-l2-tbt` push.
    fn apply_okx(&mut self, buf: &[u8]) -> Result<Status> {
        self.scratch.clear();
        self.texts.clear();
        let mut cur = Cursor::new(buf);
        let mut snapshot = None;
        let (mut seq, mut prev, mut checksum, mut ts) = (None, None, 0i64, 0i64);
        let mut entries = 0;
        cur.expect(b'{', "expected '{'")?;
        loop {
            let (key, _) = cur.string()?;
            cur.expect(b':', "expected ':'")?;
            match key.of(buf) {
                b"action" => {
                    let (v, _) = cur.string()?;
                    snapshot = Some(v.of(buf) == b"snapshot");
                }
                b"data" => {
                    let me = &mut *self;
                    cur.array(|c| {
                        entries += 1;
                        if entries > 1 {
                            return Err(ScanError::Malformed {
                                pos: c.pos,
                                what: "more than one book entry",
                            });
                        }
                        c.object(|c, k| {
                            match k {
                                b"asks" => me.levels(c, false, true)?,
                                b"bids" => me.levels(c, true, true)?,
                                b"seqId" => seq = Some(c.int_or_string()?),
                                b"prevSeqId" => prev = Some(c.int_or_string()?),
                                b"checksum" => checksum = c.int_or_string()?,
                                b"ts" => ts = c.int_or_string()?,
                                _ => c.skip()?,
                            }
                            Ok(())
                        })
                    })?;
                }
                _ => cur.skip()?,
            }
            if cur.eat(b',') {
                continue;
            }
            cur.expect(b'}', "expected ',' or '}'")?;
            break;
        }
        cur.end()?;
        let end = buf.len();
        if entries == 0 {
            return Err(ScanError::Missing {
                pos: end,
                field: "data",
            });
        }
        let seq = seq.ok_or(ScanError::Missing {
            pos: end,
            field: "seqId",
        })?;
        // books5-style pushes carry no action: each one is a whole book.
        let snapshot = snapshot.unwrap_or(true);
        if snapshot {
            self.clear();
            self.okx_checksum_active = checksum != 0;
            self.apply_scratch(buf);
            self.after_snapshot(seq);
        } else {
            if checksum != 0 && !self.okx_checksum_active {
                // Checksums resumed without a snapshot: the kept text would be incomplete.
                self.sync = Sync::Waiting;
                return Ok(Status::Resync);
            }
            let prev = prev.ok_or(ScanError::Missing {
                pos: end,
                field: "prevSeqId",
            })?;
            if self.sync == Sync::Waiting || prev != self.last_id {
                self.sync = Sync::Waiting;
                return Ok(Status::Resync);
            }
            self.apply_scratch(buf);
            self.last_id = seq;
        }
        self.exch_time = ts;
        if checksum != 0 && i64::from(self.okx_checksum()) != checksum {
            self.sync = Sync::Waiting;
            return Ok(Status::Resync);
        }
        Ok(Status::Applied)
    }

    /// CRC32 (as OKX's signed 32-bit value) of `bid:size:ask:size:...` over the top 25
    /// levels, using each level's original text.
    pub fn okx_checksum(&self) -> i32 {
        let mut text: Vec<u8> = Vec::with_capacity(25 * 4 * 12);
        let mut bids = self.bids.top().take(25);
        let mut asks = self.asks.top().take(25);
        loop {
            let b = bids.next();
            let a = asks.next();
            if b.is_none() && a.is_none() {
                break;
            }
            for (key, is_bid) in [(b, true), (a, false)] {
                if let Some((k, _)) = key {
                    let tkey = if is_bid { k } else { k - 1 };
                    if let Some((px, sz)) = self.okx_text.get(&tkey) {
                        if !text.is_empty() {
                            text.push(b':');
                        }
                        text.extend_from_slice(px.as_bytes());
                        text.push(b':');
                        text.extend_from_slice(sz.as_bytes());
                    }
                }
            }
        }
        crc32(&text) as i32
    }

    /// A Bybit `orderbook.{depth}.{symbol}` push.
    fn apply_bybit(&mut self, buf: &[u8]) -> Result<Status> {
        self.scratch.clear();
        let mut cur = Cursor::new(buf);
        let mut snapshot = None;
        let (mut upd, mut seq, mut ts) = (None, None, 0i64);
        let mut has_data = false;
        cur.expect(b'{', "expected '{'")?;
        loop {
            let (key, _) = cur.string()?;
            cur.expect(b':', "expected ':'")?;
            match key.of(buf) {
                b"type" => {
                    let (v, _) = cur.string()?;
                    snapshot = Some(v.of(buf) == b"snapshot");
                }
                b"ts" => ts = cur.int()?,
                b"data" => {
                    has_data = true;
                    let me = &mut *self;
                    cur.object(|c, k| {
                        match k {
                            b"b" => me.levels(c, true, false)?,
                            b"a" => me.levels(c, false, false)?,
                            b"u" => upd = Some(c.int()?),
                            b"seq" => seq = Some(c.int()?),
                            _ => c.skip()?,
                        }
                        Ok(())
                    })?;
                }
                _ => cur.skip()?,
            }
            if cur.eat(b',') {
                continue;
            }
            cur.expect(b'}', "expected ',' or '}'")?;
            break;
        }
        cur.end()?;
        let end = buf.len();
        if !has_data {
            return Err(ScanError::Missing {
                pos: end,
                field: "data",
            });
        }
        let snapshot = snapshot.ok_or(ScanError::Missing {
            pos: end,
            field: "type",
        })?;
        let upd = upd.ok_or(ScanError::Missing {
            pos: end,
            field: "u",
        })?;
        if snapshot || upd == 1 {
            // u == 1 marks a service restart: the message is a whole book.
            self.clear();
            self.apply_scratch(buf);
            self.after_snapshot(upd);
        } else {
            if self.sync == Sync::Waiting {
                return Ok(Status::Resync);
            }
            if upd <= self.last_id {
                return Ok(Status::Stale);
            }
            if let (Some(seq), Some(last)) = (seq, self.bybit_seq) {
                if seq < last {
                    return Ok(Status::Stale);
                }
            }
            if upd != self.last_id.saturating_add(1) {
                self.sync = Sync::Waiting;
                return Ok(Status::Resync);
            }
            self.apply_scratch(buf);
            self.last_id = upd;
        }
        self.bybit_seq = seq;
        self.exch_time = ts;
        Ok(Status::Applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::Grid;
    use crate::testrng::Rng;

    fn grid(s: &str) -> FastGrid {
        FastGrid::from_grid(&Grid::parse(s.as_bytes()).unwrap()).unwrap()
    }

    fn book(venue: Venue) -> Book {
        Book::new(venue, grid("0.01"), grid("0.001"))
    }

    fn depth(
        first: i64,
        last: i64,
        prev: Option<i64>,
        bids: &[(&str, &str)],
        asks: &[(&str, &str)],
    ) -> Vec<u8> {
        let lv = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(p, q)| format!("[\"{p}\",\"{q}\"]"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let pu = prev.map(|p| format!(",\"pu\":{p}")).unwrap_or_default();
        format!(
            "{{\"e\":\"depthUpdate\",\"E\":1700000000000,\"s\":\"BTCUSDT\",\"U\":{first},\"u\":{last}{pu},\"b\":[{}],\"a\":[{}]}}",
            lv(bids),
            lv(asks)
        )
        .into_bytes()
    }

    #[test]
    fn binance_spot_buffers_until_snapshot_then_replays() {
        let mut b = book(Venue::BinanceSpot);
        assert_eq!(
            b.apply_message(&depth(95, 99, None, &[("10.00", "1")], &[])),
            Ok(Status::Buffered)
        );
        assert_eq!(
            b.apply_message(&depth(100, 105, None, &[("10.01", "2")], &[("10.05", "3")])),
            Ok(Status::Buffered)
        );
        assert_eq!(
            b.apply_message(&depth(106, 107, None, &[("10.01", "0")], &[])),
            Ok(Status::Buffered)
        );
        let snap = br#"{"lastUpdateId":101,"bids":[["10.00","5.000"],["9.99","1"]],"asks":[["10.10","1"]]}"#;
        assert_eq!(b.load_binance_snapshot(snap), Ok(Status::Applied));
        // Event 95..99 dropped (older than the snapshot); 100..105 and 106..107 applied.
        assert_eq!(b.best_bid(), Some((1000, 5000)));
        assert_eq!(b.best_ask(), Some((1005, 3000)));
        assert_eq!(b.last_id, 107);
        assert_eq!(
            b.apply_message(&depth(108, 108, None, &[], &[])),
            Ok(Status::Applied)
        );
        assert_eq!(
            b.apply_message(&depth(100, 104, None, &[], &[])),
            Ok(Status::Stale)
        );
        // 109 is missing: gap.
        assert_eq!(
            b.apply_message(&depth(110, 111, None, &[("10.02", "1")], &[])),
            Ok(Status::Resync)
        );
        assert!(!b.is_synced());
        assert_eq!(
            b.size_at(true, 1002),
            0,
            "a gapped event must not touch the book"
        );
        assert_eq!(
            b.apply_message(&depth(112, 113, None, &[], &[])),
            Ok(Status::Buffered)
        );
    }

    #[test]
    fn binance_snapshot_older_than_buffer_needs_another() {
        let mut b = book(Venue::BinanceSpot);
        b.apply_message(&depth(200, 210, None, &[], &[])).unwrap();
        let snap = br#"{"lastUpdateId":150,"bids":[],"asks":[]}"#;
        assert_eq!(b.load_binance_snapshot(snap), Ok(Status::Resync));
        assert_eq!(b.buffered(), 1);
        let snap = br#"{"lastUpdateId":205,"bids":[["1","1"]],"asks":[]}"#;
        assert_eq!(b.load_binance_snapshot(snap), Ok(Status::Applied));
        assert_eq!(b.last_id, 210);
    }

    #[test]
    fn abandoned_fast_read_is_undone() {
        for venue in [Venue::BinanceSpot, Venue::BinanceFutures] {
            let mut b = book(venue);
            b.load_snapshot(&[(1000, 5), (999, 6)], &[(1001, 7)], 5);
            let pu = if venue == Venue::BinanceFutures {
                ",\"pu\":5"
            } else {
                ""
            };
            // Documented order and compact levels until the last ask, which is off grid.
            let msg = format!(
                "{{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"X\",\"U\":6,\"u\":6{pu},\"b\":[[\"10.00\",\"0\"],[\"10.00\",\"2\"],[\"9.98\",\"1\"]],\"a\":[[\"10.01\",\"0\"],[\"10.015\",\"1\"]]}}"
            );
            assert!(matches!(
                b.apply_message(msg.as_bytes()),
                Err(ScanError::OffGrid { .. })
            ));
            assert_eq!(b.depth(true, 10), vec![(1000, 5), (999, 6)]);
            assert_eq!(b.depth(false, 10), vec![(1001, 7)]);
            assert_eq!(b.last_id, 5);
            let good = msg.replace("10.015", "10.02");
            assert_eq!(b.apply_message(good.as_bytes()), Ok(Status::Applied));
            assert_eq!(b.depth(true, 10), vec![(1000, 2000), (999, 6), (998, 1000)]);
            assert_eq!(b.depth(false, 10), vec![(1002, 1000)]);
        }
    }

    #[test]
    fn binance_futures_uses_pu_chain() {
        let mut b = book(Venue::BinanceFutures);
        let snap = br#"{"lastUpdateId":1000,"E":1,"T":1,"bids":[["10","1"]],"asks":[["11","1"]]}"#;
        assert_eq!(b.load_binance_snapshot(snap), Ok(Status::Applied));
        assert_eq!(
            b.apply_message(&depth(990, 999, Some(989), &[], &[])),
            Ok(Status::Stale)
        );
        assert_eq!(
            b.apply_message(&depth(995, 1003, Some(994), &[("10.5", "2")], &[])),
            Ok(Status::Applied)
        );
        assert_eq!(
            b.apply_message(&depth(1004, 1006, Some(1003), &[], &[("11", "0")])),
            Ok(Status::Applied)
        );
        assert_eq!(b.best_ask(), None);
        assert_eq!(
            b.apply_message(&depth(1010, 1012, Some(1008), &[], &[])),
            Ok(Status::Resync)
        );
    }

    #[test]
    fn combined_stream_envelope_is_accepted() {
        let mut b = book(Venue::BinanceSpot);
        b.load_snapshot(&[], &[], 5);
        let inner = String::from_utf8(depth(6, 6, None, &[("1.00", "1")], &[])).unwrap();
        let msg = format!("{{\"stream\":\"btcusdt@depth\",\"data\":{inner}}}");
        assert_eq!(b.apply_message(msg.as_bytes()), Ok(Status::Applied));
        assert_eq!(b.best_bid(), Some((100, 1000)));
    }

    /// `{"data":` repeated `n` times around `inner`.
    fn nested(n: usize, key: &str, inner: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(n * (key.len() + 5) + inner.len());
        for _ in 0..n {
            out.extend_from_slice(format!("{{\"{key}\":").as_bytes());
        }
        out.extend_from_slice(inner);
        out.extend(std::iter::repeat_n(b'}', n));
        out
    }

    #[test]
    fn envelopes_deeper_than_a_combined_stream_are_refused() {
        for venue in [Venue::BinanceSpot, Venue::BinanceFutures] {
            let mut b = book(venue);
            b.load_snapshot(&[(100, 1)], &[(200, 1)], 5);
            let inner = depth(6, 6, Some(5), &[("1.50", "1")], &[]);
            assert_eq!(
                b.apply_message(&nested(1, "data", &inner)),
                Ok(Status::Applied)
            );
            let inner = depth(7, 7, Some(6), &[("1.60", "1")], &[]);
            let two = nested(2, "data", &inner);
            let err = b.apply_message(&two).unwrap_err();
            assert_eq!(err.pos(), "{\"data\":{\"data\":".len());
            // Deep enough to overflow the stack if it were followed.
            let deep = nested(200_000, "data", &inner);
            assert!(matches!(
                b.apply_message(&deep),
                Err(ScanError::Malformed { .. })
            ));
            assert_eq!(b.size_at(true, 160), 0);
            assert_eq!(b.last_id, 6);
            for book_kind in [Venue::Okx, Venue::Bybit] {
                let mut other = super::Book::<VecLadder>::new(book_kind, grid("0.01"), grid("1"));
                assert!(other.apply_message(&deep).is_err());
            }
            assert!(b.load_binance_snapshot(&deep).is_err());
        }
    }

    #[test]
    fn malformed_depth_changes_nothing_and_names_offset() {
        let mut b = book(Venue::BinanceSpot);
        b.load_snapshot(&[(100, 1)], &[], 5);
        let bad = br#"{"e":"depthUpdate","U":6,"u":6,"b":[["1.00","1"],["1.001","1"]],"a":[]}"#;
        let err = b.apply_message(bad).unwrap_err();
        assert_eq!(err, ScanError::OffGrid { pos: 51 });
        assert_eq!(b.best_bid(), Some((100, 1)));
        let err = b
            .apply_message(br#"{"U":6,"u":6,"b":[["1","1"]"#)
            .unwrap_err();
        assert_eq!(err.pos(), 27);
    }

    #[test]
    fn deribit_books_take_levels_and_refuse_messages() {
        let mut b = book(Venue::Deribit);
        assert_eq!(Venue::parse("deribit"), Some(Venue::Deribit));
        assert_eq!(
            b.load_snapshot(&[(100, 1), (99, 2)], &[(101, 3)], 0),
            Status::Applied
        );
        assert!(b.is_synced());
        b.set_level(true, 100, 0);
        assert_eq!(b.best_bid(), Some((99, 2)));
        // No venue message format is read for it, whatever the bytes.
        let snap = br#"{"type":"snapshot","ts":1,"data":{"b":[["1","1"]],"a":[],"u":1,"seq":1}}"#;
        assert!(b.apply_message(snap).is_err());
        assert_eq!(b.best_bid(), Some((99, 2)));
        assert_eq!(b.best_ask(), Some((101, 3)));
    }

    #[test]
    fn okx_checksum_over_original_text() {
        let mut b = Book::<VecLadder>::new(Venue::Okx, grid("0.1"), grid("1"));
        let text = b"3366.1:7:3366.8:9:3366:6:3368:8";
        let want = crc32(text) as i32;
        let snap = format!(
            r#"{{"arg":{{"channel":"books","instId":"BTC-USDT"}},"action":"snapshot","data":[{{"asks":[["3366.8","9","0","3"],["3368","8","0","3"]],"bids":[["3366.1","7","0","3"],["3366","6","0","3"]],"ts":"1597026383085","checksum":{want},"prevSeqId":-1,"seqId":123456}}]}}"#
        );
        assert_eq!(b.apply_message(snap.as_bytes()), Ok(Status::Applied));
        assert_eq!(b.okx_checksum(), want);
        let upd = br#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["3368","0","0","0"]],"bids":[],"ts":"1","checksum":0,"prevSeqId":123456,"seqId":123457}]}"#;
        assert_eq!(b.apply_message(upd), Ok(Status::Applied));
        assert_eq!(b.okx_checksum(), crc32(b"3366.1:7:3366.8:9:3366:6") as i32);
        let bad_sum = br#"{"action":"update","data":[{"asks":[],"bids":[["3366.2","1","0","1"]],"checksum":12345,"prevSeqId":123457,"seqId":123458}]}"#;
        assert_eq!(b.apply_message(bad_sum), Ok(Status::Resync));
        let gap = br#"{"action":"update","data":[{"asks":[],"bids":[],"checksum":0,"prevSeqId":1,"seqId":2}]}"#;
        assert_eq!(b.apply_message(gap), Ok(Status::Resync));
    }

    #[test]
    fn bybit_delta_needs_consecutive_u() {
        let mut b = Book::<VecLadder>::new(Venue::Bybit, grid("0.5"), grid("0.001"));
        let delta = br#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[],"u":5,"seq":9},"cts":1}"#;
        assert_eq!(b.apply_message(delta), Ok(Status::Resync));
        let snap = br#"{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1672304484978,"data":{"s":"BTCUSDT","b":[["16493.50","0.006"],["16493.00","0.100"]],"a":[["16611.00","0.029"]],"u":18521288,"seq":7961638724},"cts":1672304484976}"#;
        assert_eq!(b.apply_message(snap), Ok(Status::Applied));
        assert_eq!(b.best_bid(), Some((32987, 6)));
        let d = br#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":2,"data":{"s":"BTCUSDT","b":[["16493.50","0"]],"a":[["16600.00","1"]],"u":18521289,"seq":7961638725},"cts":2}"#;
        assert_eq!(b.apply_message(d), Ok(Status::Applied));
        assert_eq!(b.best_bid(), Some((32986, 100)));
        assert_eq!(b.best_ask(), Some((33200, 1000)));
        assert_eq!(b.apply_message(d), Ok(Status::Stale));
        // The next u but an earlier cross sequence: out of order, nothing changes.
        let older = br#"{"type":"delta","data":{"b":[["16000.00","5"]],"a":[],"u":18521290,"seq":7961638724}}"#;
        assert_eq!(b.apply_message(older), Ok(Status::Stale));
        assert_eq!(b.size_at(true, 32000), 0);
        assert_eq!(b.last_id, 18521289);
        assert!(b.is_synced());
        let next = br#"{"type":"delta","data":{"b":[["16000.00","5"]],"a":[],"u":18521290,"seq":7961638725}}"#;
        assert_eq!(b.apply_message(next), Ok(Status::Applied));
        assert_eq!(b.size_at(true, 32000), 5000);
        let skip = br#"{"type":"delta","data":{"b":[],"a":[],"u":18521292}}"#;
        assert_eq!(b.apply_message(skip), Ok(Status::Resync));
        let restart = br#"{"type":"delta","data":{"b":[["1","1"]],"a":[],"u":1}}"#;
        assert_eq!(b.apply_message(restart), Ok(Status::Applied));
        assert_eq!(b.len(true), 1);
    }

    fn refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
        v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
    }

    /// A market that evolves without ever crossing; each step emits a Binance diff.
    fn random_uncrossed_run<L: Ladder>(seed: u64, futures: bool) {
        let mut rng = Rng::new(seed);
        let venue = if futures {
            Venue::BinanceFutures
        } else {
            Venue::BinanceSpot
        };
        let mut b: Book<L> = Book::new(venue, grid("1"), grid("1"));
        let mut model: BTreeMap<i64, (bool, i64)> = BTreeMap::new();
        let mut mid = 10_000i64;
        for p in 1..=20 {
            model.insert(mid - p, (true, 1 + rng.below(50) as i64));
            model.insert(mid + p, (false, 1 + rng.below(50) as i64));
        }
        let bids: Vec<_> = model
            .iter()
            .filter(|(_, v)| v.0)
            .map(|(p, v)| (*p, v.1))
            .collect();
        let asks: Vec<_> = model
            .iter()
            .filter(|(_, v)| !v.0)
            .map(|(p, v)| (*p, v.1))
            .collect();
        let mut id = 100;
        b.load_snapshot(&bids, &asks, id);
        for _ in 0..400 {
            mid += rng.below(5) as i64 - 2;
            let mut bl = Vec::new();
            let mut al = Vec::new();
            // Levels on the wrong side of the new mid are removed first.
            let wrong: Vec<_> = model
                .iter()
                .filter(|(p, v)| (v.0 && **p >= mid) || (!v.0 && **p <= mid))
                .map(|(p, v)| (*p, v.0))
                .collect();
            for (p, bid) in wrong {
                model.remove(&p);
                if bid { &mut bl } else { &mut al }.push((p.to_string(), "0".to_string()));
            }
            for _ in 0..rng.below(8) {
                let off = 1 + rng.below(40) as i64;
                let bid = rng.below(2) == 0;
                let p = if bid { mid - off } else { mid + off };
                let q = if rng.below(4) == 0 {
                    0
                } else {
                    1 + rng.below(99) as i64
                };
                if q == 0 {
                    model.remove(&p);
                } else {
                    model.insert(p, (bid, q));
                }
                if bid { &mut bl } else { &mut al }.push((p.to_string(), q.to_string()));
            }
            let n = 1 + rng.below(3) as i64;
            let msg = depth(
                id + 1,
                id + n,
                futures.then_some(id),
                &refs(&bl),
                &refs(&al),
            );
            assert_eq!(b.apply_message(&msg), Ok(Status::Applied));
            id += n;
            assert!(!b.is_crossed(), "crossed at update {id}");
            let mine: Vec<_> = b.depth(true, usize::MAX);
            let want: Vec<_> = model
                .iter()
                .rev()
                .filter(|(_, v)| v.0)
                .map(|(p, v)| (*p, v.1))
                .collect();
            assert_eq!(mine, want);
            let mine: Vec<_> = b.depth(false, usize::MAX);
            let want: Vec<_> = model
                .iter()
                .filter(|(_, v)| !v.0)
                .map(|(p, v)| (*p, v.1))
                .collect();
            assert_eq!(mine, want);
        }
        // A dropped message is always reported.
        let msg = depth(id + 2, id + 3, futures.then_some(id + 1), &[], &[]);
        assert_eq!(b.apply_message(&msg), Ok(Status::Resync));
    }

    #[test]
    fn property_valid_sequences_never_cross_and_match_model() {
        for seed in 1..40 {
            random_uncrossed_run::<VecLadder>(seed, seed % 2 == 0);
            random_uncrossed_run::<TreeLadder>(seed, seed % 2 == 1);
            random_uncrossed_run::<ArrayLadder>(seed, seed % 2 == 0);
            // A window narrower than the market's moves exercises re-centring.
            random_uncrossed_run::<ArrayLadder<16>>(seed, seed % 2 == 1);
        }
    }

    /// A market that never crosses, kept as a brute-force model: price -> (is bid, size).
    struct Market {
        rng: Rng,
        mid: i64,
        model: BTreeMap<i64, (bool, i64)>,
    }

    type Changes = (Vec<(i64, i64)>, Vec<(i64, i64)>);

    impl Market {
        fn new(seed: u64) -> Market {
            let mut rng = Rng::new(seed);
            let mut model = BTreeMap::new();
            let mid = 10_000i64;
            for p in 1..=30 {
                model.insert(mid - p, (true, 1 + rng.below(50) as i64));
                model.insert(mid + p, (false, 1 + rng.below(50) as i64));
            }
            Market { rng, mid, model }
        }

        fn side(&self, bid: bool) -> Vec<(i64, i64)> {
            let levels = self.model.iter().filter(|(_, v)| v.0 == bid);
            let levels: Vec<_> = levels.map(|(p, v)| (*p, v.1)).collect();
            if bid {
                levels.into_iter().rev().collect()
            } else {
                levels
            }
        }

        /// Moves the market one step; returns the level changes (size 0 deletes).
        fn step(&mut self) -> Changes {
            let rng = &mut self.rng;
            self.mid += rng.below(5) as i64 - 2;
            let mid = self.mid;
            let (mut bids, mut asks) = (Vec::new(), Vec::new());
            let wrong: Vec<_> = self
                .model
                .iter()
                .filter(|(p, v)| (v.0 && **p >= mid) || (!v.0 && **p <= mid))
                .map(|(p, v)| (*p, v.0))
                .collect();
            for (p, bid) in wrong {
                self.model.remove(&p);
                if bid { &mut bids } else { &mut asks }.push((p, 0));
            }
            for _ in 0..rng.below(8) {
                let off = 1 + rng.below(40) as i64;
                let bid = rng.below(2) == 0;
                let p = if bid { mid - off } else { mid + off };
                let q = if rng.below(4) == 0 {
                    0
                } else {
                    1 + rng.below(99) as i64
                };
                if q == 0 {
                    self.model.remove(&p);
                } else {
                    self.model.insert(p, (bid, q));
                }
                if bid { &mut bids } else { &mut asks }.push((p, q));
            }
            (bids, asks)
        }

        /// OKX's checksum text over the model's top 25 levels per side.
        fn okx_checksum(&self) -> i64 {
            let (bids, asks) = (self.side(true), self.side(false));
            let mut parts = Vec::new();
            for k in 0..25 {
                for side in [&bids, &asks] {
                    if let Some((p, q)) = side.get(k) {
                        parts.push(format!("{p}:{q}"));
                    }
                }
            }
            i64::from(crc32(parts.join(":").as_bytes()) as i32)
        }
    }

    fn okx_levels(levels: &[(i64, i64)]) -> String {
        let v: Vec<_> = levels
            .iter()
            .map(|(p, q)| format!("[\"{p}\",\"{q}\",\"0\",\"1\"]"))
            .collect();
        format!("[{}]", v.join(","))
    }

    fn okx_push(action: &str, c: &Changes, prev: i64, seq: i64, checksum: i64) -> Vec<u8> {
        format!(
            "{{\"arg\":{{\"channel\":\"books\",\"instId\":\"BTC-USDT\"}},\"action\":\"{action}\",\"data\":[{{\"asks\":{},\"bids\":{},\"ts\":\"1\",\"checksum\":{checksum},\"prevSeqId\":{prev},\"seqId\":{seq}}}]}}",
            okx_levels(&c.1),
            okx_levels(&c.0)
        )
        .into_bytes()
    }

    fn bybit_levels(levels: &[(i64, i64)]) -> String {
        let v: Vec<_> = levels
            .iter()
            .map(|(p, q)| format!("[\"{p}\",\"{q}\"]"))
            .collect();
        format!("[{}]", v.join(","))
    }

    fn bybit_push(kind: &str, c: &Changes, u: i64, seq: i64) -> Vec<u8> {
        format!(
            "{{\"topic\":\"orderbook.200.BTCUSDT\",\"type\":\"{kind}\",\"ts\":1,\"data\":{{\"s\":\"BTCUSDT\",\"b\":{},\"a\":{},\"u\":{u},\"seq\":{seq}}},\"cts\":1}}",
            bybit_levels(&c.0),
            bybit_levels(&c.1)
        )
        .into_bytes()
    }

    fn same_as_model<L: Ladder>(b: &Book<L>, m: &Market, at: usize) {
        assert!(!b.is_crossed(), "crossed at step {at}");
        assert_eq!(b.depth(true, usize::MAX), m.side(true), "bids at step {at}");
        assert_eq!(
            b.depth(false, usize::MAX),
            m.side(false),
            "asks at step {at}"
        );
    }

    /// Book contents, to show that a refused message changed nothing.
    fn contents<L: Ladder>(b: &Book<L>) -> (Changes, i64) {
        (
            (b.depth(true, usize::MAX), b.depth(false, usize::MAX)),
            b.last_id,
        )
    }

    fn random_okx_run<L: Ladder>(seed: u64) {
        let mut m = Market::new(seed);
        let with_checksum = seed.is_multiple_of(2);
        let mut b: Book<L> = Book::new(Venue::Okx, grid("1"), grid("1"));
        let sum = |m: &Market| if with_checksum { m.okx_checksum() } else { 0 };
        let mut seq = 1_000 + m.rng.below(1_000) as i64;
        let snap = (m.side(true), m.side(false));
        let msg = okx_push("snapshot", &snap, -1, seq, sum(&m));
        assert_eq!(b.apply_message(&msg), Ok(Status::Applied));
        same_as_model(&b, &m, 0);
        for at in 1..300 {
            let changes = m.step();
            // seqId grows, not always by one; prevSeqId names the previous push.
            let next = seq + 1 + m.rng.below(3) as i64;
            let msg = okx_push("update", &changes, seq, next, sum(&m));
            assert_eq!(b.apply_message(&msg), Ok(Status::Applied), "step {at}");
            seq = next;
            same_as_model(&b, &m, at);
        }
        // A missed push: prevSeqId is not the last seqId.
        let before = contents(&b);
        let changes = m.step();
        let skip = 1 + m.rng.below(5) as i64;
        let msg = okx_push("update", &changes, seq + skip, seq + skip + 1, 0);
        assert_eq!(b.apply_message(&msg), Ok(Status::Resync));
        assert_eq!(contents(&b), before, "a gap must not touch the book");
        // Until a snapshot, even a chained update is refused.
        let msg = okx_push("update", &changes, seq, seq + 1, 0);
        assert_eq!(b.apply_message(&msg), Ok(Status::Resync));
        assert_eq!(contents(&b), before);
    }

    fn random_bybit_run<L: Ladder>(seed: u64) {
        let mut m = Market::new(seed);
        let mut b: Book<L> = Book::new(Venue::Bybit, grid("1"), grid("1"));
        let mut u = 10 + m.rng.below(1_000) as i64;
        let mut seq = 7_000_000 + m.rng.below(1_000) as i64;
        let snap = (m.side(true), m.side(false));
        assert_eq!(
            b.apply_message(&bybit_push("snapshot", &snap, u, seq)),
            Ok(Status::Applied)
        );
        for at in 1..300 {
            let changes = m.step();
            u += 1;
            // The cross sequence moves on by any amount (other books share it).
            seq += m.rng.below(4) as i64;
            let msg = bybit_push("delta", &changes, u, seq);
            assert_eq!(b.apply_message(&msg), Ok(Status::Applied), "step {at}");
            same_as_model(&b, &m, at);
            if m.rng.below(10) == 0 {
                // A repeated push is stale and changes nothing.
                let before = contents(&b);
                assert_eq!(b.apply_message(&msg), Ok(Status::Stale));
                assert_eq!(contents(&b), before);
            }
        }
        let before = contents(&b);
        let changes = m.step();
        let skip = 2 + m.rng.below(5) as i64;
        let msg = bybit_push("delta", &changes, u + skip, seq + 1);
        assert_eq!(b.apply_message(&msg), Ok(Status::Resync));
        assert_eq!(contents(&b), before, "a gap must not touch the book");
        let msg = bybit_push("delta", &changes, u + 1, seq + 1);
        assert_eq!(b.apply_message(&msg), Ok(Status::Resync));
        assert_eq!(contents(&b), before);
        // A snapshot starts over.
        let snap = (m.side(true), m.side(false));
        let msg = bybit_push("snapshot", &snap, u + skip + 1, seq + 2);
        assert_eq!(b.apply_message(&msg), Ok(Status::Applied));
        same_as_model(&b, &m, 300);
    }

    #[test]
    fn property_okx_and_bybit_sequences_match_model_and_gaps_resync() {
        for seed in 1..13 {
            random_okx_run::<VecLadder>(seed);
            random_okx_run::<TreeLadder>(seed + 1);
            random_okx_run::<ArrayLadder>(seed + 2);
            random_okx_run::<ArrayLadder<16>>(seed + 3);
            random_bybit_run::<VecLadder>(seed);
            random_bybit_run::<TreeLadder>(seed + 1);
            random_bybit_run::<ArrayLadder>(seed + 2);
            random_bybit_run::<ArrayLadder<16>>(seed + 3);
        }
    }

    #[test]
    fn ladders_agree_at_the_ends_of_the_key_range() {
        let keys = [
            i64::MIN + 1,
            i64::MAX - 1,
            i64::MAX,
            -5,
            i64::MIN + 4000,
            i64::MAX - 3000,
        ];
        let mut t = TreeLadder::default();
        let mut a = ArrayLadder::<4096>::default();
        let mut v = VecLadder::default();
        for (n, &k) in keys.iter().enumerate() {
            t.set(k, n as i64 + 1);
            a.set(k, n as i64 + 1);
            v.set(k, n as i64 + 1);
            assert_eq!(a.best(), t.best(), "after {k}");
            assert_eq!(v.best(), t.best());
            assert!(a.top().eq(t.top()));
        }
        for &k in &keys {
            assert_eq!(a.get(k), t.get(k));
            t.set(k, 0);
            a.set(k, 0);
            assert_eq!(a.best(), t.best());
        }
    }

    #[test]
    fn ladders_agree_on_random_operations() {
        let mut rng = Rng::new(7);
        let mut v = VecLadder::default();
        let mut t = TreeLadder::default();
        let mut a = ArrayLadder::<32>::default();
        for step in 0..40_000 {
            let k = rng.below(500) as i64 - 250;
            let q = if rng.below(3) == 0 {
                0
            } else {
                rng.below(1000) as i64
            };
            v.set(k, q);
            t.set(k, q);
            a.set(k, q);
            assert_eq!(v.best(), t.best());
            assert_eq!(a.best(), t.best(), "step {step}");
            assert_eq!(v.get(k), t.get(k));
            assert_eq!(a.get(k), t.get(k));
            assert_eq!(a.len(), t.len());
            if step % 1000 == 0 {
                assert!(v.top().eq(t.top()));
                assert!(a.top().eq(t.top()));
            }
        }
    }

    /// Times both layouts on a Binance-like stream: a 1,000-level book per side where
    /// most changes are within 20 levels of the top and some are deep.
    /// Run with `cargo test --release -- --ignored ladder_layouts --nocapture`.
    #[test]
    #[ignore]
    fn ladder_layouts_measured() {
        fn run<L: Ladder>(name: &str, levels: i64) {
            let mut rng = Rng::new(11);
            let mut ops = Vec::new();
            for _ in 0..2_000_000 {
                let deep = rng.below(10) == 0;
                let off = if deep {
                    rng.below(levels as u64)
                } else {
                    rng.below(20)
                } as i64;
                let q = if rng.below(3) == 0 {
                    0
                } else {
                    1 + rng.below(1000) as i64
                };
                ops.push((1_000_000 - off, q));
            }
            let mut l = L::default();
            for k in 0..levels {
                l.set(1_000_000 - k, 5);
            }
            let t = std::time::Instant::now();
            let mut sink = 0;
            for &(k, q) in &ops {
                l.set(k, q);
                sink += l.best().map_or(0, |b| b.1);
            }
            let ns = t.elapsed().as_nanos() as f64 / ops.len() as f64;
            println!("{name} levels={levels}: {ns:.1} ns per set+best ({sink})");
        }
        for levels in [100, 1000, 5000] {
            run::<VecLadder>("sorted Vec", levels);
            run::<TreeLadder>("BTreeMap  ", levels);
            run::<ArrayLadder>("array     ", levels);
        }
        // A trending market: the best rises one tick every 100 updates (20,000 ticks over
        // the run), so the array re-centres about every 1,000 ticks.
        fn trend<L: Ladder>(name: &str) {
            let mut rng = Rng::new(12);
            let mut l = L::default();
            let mut best = 1_000_000i64;
            for k in 0..1000 {
                l.set(best - k, 5);
            }
            let t = std::time::Instant::now();
            let mut sink = 0;
            for step in 0..2_000_000u64 {
                if step % 100 == 0 {
                    best += 1;
                    l.set(best, 7);
                }
                let off = if rng.below(10) == 0 {
                    rng.below(1000)
                } else {
                    rng.below(20)
                } as i64;
                let q = if rng.below(3) == 0 {
                    0
                } else {
                    1 + rng.below(1000) as i64
                };
                l.set(best - 1 - off, q);
                sink += l.best().map_or(0, |b| b.1);
            }
            let ns = t.elapsed().as_nanos() as f64 / 2e6;
            println!("{name} trending: {ns:.1} ns per set+best ({sink})");
        }
        trend::<VecLadder>("sorted Vec");
        trend::<TreeLadder>("BTreeMap  ");
        trend::<ArrayLadder>("array     ");
    }
}

#[cfg(test)]
mod timing {
    use super::*;
    use crate::fixed::Grid;

    /// Rust-only cost of scanning and applying depth messages and a trade frame.
    /// Run with `cargo test --release -- --ignored rust_only --nocapture`.
    #[test]
    #[ignore]
    fn rust_only_costs() {
        let g = |s: &str| FastGrid::from_grid(&Grid::parse(s.as_bytes()).unwrap()).unwrap();
        let mut msgs = Vec::new();
        let mut rng = crate::testrng::Rng::new(1);
        for k in 0..4096i64 {
            let mut s = format!(
                "{{\"e\":\"depthUpdate\",\"E\":{},\"s\":\"BTCUSDT\",\"U\":{},\"u\":{},\"b\":[",
                1700000000000i64 + k,
                k + 1,
                k + 1
            );
            for side in 0..2 {
                if side == 1 {
                    s.push_str("],\"a\":[");
                }
                for l in 0..20 {
                    if l > 0 {
                        s.push(',');
                    }
                    let p = if side == 0 {
                        5_199_999 - rng.below(100) as i64
                    } else {
                        5_200_001 + rng.below(100) as i64
                    };
                    let q = rng.below(500_000);
                    s.push_str(&format!(
                        "[\"{}.{:02}000000\",\"{}.{:05}000\"]",
                        p / 100,
                        p % 100,
                        q / 100_000,
                        q % 100_000
                    ));
                }
            }
            s.push_str("]}");
            msgs.push(s.into_bytes());
        }
        let mut book: Book = Book::new(Venue::BinanceSpot, g("0.01"), g("0.00001"));
        let bids: Vec<_> = (0..1000).map(|i| (5_199_999 - i, 100_000)).collect();
        let asks: Vec<_> = (0..1000).map(|i| (5_200_001 + i, 100_000)).collect();
        book.load_snapshot(&bids, &asks, 0);
        // The machine's speed varies between runs: report the best of several passes.
        let mut best = f64::MAX;
        for _ in 0..7 {
            book.load_snapshot(&bids, &asks, 0);
            let t = std::time::Instant::now();
            for m in &msgs {
                assert_eq!(book.apply_message(m), Ok(Status::Applied));
            }
            best = best.min(t.elapsed().as_nanos() as f64 / msgs.len() as f64);
        }
        let ns = best;
        println!(
            "depth apply: {ns:.0} ns per 40-level message ({} bytes)",
            msgs[0].len()
        );
        let t = std::time::Instant::now();
        let mut cnt = 0;
        for m in &msgs {
            let mut c = Cursor::new(m);
            c.skip().unwrap();
            cnt += c.pos;
        }
        let ns = t.elapsed().as_nanos() as f64 / msgs.len() as f64;
        println!("skip only: {ns:.0} ns per message ({cnt})");
        let t = std::time::Instant::now();
        let mut cnt = 0usize;
        for m in &msgs {
            for &c in std::hint::black_box(m.as_slice()) {
                cnt += usize::from(c == b'"');
            }
        }
        let ns = t.elapsed().as_nanos() as f64 / msgs.len() as f64;
        println!("count quotes: {ns:.0} ns per message ({cnt})");
        let mut best = f64::MAX;
        for _ in 0..7 {
            let t = std::time::Instant::now();
            for m in &msgs {
                book.scratch.clear();
                let mut c = Cursor::new(m);
                let (mut f, mut l, mut p, mut tm, mut ok) = (None, None, 0, 0, true);
                book.binance_depth_object(
                    &mut c,
                    &mut f,
                    &mut l,
                    &mut p,
                    &mut tm,
                    &mut ok,
                    DEPTH_ENVELOPES,
                )
                .unwrap();
            }
            best = best.min(t.elapsed().as_nanos() as f64 / msgs.len() as f64);
        }
        let ns = best;
        println!("parse into scratch only: {ns:.0} ns per message");
        let trade = crate::venues::samples::BINANCE_TRADE;
        let (pg, qg) = (g("0.00001"), g("0.00000001"));
        let t = std::time::Instant::now();
        let mut sum = 0;
        for _ in 0..1_000_000 {
            sum += crate::venues::binance_trade(std::hint::black_box(trade), &pg, &qg)
                .unwrap()
                .price;
        }
        println!(
            "trade parse: {:.1} ns ({sum})",
            t.elapsed().as_nanos() as f64 / 1e6
        );
        let okx = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fuzz/corpus/json/okx_order.json"
        ));
        if let Ok(okx) = okx {
            let mut out = Vec::new();
            let t = std::time::Instant::now();
            for _ in 0..200_000 {
                out.clear();
                crate::venues::okx_orders(std::hint::black_box(&okx), &mut out).unwrap();
            }
            println!(
                "okx order parse: {:.1} ns",
                t.elapsed().as_nanos() as f64 / 2e5
            );
        }
    }
}
