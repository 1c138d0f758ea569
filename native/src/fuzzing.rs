//! Entry points that run every parser on arbitrary bytes, shared by the cargo-fuzz
//! targets under `fuzz/` and by the mutation test below (which runs on stable Rust in
//! `cargo test`). The property checked is the one the FFI boundary needs: no input
//! panics (debug builds also trap integer overflow), and errors carry offsets inside the
//! input; the decimal readers must also agree with each other and with formatting.

use crate::book::{ArrayLadder, Book, TreeLadder, VecLadder, Venue};
use crate::fix;
use crate::fixed::{Decimal, Grid};
use crate::json::{decimal_fast, unescape, Cursor, FastGrid};
use crate::venues;

fn grid(step: &[u8]) -> FastGrid {
    Grid::parse(step)
        .ok()
        .and_then(|g| FastGrid::from_grid(&g))
        .unwrap_or(FastGrid { step: 1, scale: 0 })
}

/// Every JSON scanner on `data`.
pub fn json_scanners(data: &[u8]) {
    for (p, q) in [
        (&b"0.01"[..], &b"0.00001"[..]),
        (b"0.5", b"1"),
        (b"0.00000001", b"0.001"),
    ] {
        let (p, q) = (grid(p), grid(q));
        check(
            data,
            venues::binance_trade(data, &p, &q).err().map(|e| e.pos()),
        );
        let mut trades = Vec::new();
        check(
            data,
            venues::okx_trades(data, &p, &q, &mut trades)
                .err()
                .map(|e| e.pos()),
        );
        check(
            data,
            venues::bybit_trades(data, &p, &q, &mut trades)
                .err()
                .map(|e| e.pos()),
        );
    }
    check(data, venues::binance_order(data).err().map(|e| e.pos()));
    let mut orders = Vec::new();
    check(
        data,
        venues::okx_orders(data, &mut orders).err().map(|e| e.pos()),
    );
    check(
        data,
        venues::bybit_orders(data, &mut orders)
            .err()
            .map(|e| e.pos()),
    );
    if let Ok(o) = venues::binance_order(data) {
        orders.push(o);
    }
    for o in &orders {
        for span in o.spans {
            assert!(span.start <= span.end && span.end as usize <= data.len());
            // What a Python caller reads: the field's text, escapes decoded.
            let _ = unescape(span.of(data));
        }
    }
    let _ = unescape(data);
    let mut cur = Cursor::new(data);
    check(data, cur.skip().err().map(|e| e.pos()));
}

/// Every venue's book on `data`, before and after a snapshot.
pub fn book_messages(data: &[u8]) {
    for venue in [
        Venue::BinanceSpot,
        Venue::BinanceFutures,
        Venue::Okx,
        Venue::Bybit,
        Venue::Deribit,
    ] {
        run_book::<ArrayLadder>(venue, data);
        run_book::<ArrayLadder<16>>(venue, data);
        run_book::<VecLadder>(venue, data);
        run_book::<TreeLadder>(venue, data);
    }
}

fn run_book<L: crate::book::Ladder>(venue: Venue, data: &[u8]) {
    let mut b: Book<L> = Book::new(venue, grid(b"0.01"), grid(b"0.001"));
    check(data, b.apply_message(data).err().map(|e| e.pos()));
    check(data, b.load_binance_snapshot(data).err().map(|e| e.pos()));
    b.load_snapshot(&[(100, 1), (99, 2)], &[(101, 1)], 1);
    check(data, b.apply_message(data).err().map(|e| e.pos()));
    let _ = b.okx_checksum();
    let _ = b.depth(true, 30);
    let _ = b.depth(false, 30);
}

