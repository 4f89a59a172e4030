//! The randomness of HRANDFIELD, SRANDMEMBER, SPOP, ZRANDMEMBER and
//! RANDOMKEY: a
//! splitmix64 generator seeded for every command from the operating
//! system's random source (through `uuid`'s version 4 generator), so that
//! commands in the same millisecond on collections of the same size draw
//! independently of each other. Not cryptographic: Redis only promises
//! "random" here. A number in a range is drawn by rejection, so every
//! element is equally likely.

pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for one command. The seed is the system's; the clock and
    /// the collection's size are mixed in as well.
    pub(crate) fn new(now_ms: u64, len: usize) -> Rng {
        let (high, low) = uuid::Uuid::new_v4().as_u64_pair();
        Rng(high ^ low ^ now_ms ^ (len as u64).rotate_left(32))
    }

    /// splitmix64: a Weyl sequence through a mixing function, so every
    /// state (0 included) gives a well-spread output.
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`, each equally likely; `n` must be positive (0 is
    /// read as 1).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let n = n.max(1) as u64;
        // Outputs at or past the last whole multiple of `n` would favour the
        // low residues: they are drawn again.
        let fair = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next();
            if x < fair {
                return (x % n) as usize;
            }
        }
    }

    /// `count` distinct indices of `0..len` (`count <= len`), each subset
    /// equally likely, ascending, so elements come out in the collection's
    /// order like Redis' listpack sampling.
    pub(crate) fn distinct(&mut self, len: usize, count: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..len).collect();
        let count = count.min(len);
        // Partial Fisher-Yates: the first `count` slots become the sample.
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

    /// Each generator made with the same clock and size, as commands in
    /// one millisecond get: 100,000 first draws of 10 fall about 10,000
    /// times on each (standard deviation 95; the band is over 6 of them).
    #[test]
    fn generators_made_in_the_same_millisecond_draw_independently() {
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[Rng::new(42, 10).below(10)] += 1;
        }
        assert!(counts.iter().all(|c| (9_400..=10_600).contains(c)), "{counts:?}");
        let mut subsets = [0u32; 10];
        for _ in 0..20_000 {
            for i in Rng::new(42, 10).distinct(10, 3) {
                subsets[i] += 1;
            }
        }
        // Each index is in a sample of 3 with probability 0.3: about 6,000
        // times (standard deviation 65).
        assert!(subsets.iter().all(|c| (5_600..=6_400).contains(c)), "{subsets:?}");
    }
}
