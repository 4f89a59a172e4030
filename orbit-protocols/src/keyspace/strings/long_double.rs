//! Redis' `long double` arithmetic for INCRBYFLOAT and HINCRBYFLOAT,
//! emulated exactly so replies match the real server digit for digit.
//!
//! Redis reads both numbers with `strtold`, adds them as `long double` and
//! prints the sum with `"%.17Lf"`, trailing zeros removed. On x86-64 that
//! type is the x87 80-bit format (64-bit mantissa), which is why Redis says
//! `0.1 + 0.2 = 0.3`, and why `1e300` prints as its exact binary value. An
//! `f64` gets neither right, so this module does correctly rounded (to
//! nearest, ties to even) conversions with a small big integer, and the
//! addition with 62 guard bits.

mod big;

use big::Big;
use std::cmp::max;

/// Exponent of the smallest subnormal, 2^-16445: no value is finer.
const MIN_EXP: i64 = -16445;
/// Values of 2^16384 and more are infinite.
const MAX_BITS: i64 = 16384;
/// Redis refuses float strings this long or longer (`MAX_LONG_DOUBLE_CHARS`).
const MAX_CHARS: usize = 5 * 1024;
/// The digits after the point of `"%.17Lf"`.
const DECIMALS: u32 = 17;
/// Decimal exponents past which a number surely overflows or underflows
/// (max is about 1.19e4932, the smallest subnormal about 3.6e-4951).
const DEC_OVERFLOW: i64 = 4933;
const DEC_UNDERFLOW: i64 = -4952;

/// A `long double` that is not NaN.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum LongDouble {
    /// `mant * 2^exp`, negated if `neg`.
    Finite {
        neg: bool,
        mant: u64,
        exp: i64,
    },
    Infinite {
        neg: bool,
    },
}

use LongDouble::{Finite, Infinite};

pub(crate) const ZERO: LongDouble = Finite { neg: false, mant: 0, exp: 0 };

impl LongDouble {
    /// Reads a number as Redis' `string2ld` does: the whole text must be a
    /// `strtold` number (decimal or hex, `inf`/`infinity`, optional sign),
    /// with no leading space, not NaN, and not out of range (a nonzero
    /// value that rounds to zero or to infinity). `None` if refused.
    pub(crate) fn parse(text: &[u8]) -> Option<LongDouble> {
        if text.is_empty() || text.len() >= MAX_CHARS {
            return None;
        }
        let (neg, rest) = match text.split_first() {
            Some((b'-', rest)) => (true, rest),
            Some((b'+', rest)) => (false, rest),
            _ => (false, text),
        };
        let lower = rest.to_ascii_lowercase();
        if lower == b"inf" || lower == b"infinity" {
            return Some(Infinite { neg });
        }
        let value = match lower.strip_prefix(b"0x") {
            Some(hex) => parse_hex(neg, hex)?,
            None => parse_decimal(neg, rest)?,
        };
        // strtold reports ERANGE for these and Redis refuses them.
        let out_of_range = matches!(value, Infinite { .. } | Finite { mant: 0, .. });
        if out_of_range && !is_written_zero(rest) {
            return None;
        }
        Some(value)
    }

    pub(crate) fn is_infinite(self) -> bool {
        matches!(self, Infinite { .. })
    }

    /// `self + other`, or `None` when the sum is NaN or infinite (Redis
    /// refuses to store either).
    pub(crate) fn add(self, other: LongDouble) -> Option<LongDouble> {
        let (Finite { neg: na, mant: ma, exp: ea }, Finite { neg: nb, mant: mb, exp: eb }) = (self, other)
        else {
            return None;
        };
        if ma == 0 {
            return Some(other);
        }
        if mb == 0 {
            return Some(self);
        }
        let (ma, ea) = normalize(ma, ea);
        let (mb, eb) = normalize(mb, eb);
        // Larger magnitude first: it gives the sign.
        let ((na, ma, ea), (nb, mb, eb)) =
            if (ea, ma) >= (eb, mb) { ((na, ma, ea), (nb, mb, eb)) } else { ((nb, mb, eb), (na, ma, ea)) };
        let guard = 62;
        let a = u128::from(ma) << guard;
        let b = shift_right_jam(u128::from(mb) << guard, ea - eb);
        let sum = if na == nb { a + b } else { a - b };
        if sum == 0 {
            return Some(ZERO);
        }
        let result = round(sum, ea - guard, false, na);
        (!result.is_infinite()).then_some(result)
    }

