//! The randomness of HRANDFIELD, SRANDMEMBER and SPOP: a tiny xorshift
//! generator seeded from the clock and the collection's size. Not
//! cryptographic; Redis only promises "random" here, and a dependency-free
//! generator keeps the key logic pure and deterministic under test.

pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(now_ms: u64, len: usize) -> Rng {
        // splitmix64 of the seed, so nearby seeds give unrelated streams.
        let mut z = now_ms ^ (len as u64).rotate_left(32) ^ 0x9E37_79B9_7F4A_7C15;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(z | 1) // xorshift never leaves 0, nor reaches it
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n`; `n` must be positive.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// `count` distinct indices of `0..len` (`count <= len`), ascending, so
    /// elements come out in the collection's order like Redis' listpack
    /// sampling.
    pub(crate) fn distinct(&mut self, len: usize, count: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..len).collect();
        let count = count.min(len);
        for i in 0..count {
            let j = i + self.below(len - i);
            all.swap(i, j);
        }
        all.truncate(count);
        all.sort_unstable();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn distinct_indices_are_distinct_sorted_and_in_range() {
        let mut rng = Rng::new(12345, 10);
        for count in 0..=10 {
            let picks = rng.distinct(10, count);
            assert_eq!(picks.len(), count);
            assert!(picks.windows(2).all(|w| w[0] < w[1]));
            assert!(picks.iter().all(|&i| i < 10));
        }
    }

    #[test]
    fn below_covers_the_range() {
        let mut rng = Rng::new(1, 3);
        let mut seen = [false; 3];
        for _ in 0..100 {
            seen[rng.below(3)] = true;
        }
        assert_eq!(seen, [true; 3]);
    }
}
