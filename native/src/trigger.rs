//! Trigger index for one (exchange, symbol): price levels that fire on trades.
//!
//! An up trigger fires on a buy-aggressor trade at a price >= its level; a down trigger
//! on a sell-aggressor trade at a price <= its level. Each direction is a B-tree ordered
//! so that the triggers a trade fires form a prefix: `split_off` detaches that prefix in
//! O(log n + k) (the split counts the smaller part), and a cached threshold answers the
//! common "nothing fires" case without touching the tree.

use std::collections::{BTreeMap, HashMap};

/// Direction of a trigger; the same sign as the aggressor side that fires it.
pub const UP: i8 = 1;
pub const DOWN: i8 = -1;

/// A trigger's place: tree key and direction.
#[derive(Debug, Clone, Copy)]
struct Slot {
    up: bool,
    key: (i64, u64),
}

/// Triggers by price, each carrying a payload `P` handed back when it fires.
pub struct TriggerIndex<P> {
    /// Key (level, seq): a buy at `p` fires every key below (p + 1, 0).
    up: BTreeMap<(i64, u64), u64>,
    /// Key (-level, seq): a sell at `p` fires every key below (-p + 1, 0).
    down: BTreeMap<(i64, u64), u64>,
    by_id: HashMap<u64, (Slot, P)>,
    seq: u64,
    /// Lowest up level (i64::MAX if none) and highest down level (i64::MIN if none).
    min_up: i64,
    max_down: i64,
}

impl<P> Default for TriggerIndex<P> {
    fn default() -> Self {
        TriggerIndex {
            up: BTreeMap::new(),
            down: BTreeMap::new(),
            by_id: HashMap::new(),
            seq: 0,
            min_up: i64::MAX,
            max_down: i64::MIN,
        }
    }
}

