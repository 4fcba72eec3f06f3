//! Sequential allocation of the numbers that must be unique across a population: resident ID
//! sequence numbers, mobile numbers and card numbers. People are drawn independently (one
//! random stream each); these allocators then run in person order, so uniqueness holds by
//! construction, the output does not depend on batching, and memory is bounded by the tables
//! (counters per key), never by the number of people.
//!
//! Each allocator hands out, per key, `(counter × M + offset(seed, key)) mod 10ᵏ` with `M`
//! coprime to 10: a permutation of the key's number space that looks random and never repeats.
//! Values reserved for the demo people are skipped.

use super::sample::mix;
use time::Date;

/// Multiplier coprime to 10 (ends in 7) for the scrambling permutations.
const SCRAMBLE: u128 = 25_214_903_917;
/// Sequence numbers per (division, birth date, sex): 500 (three digits, parity = sex).
const SEQ_PER_CELL: u16 = 500;
/// Multiplier coprime to 500 for sequence numbers.
const SEQ_SCRAMBLE: u64 = 211;

/// A family of counters, one per key, each walking a scrambled permutation of `0..10^digits`.
#[derive(Debug, Clone)]
pub(crate) struct Scrambled {
    modulus: Vec<u64>,
    offset: Vec<u64>,
    next: Vec<u64>,
    reserved: Vec<Vec<u64>>,
}

impl Scrambled {
    /// Keys `0..digits.len()`, key `i` drawing from `0..10^digits[i]` (at most 18 digits).
    pub(crate) fn new(seed: u64, salt: u64, digits: &[u32]) -> Self {
        let modulus: Vec<u64> = digits.iter().map(|d| 10u64.pow((*d).min(18))).collect();
        let offset = modulus
            .iter()
            .enumerate()
            .map(|(i, m)| mix(mix(seed, salt), i as u64) % m)
            .collect();
        Self {
            next: vec![0; modulus.len()],
            reserved: vec![Vec::new(); modulus.len()],
            modulus,
            offset,
        }
    }

    /// Marks `value` of `key` as taken (the demo people's numbers).
    pub(crate) fn reserve(&mut self, key: usize, value: u64) {
        if let Some(r) = self.reserved.get_mut(key) {
            r.push(value);
        }
    }

    /// The next unused value of `key`, or `None` when its space is exhausted.
    pub(crate) fn take(&mut self, key: usize) -> Option<u64> {
        let modulus = *self.modulus.get(key)?;
        loop {
            let counter = self.next[key];
            if counter >= modulus {
                return None;
            }
            self.next[key] += 1;
            let value = ((u128::from(counter) * SCRAMBLE + u128::from(self.offset[key]))
                % u128::from(modulus)) as u64;
            if !self.reserved[key].contains(&value) {
                return Some(value);
            }
        }
    }

    /// How many values of `key` were handed out or skipped.
    #[cfg(test)]
    pub(crate) fn used(&self, key: usize) -> u64 {
        self.next.get(key).copied().unwrap_or(0)
    }
}

/// Allocates the 3-digit sequence number of ID numbers per (division, birth date, sex).
#[derive(Debug)]
pub(crate) struct IdSequences {
    seed: u64,
    first_day: Date,
    days: usize,
    counters: Vec<u16>,
    reserved: Vec<(usize, u16)>,
}

impl IdSequences {
    /// Room for `divisions` division codes and birth dates from `first_day` on for `days` days.
    pub(crate) fn new(seed: u64, divisions: usize, first_day: Date, days: usize) -> Self {
        Self {
            seed,
            first_day,
            days,
            // Zeroed allocation: pages are only touched when a cell is used.
            counters: vec![0; divisions * days * 2],
            reserved: Vec::new(),
        }
    }

    fn cell(&self, division: usize, birth: Date, male: bool) -> Option<usize> {
        let day = usize::try_from((birth - self.first_day).whole_days()).ok()?;
        (day < self.days).then(|| (division * self.days + day) * 2 + usize::from(male))
    }

    /// Marks a sequence number as taken (a demo person's ID number).
    pub(crate) fn reserve(&mut self, division: usize, birth: Date, sequence: u16) {
        if let Some(cell) = self.cell(division, birth, sequence % 2 == 1) {
            self.reserved.push((cell, sequence / 2));
        }
    }

    /// A free sequence number for this division, birth date and sex. When the 500 numbers of the
    /// day are used up the birth date moves one day earlier (never happens below ~10⁹ people).
    pub(crate) fn take(&mut self, division: usize, birth: Date, male: bool) -> Option<(Date, u16)> {
        let mut birth = birth;
        loop {
            let cell = self.cell(division, birth, male)?;
            let used = self.counters[cell];
            if used >= SEQ_PER_CELL {
                birth = birth.previous_day()?;
                continue;
            }
            self.counters[cell] += 1;
            let half = ((u64::from(used) * SEQ_SCRAMBLE + mix(self.seed, cell as u64))
                % u64::from(SEQ_PER_CELL)) as u16;
            if self.reserved.contains(&(cell, half)) {
                continue;
            }
            return Some((birth, half * 2 + u16::from(male)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use time::macros::date;

    #[test]
    fn scrambled_values_are_a_permutation_and_skip_reserved() {
        let mut s = Scrambled::new(9, 1, &[3, 2]);
        s.reserve(1, 42);
        let a: Vec<u64> = std::iter::from_fn(|| s.take(0)).collect();
        assert_eq!(a.len(), 1000);
        assert_eq!(a.iter().collect::<HashSet<_>>().len(), 1000);
        let b: Vec<u64> = std::iter::from_fn(|| s.take(1)).collect();
        assert_eq!(b.len(), 99);
        assert!(!b.contains(&42));
        assert_eq!(s.used(1), 100);
        assert!(s.take(7).is_none());
    }

    #[test]
    fn id_sequences_are_unique_and_keep_the_sex() {
        let mut ids = IdSequences::new(3, 2, date!(1940 - 01 - 01), 100);
        ids.reserve(1, date!(1940 - 01 - 10), 7);
        let mut seen = HashSet::new();
        for i in 0..600 {
            let male = i % 2 == 0;
            let (birth, seq) = ids
                .take(1, date!(1940 - 01 - 10), male)
                .unwrap_or((Date::MIN, 0));
            assert_eq!(seq % 2 == 1, male);
            assert!(seq != 7 || birth != date!(1940 - 01 - 10));
            assert!(seen.insert((birth, seq)));
        }
        assert!(ids.take(1, date!(1900 - 01 - 01), true).is_none());
    }
}
