//! A minimal unsigned big integer: just what exact decimal <-> binary
//! conversion of `long double` needs. Little-endian 64-bit limbs, no
//! leading zero limbs.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Big(Vec<u64>);

impl Big {
    pub(super) fn from_u128(v: u128) -> Big {
        let mut big = Big(vec![v as u64, (v >> 64) as u64]);
        big.trim();
        big
    }

    /// `10^n`.
    pub(super) fn pow10(n: u32) -> Big {
        let mut big = Big::from_u128(1);
        for _ in 0..n / 19 {
            big.mul_add_small(10u64.pow(19), 0);
        }
        big.mul_add_small(10u64.pow(n % 19), 0);
        big
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    pub(super) fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    /// `self = self * m + a`.
    pub(super) fn mul_add_small(&mut self, m: u64, a: u64) {
        let mut carry = u128::from(a);
        for limb in &mut self.0 {
            let v = u128::from(*limb) * u128::from(m) + carry;
            *limb = v as u64;
            carry = v >> 64;
        }
        if carry != 0 {
            self.0.push(carry as u64);
        }
        self.trim();
    }

    /// `self = self / d`, returning the remainder.
    pub(super) fn div_small(&mut self, d: u64) -> u64 {
        let mut rem = 0u128;
        for limb in self.0.iter_mut().rev() {
            let v = (rem << 64) | u128::from(*limb);
            *limb = (v / u128::from(d)) as u64;
            rem = v % u128::from(d);
        }
        self.trim();
        rem as u64
    }

    pub(super) fn bit_len(&self) -> u64 {
        match self.0.last() {
            None => 0,
            Some(top) => self.0.len() as u64 * 64 - u64::from(top.leading_zeros()),
        }
    }

    pub(super) fn bit(&self, i: u64) -> bool {
        let limb = self.0.get((i / 64) as usize).copied().unwrap_or(0);
        (limb >> (i % 64)) & 1 == 1
    }

    /// Whether any bit below bit `i` is set.
    pub(super) fn any_below(&self, i: u64) -> bool {
        let whole = (i / 64) as usize;
        let part = i % 64;
        self.0.iter().take(whole).any(|&l| l != 0)
            || (part != 0 && self.0.get(whole).is_some_and(|&l| l & ((1u64 << part) - 1) != 0))
    }

    /// Bits `from..from + 128` as a number.
    pub(super) fn bits_from(&self, from: u64) -> u128 {
        (0..128u64).filter(|&k| self.bit(from + k)).fold(0u128, |acc, k| acc | (1u128 << k))
    }

    pub(super) fn shl(&self, n: u64) -> Big {
        if self.is_zero() {
            return self.clone();
        }
        let (whole, part) = ((n / 64) as usize, n % 64);
        let mut limbs = vec![0u64; whole];
        let mut carry = 0u64;
        for &limb in &self.0 {
            limbs.push((limb << part) | carry);
            carry = if part == 0 { 0 } else { limb >> (64 - part) };
        }
        limbs.push(carry);
        let mut big = Big(limbs);
        big.trim();
        big
    }

    /// `self -= other`; `other` must not be larger.
    pub(super) fn sub_assign(&mut self, other: &Big) {
        let mut borrow = false;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let o = other.0.get(i).copied().unwrap_or(0);
            let (v, b1) = limb.overflowing_sub(o);
            let (v, b2) = v.overflowing_sub(u64::from(borrow));
            *limb = v;
            borrow = b1 || b2;
        }
        self.trim();
    }

    /// The decimal digits (`"0"` for zero).
    pub(super) fn to_decimal(&self) -> String {
        const CHUNK: u64 = 10_000_000_000_000_000_000; // 10^19
        let mut n = self.clone();
        let mut chunks = Vec::new();
        while !n.is_zero() {
            chunks.push(n.div_small(CHUNK));
        }
        let mut text = chunks.pop().map_or_else(|| "0".to_string(), |top| top.to_string());
        for chunk in chunks.iter().rev() {
            text.push_str(&format!("{chunk:019}"));
        }
        text
    }
}

impl PartialOrd for Big {
    fn partial_cmp(&self, other: &Big) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Big {
    fn cmp(&self, other: &Big) -> Ordering {
        self.0.len().cmp(&other.0.len()).then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }
}

#[cfg(test)]
mod tests {
    use super::Big;

    #[test]
    fn decimal_of_powers_of_ten() {
        assert_eq!(Big::pow10(0).to_decimal(), "1");
        assert_eq!(Big::pow10(40).to_decimal(), format!("1{}", "0".repeat(40)));
        assert_eq!(Big::from_u128(0).to_decimal(), "0");
        assert_eq!(Big::from_u128(u128::MAX).to_decimal(), u128::MAX.to_string());
    }

    #[test]
    fn shifts_bits_and_subtraction() {
        let one = Big::from_u128(1);
        let big = one.shl(130);
        assert_eq!(big.bit_len(), 131);
        assert!(big.bit(130) && !big.bit(129));
        assert!(!big.any_below(130) && big.any_below(131));
        assert_eq!(big.bits_from(70), 1u128 << 60);
        let mut x = big.clone();
        x.sub_assign(&one);
        assert_eq!(x.bit_len(), 130);
        assert!(x < big && one < x);
    }
}