/// The decimal parser on `data` as text: as a value, as a grid step, and placed on
/// grids by the exact and the fast readers, which must agree; a value on a grid must
/// format back to text that reads as the same units.
pub fn decimal_parser(data: &[u8]) {
    let value = Decimal::parse(data);
    if let Err(crate::fixed::FixedError::Malformed { pos }) = value {
        check(data, Some(pos));
    }
    if let Ok(g) = Grid::parse(data) {
        let _ = g.format(1);
        let _ = g.format(i64::MAX);
        let _ = g.format(i64::MIN);
        let _ = g.to_f64(i64::MAX);
        let _ = g.to_f64(i64::MIN);
        if let Some(fast) = FastGrid::from_grid(&g) {
            let _ = fast.units(b"123.45", 0);
        }
    }
    let mut quoted = Vec::with_capacity(data.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(data);
    quoted.push(b'"');
    for step in [&b"0.01"[..], b"1", b"0.00000001", b"25", b"0.5"] {
        let Ok(g) = Grid::parse(step) else { continue };
        if let Ok(d) = value {
            if let Ok(units) = g.units(d) {
                let text = g.format(units).expect("i64 units of a small step fit");
                let back = Decimal::parse(text.as_bytes()).expect("formatted text parses");
                assert_eq!(g.units(back), Ok(units), "{text}");
            }
            let _ = g.units_floor(d);
        }
        let Some(fast) = FastGrid::from_grid(&g) else {
            continue;
        };
        let exact = fast.units(data, 0);
        check(data, exact.as_ref().err().map(|e| e.pos()));
        if let Some((units, end)) = decimal_fast(&quoted, 1, &fast) {
            assert!(end < quoted.len());
            assert_eq!(Ok(units), fast.units(&quoted[1..end], 1));
        }
    }
}

/// The FIX decoder, framing and group access on `data`.
pub fn fix_decoder(data: &[u8]) {
    check(data, fix::frame_length(data).err().map(|e| e.pos));
    let mut fields = Vec::new();
    match fix::decode(data, &mut fields) {
        Ok(n) => {
            assert!(n <= data.len());
            for f in &fields {
                assert!(f.start <= f.end && (f.end as usize) < n);
            }
            for count in [146, 453, 268, 1362] {
                let _ = fix::group(&fields, data, count, &[55, 167, 448, 447, 452]);
            }
        }
        Err(e) => check(data, Some(e.pos)),
    }
}

fn check(data: &[u8], pos: Option<usize>) {
    if let Some(p) = pos {
        assert!(
            p <= data.len(),
            "error offset {p} past the end ({})",
            data.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testrng::Rng;

    fn corpus() -> Vec<Vec<u8>> {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus");
        let mut out = Vec::new();
        for dir in std::fs::read_dir(root).expect("corpus directory") {
            let dir = dir.expect("entry").path();
            for file in std::fs::read_dir(&dir).expect("corpus subdirectory") {
                out.push(std::fs::read(file.expect("entry").path()).expect("corpus file"));
            }
        }
        out
    }

    fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
        let mut m = seed.to_vec();
        for _ in 0..1 + rng.below(4) {
            let n = m.len().max(1) as u64;
            let at = rng.below(n) as usize;
            let last = m.len().saturating_sub(1);
            match rng.below(8) {
                0 if !m.is_empty() => m[at.min(last)] ^= 1 << rng.below(8),
                1 => m.truncate(at),
                2 => m.insert(
                    at.min(m.len()),
                    b"\"{}[],:0123456789.-e\\\x01 E+u"[rng.below(26) as usize],
                ),
                3 if !m.is_empty() => {
                    m.remove(at.min(last));
                }
                4 => {
                    // Splice in a piece of another corpus file.
                    let from = rng.below(other.len().max(1) as u64) as usize;
                    let len = rng.below(40) as usize;
                    let piece = &other[from.min(other.len())..(from + len).min(other.len())];
                    let at = at.min(m.len());
                    m.splice(at..at, piece.iter().copied());
                }
                5 => {
                    // Long runs of digits find overflow.
                    let at = at.min(m.len());
                    m.splice(
                        at..at,
                        std::iter::repeat_n(b'9', 1 + rng.below(30) as usize),
                    );
                }
                6 if !m.is_empty() => m[at.min(last)] = rng.below(256) as u8,
                _ => {
                    let at = at.min(m.len());
                    m.splice(at..at, b"\x01".iter().copied());
                }
            }
        }
        m
    }

    #[test]
    fn corpus_itself_runs_clean() {
        for seed in corpus() {
            json_scanners(&seed);
            book_messages(&seed);
            fix_decoder(&seed);
            decimal_parser(&seed);
        }
    }

    #[test]
    fn mutated_corpus_never_panics() {
        let seeds = corpus();
        assert!(seeds.len() >= 10, "the fuzz corpus is missing");
        let mut rng = Rng::new(77);
        let rounds = std::env::var("EMS_FUZZ_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3000);
        // Bounded in time as well as in rounds, so a slow machine keeps `cargo test` short;
        // EMS_FUZZ_ROUNDS and EMS_FUZZ_SECONDS make a longer run.
        let seconds = std::env::var("EMS_FUZZ_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(8);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        for round in 0..rounds {
            let seed = &seeds[round % seeds.len()];
            let other = &seeds[rng.below(seeds.len() as u64) as usize];
            let input = mutate(&mut rng, seed, other);
            json_scanners(&input);
            book_messages(&input);
            fix_decoder(&input);
            decimal_parser(&input);
            if std::time::Instant::now() > deadline {
                assert!(round >= 500, "only {round} rounds ran");
                break;
            }
        }
    }
}