    /// The text Redis stores and replies: `ld2string(.., LD_STR_HUMAN)`,
    /// i.e. `"%.17Lf"` without trailing zeros (and `-0` made `0`).
    pub(crate) fn to_human(self) -> String {
        let (neg, mant, exp) = match self {
            Infinite { neg } => return if neg { "-inf" } else { "inf" }.to_string(),
            Finite { neg, mant, exp } => (neg, mant, exp),
        };
        let digits = scaled_decimal(mant, exp);
        let digits = format!("{digits:0>width$}", width = DECIMALS as usize + 1);
        let (int, frac) = digits.split_at(digits.len() - DECIMALS as usize);
        let frac = frac.trim_end_matches('0');
        let sign = if neg { "-" } else { "" };
        let text = if frac.is_empty() { format!("{sign}{int}") } else { format!("{sign}{int}.{frac}") };
        // The printed length never nears Redis' 5k buffer: max is ~4951 chars.
        if text == "-0" { "0".to_string() } else { text }
    }
}

/// Whether a decimal or hex literal is written as zero (so a zero result
/// is exact, not an underflow).
fn is_written_zero(text: &[u8]) -> bool {
    let lower = text.to_ascii_lowercase();
    let (mantissa, exp_mark) = match lower.strip_prefix(b"0x") {
        Some(hex) => (hex, b'p'),
        None => (lower.as_slice(), b'e'),
    };
    let end = mantissa.iter().position(|&c| c == exp_mark).unwrap_or(mantissa.len());
    mantissa[..end].iter().all(|&c| c == b'0' || c == b'.')
}

/// `[digits][.digits][e[sign]digits]` with at least one mantissa digit.
fn parse_decimal(neg: bool, s: &[u8]) -> Option<LongDouble> {
    let mut digits = Vec::new();
    let mut exp10: i64 = 0;
    let mut i = 0;
    let mut seen = false;
    let mut in_fraction = false;
    while let Some(&c) = s.get(i) {
        if c.is_ascii_digit() {
            seen = true;
            // Leading zeros do not change the value.
            if !digits.is_empty() || c != b'0' {
                digits.push(c - b'0');
            }
            exp10 -= i64::from(in_fraction);
        } else if c == b'.' && !in_fraction {
            in_fraction = true;
        } else {
            break;
        }
        i += 1;
    }
    if !seen {
        return None;
    }
    if let Some(&c) = s.get(i) {
        if c != b'e' && c != b'E' {
            return None;
        }
        exp10 = exp10.saturating_add(parse_exponent(s.get(i + 1..)?)?);
    }
    Some(decimal_value(neg, digits, exp10))
}

/// `[sign]digits`, the whole slice, saturating far beyond any range.
fn parse_exponent(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude =
        digits.iter().fold(0i64, |acc, &d| acc.saturating_mul(10).saturating_add(i64::from(d - b'0')));
    let magnitude = magnitude.min(1 << 40);
    Some(if neg { -magnitude } else { magnitude })
}

/// The value `digits * 10^exp10`, correctly rounded.
fn decimal_value(neg: bool, mut digits: Vec<u8>, mut exp10: i64) -> LongDouble {
    while digits.last() == Some(&0) {
        digits.pop();
        exp10 += 1;
    }
    if digits.is_empty() {
        return Finite { neg, mant: 0, exp: 0 };
    }
    let n = digits.len() as i64;
    // Cheap range checks first: they also bound the big numbers below.
    if n - 1 + exp10 >= DEC_OVERFLOW {
        return Infinite { neg };
    }
    if n + exp10 <= DEC_UNDERFLOW {
        return Finite { neg, mant: 0, exp: 0 };
    }
    let mut d = Big::from_u128(0);
    for digit in digits {
        d.mul_add_small(10, u64::from(digit));
    }
    if exp10 >= 0 {
        for _ in 0..exp10 {
            d.mul_add_small(10, 0);
        }
        return round_big(&d, 0, neg);
    }
    let den = Big::pow10(exp10.unsigned_abs() as u32);
    divide_and_round(&d, &den, neg)
}