impl<P> TriggerIndex<P> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn contains(&self, id: u64) -> bool {
        self.by_id.contains_key(&id)
    }

    fn refresh(&mut self) {
        self.min_up = self.up.first_key_value().map_or(i64::MAX, |(k, _)| k.0);
        self.max_down = self.down.first_key_value().map_or(i64::MIN, |(k, _)| -k.0);
    }

    /// Adds a trigger; returns false (and changes nothing) if `id` is already present.
    /// Levels must be above i64::MIN so that they can be negated.
    pub fn add(&mut self, id: u64, direction: i8, level: i64, payload: P) -> bool {
        if self.by_id.contains_key(&id) || level == i64::MIN {
            return false;
        }
        self.seq += 1;
        let up = direction > 0;
        let key = if up {
            (level, self.seq)
        } else {
            (-level, self.seq)
        };
        if up {
            self.up.insert(key, id);
            self.min_up = self.min_up.min(level);
        } else {
            self.down.insert(key, id);
            self.max_down = self.max_down.max(level);
        }
        self.by_id.insert(id, (Slot { up, key }, payload));
        true
    }

    /// Removes a trigger, returning its payload.
    pub fn remove(&mut self, id: u64) -> Option<P> {
        let (slot, payload) = self.by_id.remove(&id)?;
        if slot.up {
            self.up.remove(&slot.key);
        } else {
            self.down.remove(&slot.key);
        }
        self.refresh();
        Some(payload)
    }

    /// True if a trade at `price` by `aggressor_side` would fire anything.
    #[inline]
    pub fn would_fire(&self, price: i64, aggressor_side: i8) -> bool {
        if aggressor_side > 0 {
            price >= self.min_up
        } else {
            price <= self.max_down
        }
    }

    /// Removes and returns every trigger a trade fires, in the order the price crossed
    /// them (up: ascending level, down: descending level; ties in insertion order).
    pub fn on_trade(&mut self, price: i64, aggressor_side: i8, out: &mut Vec<(u64, P)>) {
        if !self.would_fire(price, aggressor_side) {
            return;
        }
        let up = aggressor_side > 0;
        let tree = if up { &mut self.up } else { &mut self.down };
        let bound = if up { price } else { -price };
        let fired = match bound.checked_add(1) {
            Some(b) => {
                let keep = tree.split_off(&(b, 0));
                std::mem::replace(tree, keep)
            }
            None => std::mem::take(tree),
        };
        for (_, id) in fired {
            if let Some((_, payload)) = self.by_id.remove(&id) {
                out.push((id, payload));
            }
        }
        self.refresh();
    }

    /// Nearest up level and nearest down level.
    pub fn next_levels(&self) -> (Option<i64>, Option<i64>) {
        (
            (self.min_up != i64::MAX).then_some(self.min_up),
            (self.max_down != i64::MIN).then_some(self.max_down),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testrng::Rng;

    #[test]
    fn fires_in_price_order_and_only_on_the_right_side() {
        let mut t = TriggerIndex::new();
        t.add(1, UP, 105, "a");
        t.add(2, UP, 101, "b");
        t.add(3, UP, 110, "c");
        t.add(4, DOWN, 95, "d");
        t.add(5, DOWN, 99, "e");
        let mut out = Vec::new();
        t.on_trade(120, DOWN, &mut out);
        assert!(out.is_empty(), "a sell never fires up triggers");
        t.on_trade(105, UP, &mut out);
        assert_eq!(out, vec![(2, "b"), (1, "a")]);
        out.clear();
        t.on_trade(90, DOWN, &mut out);
        assert_eq!(out, vec![(5, "e"), (4, "d")]);
        assert_eq!(t.len(), 1);
        assert_eq!(t.next_levels(), (Some(110), None));
        assert!(!t.add(3, UP, 1, "dup"));
        assert_eq!(t.remove(3), Some("c"));
        assert!(t.is_empty());
        t.add(9, UP, i64::MAX, "max");
        t.on_trade(i64::MAX, UP, &mut out);
        assert_eq!(out.last(), Some(&(9, "max")));
    }

    #[test]
    fn property_equals_brute_force_scan() {
        for seed in 1..30 {
            let mut rng = Rng::new(seed);
            let mut t = TriggerIndex::new();
            // (id, dir, level, seq)
            let mut model: Vec<(u64, i8, i64, u64)> = Vec::new();
            let mut seq = 0;
            for step in 0..3000u64 {
                match rng.below(10) {
                    0..=4 => {
                        let id = rng.below(400);
                        let dir = if rng.below(2) == 0 { UP } else { DOWN };
                        let level = rng.below(200) as i64 - 100;
                        let added = t.add(id, dir, level, step);
                        assert_eq!(added, !model.iter().any(|m| m.0 == id));
                        if added {
                            seq += 1;
                            model.push((id, dir, level, seq));
                        }
                    }
                    5 => {
                        let id = rng.below(400);
                        let had = model.iter().position(|m| m.0 == id);
                        assert_eq!(t.remove(id).is_some(), had.is_some());
                        if let Some(i) = had {
                            model.remove(i);
                        }
                    }
                    _ => {
                        let price = rng.below(220) as i64 - 110;
                        let side = if rng.below(2) == 0 { UP } else { DOWN };
                        let mut want: Vec<_> = model
                            .iter()
                            .filter(|m| {
                                m.1 == side && if side > 0 { price >= m.2 } else { price <= m.2 }
                            })
                            .copied()
                            .collect();
                        want.sort_by_key(|m| (if side > 0 { m.2 } else { -m.2 }, m.3));
                        model.retain(|m| !want.iter().any(|w| w.0 == m.0));
                        let mut out = Vec::new();
                        t.on_trade(price, side, &mut out);
                        let got: Vec<u64> = out.iter().map(|o| o.0).collect();
                        let want: Vec<u64> = want.iter().map(|w| w.0).collect();
                        assert_eq!(got, want, "seed {seed} step {step}");
                    }
                }
                assert_eq!(t.len(), model.len());
            }
        }
    }
}
