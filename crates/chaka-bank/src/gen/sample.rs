//! Random draws for the generator, built only on the raw ChaCha stream so that the output stays
//! byte-identical whatever version of `rand`'s distribution code is linked: integers below a
//! bound, per-mille coin flips and cumulative weight tables. Also the small mixing hash used to
//! derive per-key offsets. Owns no tables.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;

/// The random stream of one person: ChaCha12 keyed by the run seed, on stream `index`.
pub(crate) struct PersonRng(ChaCha12Rng);

impl PersonRng {
    /// The stream for person `index` of a run with `seed` (`attempt` > 0 re-rolls a person).
    pub(crate) fn new(seed: u64, index: u64) -> Self {
        let mut key = [0u8; 32];
        for (i, chunk) in key.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(&mix(seed, i as u64).to_le_bytes());
        }
        let mut rng = ChaCha12Rng::from_seed(key);
        rng.set_stream(index);
        Self(rng)
    }

    /// A uniform integer in `0..bound` (`bound` ≥ 1; 0 gives 0). Multiply-shift without
    /// rejection: the bias is below 2⁻³² for every bound used here.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.0.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// A uniform integer in `lo..=hi` (`hi` ≥ `lo`).
    pub(crate) fn between(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// True with probability `per_mille` / 1000.
    pub(crate) fn per_mille(&mut self, per_mille: u32) -> bool {
        self.below(1000) < u64::from(per_mille)
    }

    /// An element of a non-empty slice (the first one for an empty-looking bound).
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }
}

/// A cumulative weight table: draws an index with probability proportional to its weight.
#[derive(Debug, Clone)]
pub(crate) struct Weighted {
    cumulative: Vec<u64>,
}

impl Weighted {
    /// From weights in index order. Zero weights are never drawn.
    pub(crate) fn new(weights: impl IntoIterator<Item = u64>) -> Self {
        let mut total = 0u64;
        let cumulative = weights
            .into_iter()
            .map(|w| {
                total += w;
                total
            })
            .collect();
        Self { cumulative }
    }

    /// The running sums, one per weight.
    pub(crate) fn cumulative_slice(&self) -> &[u64] {
        &self.cumulative
    }

    /// The sum of the weights.
    pub(crate) fn total(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }

    /// An index drawn by weight (0 if every weight is zero).
    pub(crate) fn draw(&self, rng: &mut PersonRng) -> usize {
        let x = rng.below(self.total());
        self.cumulative
            .partition_point(|&c| c <= x)
            .min(self.cumulative.len().saturating_sub(1))
    }
}

/// SplitMix64 finaliser over two words: a fast, well-mixed, stable hash for offsets.
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_deterministic_and_distinct() {
        let a: Vec<u64> = (0..4)
            .map(|_| PersonRng::new(7, 3).below(1 << 40))
            .collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut x = PersonRng::new(7, 3);
        let mut y = PersonRng::new(7, 4);
        let mut z = PersonRng::new(8, 3);
        let (vx, vy, vz) = (x.below(u64::MAX), y.below(u64::MAX), z.below(u64::MAX));
        assert_ne!(vx, vy);
        assert_ne!(vx, vz);
    }

    #[test]
    fn weighted_never_draws_zero_weights_and_follows_weights() {
        let w = Weighted::new([0, 3, 0, 1]);
        let mut rng = PersonRng::new(1, 1);
        let mut counts = [0u32; 4];
        for _ in 0..4000 {
            counts[w.draw(&mut rng)] += 1;
        }
        assert_eq!(counts[0], 0);
        assert_eq!(counts[2], 0);
        assert!(counts[1] > 2700 && counts[1] < 3300, "{counts:?}");
    }

    #[test]
    fn between_is_inclusive() {
        let mut rng = PersonRng::new(2, 2);
        let mut seen = [false; 3];
        for _ in 0..200 {
            let v = rng.between(5, 7);
            assert!((5..=7).contains(&v));
            seen[(v - 5) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}