/// `num / den`, correctly rounded: a quotient of 67 or 68 bits plus a
/// sticky bit for the remainder is enough to round to 64.
fn divide_and_round(num: &Big, den: &Big, neg: bool) -> LongDouble {
    let t = 67 + den.bit_len() as i64 - num.bit_len() as i64;
    let mut rem = num.shl(t.max(0) as u64);
    let den = den.shl((-t).max(0) as u64);
    let qbits = rem.bit_len().saturating_sub(den.bit_len()) + 1;
    let mut q = 0u128;
    for i in (0..qbits).rev() {
        let d = den.shl(i);
        if rem >= d {
            rem.sub_assign(&d);
            q |= 1 << i;
        }
    }
    round(q, -t, !rem.is_zero(), neg)
}

/// `[hexdigits][.hexdigits][p[sign]digits]` after `0x`, at least one digit.
fn parse_hex(neg: bool, s: &[u8]) -> Option<LongDouble> {
    let mut mant = Big::from_u128(0);
    let mut exp2: i64 = 0;
    let mut i = 0;
    let mut seen = false;
    let mut in_fraction = false;
    while let Some(&c) = s.get(i) {
        if let Some(v) = char::from(c).to_digit(16) {
            seen = true;
            mant.mul_add_small(16, u64::from(v));
            exp2 -= 4 * i64::from(in_fraction);
        } else if c == b'.' && !in_fraction {
            in_fraction = true;
        } else {
            break;
        }
        i += 1;
    }
    if !seen {
        return None;
    }
    if let Some(&c) = s.get(i) {
        if c != b'p' {
            return None;
        }
        exp2 = exp2.saturating_add(parse_exponent(s.get(i + 1..)?)?);
    }
    Some(round_big(&mant, exp2, neg))
}

/// `m * 2^e` rounded: its top 66 bits and a sticky bit round as the whole.
fn round_big(m: &Big, e: i64, neg: bool) -> LongDouble {
    let bits = m.bit_len();
    if bits <= 128 {
        return round(m.bits_from(0), e, false, neg);
    }
    let drop = bits - 66;
    round(m.bits_from(drop), e.saturating_add(drop as i64), m.any_below(drop), neg)
}

/// Rounds `m * 2^e` (plus a little more if `sticky`) to 64 bits, ties to
/// even, subnormals below 2^-16382, infinity from 2^16384.
fn round(m: u128, e: i64, sticky: bool, neg: bool) -> LongDouble {
    if m == 0 {
        return Finite { neg, mant: 0, exp: 0 };
    }
    let bits = i64::from(128 - m.leading_zeros());
    let shift = max(bits - 64, MIN_EXP.saturating_sub(e));
    let (mant, exp) = if shift <= 0 {
        (m as u64, e)
    } else if shift > bits {
        (0, 0)
    } else {
        let shift = shift as u32;
        let kept = m.checked_shr(shift).unwrap_or(0);
        let half = (m >> (shift - 1)) & 1 == 1;
        let rest = sticky || m & ((1u128 << (shift - 1)) - 1) != 0;
        let kept = kept + u128::from(half && (rest || kept & 1 == 1));
        let exp = e + i64::from(shift);
        if kept >> 64 != 0 { ((kept >> 1) as u64, exp + 1) } else { (kept as u64, exp) }
    };
    if mant == 0 {
        return Finite { neg, mant: 0, exp: 0 };
    }
    if i64::from(64 - mant.leading_zeros()) + exp > MAX_BITS {
        return Infinite { neg };
    }
    Finite { neg, mant, exp }
}

/// `mant * 2^exp` with the top mantissa bit set.
fn normalize(mant: u64, exp: i64) -> (u64, i64) {
    let lz = mant.leading_zeros();
    (mant << lz, exp - i64::from(lz))
}

/// `v >> n`, with the lowest bit set if any set bit was shifted out.
fn shift_right_jam(v: u128, n: i64) -> u128 {
    if n >= 127 {
        return u128::from(v != 0);
    }
    let kept = v >> n;
    kept | u128::from(kept << n != v)
}

/// The decimal digits of `mant * 2^exp * 10^17`, rounded to an integer
/// (ties to even, as glibc's printf).
fn scaled_decimal(mant: u64, exp: i64) -> String {
    let scale = 10u128.pow(DECIMALS);
    if exp >= 0 {
        let mut n = Big::from_u128(u128::from(mant)).shl(exp as u64);
        n.mul_add_small(scale as u64, 0);
        return n.to_decimal();
    }
    // mant * 10^17 < 2^121: below 2^-122 of it everything rounds to 0.
    let p = u128::from(mant) * scale;
    let sh = exp.unsigned_abs();
    if sh >= 122 {
        return "0".to_string();
    }
    let q = p >> sh;
    let half = (p >> (sh - 1)) & 1 == 1;
    let rest = p & ((1u128 << (sh - 1)) - 1) != 0;
    (q + u128::from(half && (rest || q & 1 == 1))).to_string()
}

#[cfg(test)]
mod tests {
    use super::LongDouble;

    /// `INCRBYFLOAT` on a key holding `a`: the reply text or None (error).
    fn incr(a: &str, b: &str) -> Option<String> {
        let sum = LongDouble::parse(a.as_bytes())?.add(LongDouble::parse(b.as_bytes())?)?;
        Some(sum.to_human())
    }

    #[test]
    fn sums_print_like_redis() {
        assert_eq!(incr("10.50", "0.1").as_deref(), Some("10.6"));
        assert_eq!(incr("10.6", "-5").as_deref(), Some("5.6"));
        assert_eq!(incr("5.0e3", "2.0e2").as_deref(), Some("5200"));
        assert_eq!(incr("0.1", "0.2").as_deref(), Some("0.3"));
        assert_eq!(incr("0.3", "1e-20").as_deref(), Some("0.3"));
        assert_eq!(incr("17179869184", "1.5").as_deref(), Some("17179869185.5"));
        assert_eq!(incr("1", "0x10").as_deref(), Some("17"));
        assert_eq!(incr("3", "-3").as_deref(), Some("0"));
        assert_eq!(incr("0", "-1e-20").as_deref(), Some("0"), "no negative zero");
        assert_eq!(
            incr("0.3", "1e300").as_deref(),
            Some(
                "1000000000000000000008997324079559193870523944273290747938260082321265646596180935755849152083750497\
                 1903503725086142748359035925561846729839130962605207486462873271356418436532940842551076060167897266\
                 52932370030551382947620994540294772781889620606179267611627097410650567187386105690089424915104006144"
            )
        );
    }

    #[test]
    fn refuses_what_strtold_or_redis_refuse() {
        for bad in [
            "", " 1", "1 ", "abc", "nan", "-nan", "1e", "1e+", ".", "0x", "0xg", "1e5000", "1e-5000", "--1",
            "1.2.3",
        ] {
            assert_eq!(LongDouble::parse(bad.as_bytes()), None, "{bad:?}");
        }
        for good in ["+1.5", ".5", "5.", "0e-99999", "inf", "-Infinity", "1e-4940", "0x1.8p1", "-0"] {
            assert!(LongDouble::parse(good.as_bytes()).is_some(), "{good:?}");
        }
        assert_eq!(LongDouble::parse(&vec![b'1'; 5120]), None, "too long for Redis' buffer");
    }

    #[test]
    fn infinities_and_overflow_are_refused_as_results() {
        assert_eq!(incr("1", "inf"), None);
        assert_eq!(incr("inf", "-inf"), None);
        assert_eq!(incr("1.1e4932", "1.1e4932"), None);
        assert_eq!(incr("1e4932", "1").map(|s| s.len()), Some(4933));
    }
}
