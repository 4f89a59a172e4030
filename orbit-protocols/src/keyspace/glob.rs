//! Redis glob patterns (KEYS, SCAN/HSCAN/SSCAN MATCH), matched exactly as
//! Redis 7.2's `stringmatchlen` does, quirks included: an unterminated
//! `[` class runs to the end of the pattern, `[a-]` is a range up to `]`,
//! class ranges compare bytes as C's signed `char`, and more than 1000
//! nested `*` never match.
//!
//! `*` is matched by recursion, like Redis, with its "skip longer matches"
//! cut: once the rest of the pattern failed from every position of the
//! subject, no earlier `*` can make it match by taking more, so the whole
//! match fails at once. This keeps patterns like `a*a*a*a*b` polynomial.

/// Whether `subject` matches the glob `pattern` (case-sensitive).
pub fn matches(pattern: &[u8], subject: &[u8]) -> bool {
    // KEYS, SCAN and the *SCAN commands skip matching for a lone `*`, so it
    // matches even the empty string (which `stringmatchlen` itself refuses).
    if pattern == b"*" {
        return true;
    }
    let mut skip_longer = false;
    match_at(pattern, 0, subject, 0, &mut skip_longer, 0)
}

/// Redis refuses to nest deeper than this many `*` (no match).
const MAX_NESTING: u32 = 1000;

/// The pattern byte at `i`, or NUL past the end: the C code reads the
/// string's terminator there, and its branches depend on that.
fn at(pattern: &[u8], i: usize) -> u8 {
    pattern.get(i).copied().unwrap_or(0)
}

/// Matches `pattern[pi..]` against `subject[si..]`.
fn match_at(
    pattern: &[u8],
    mut pi: usize,
    subject: &[u8],
    mut si: usize,
    skip_longer: &mut bool,
    nesting: u32,
) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    while pi < pattern.len() && si < subject.len() {
        let c = subject[si];
        match pattern[pi] {
            b'*' => return match_star(pattern, pi, subject, si, skip_longer, nesting),
            b'?' => {}
            b'[' => {
                if !match_class(pattern, &mut pi, c) {
                    return false;
                }
            }
            b'\\' => {
                if pattern.len() - pi >= 2 {
                    pi += 1;
                }
                if pattern[pi] != c {
                    return false;
                }
            }
            literal => {
                if literal != c {
                    return false;
                }
            }
        }
        si += 1;
        pi += 1;
        if si == subject.len() {
            // Trailing stars match the empty rest of the subject.
            while at(pattern, pi) == b'*' {
                pi += 1;
            }
            break;
        }
    }
    pi >= pattern.len() && si == subject.len()
}

/// `pattern[pi]` is a `*` and the subject is not exhausted.
fn match_star(
    pattern: &[u8],
    mut pi: usize,
    subject: &[u8],
    mut si: usize,
    skip_longer: &mut bool,
    nesting: u32,
) -> bool {
    while at(pattern, pi + 1) == b'*' {
        pi += 1;
    }
    if pattern.len() - pi == 1 {
        return true;
    }
    while si < subject.len() {
        if match_at(pattern, pi + 1, subject, si, skip_longer, nesting + 1) {
            return true;
        }
        if *skip_longer {
            return false;
        }
        si += 1;
    }
    // The rest matched from no position: a longer match for an earlier `*`
    // cannot help either.
    *skip_longer = true;
    false
}

/// Matches the class opening at `pattern[*pi]` (a `[`) against `c`, leaving
/// `*pi` on its last byte (the `]`, or the pattern's last byte when the class
/// is not closed).
fn match_class(pattern: &[u8], pi: &mut usize, c: u8) -> bool {
    *pi += 1;
    let negated = at(pattern, *pi) == b'^';
    if negated {
        *pi += 1;
    }
    let mut matched = false;
    loop {
        let left = pattern.len() - *pi;
        let b = at(pattern, *pi);
        if b == b'\\' && left >= 2 {
            *pi += 1;
            matched |= pattern[*pi] == c;
        } else if b == b']' {
            break;
        } else if left == 0 {
            // Unterminated: the class took the rest of the pattern.
            *pi -= 1;
            break;
        } else if left >= 3 && pattern[*pi + 1] == b'-' {
            let (a, z) = (signed(pattern[*pi]), signed(pattern[*pi + 2]));
            let (lo, hi) = if a > z { (z, a) } else { (a, z) };
            *pi += 2;
            matched |= (lo..=hi).contains(&signed(c));
        } else {
            matched |= b == c;
        }
        *pi += 1;
    }
    matched != negated
}

/// A byte as C's `char` on x86-64 and most ARM Linux builds of Redis
/// compares in ranges: signed.
fn signed(b: u8) -> i32 {
    i32::from(b as i8)
}

#[cfg(test)]
mod tests {
    use super::matches;

    fn m(p: &str, s: &str) -> bool {
        matches(p.as_bytes(), s.as_bytes())
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(m("*", ""), "a lone star matches everything");
        assert!(!m("**", ""), "stringmatchlen never matches an empty subject");
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("a**b", "ab"));
        assert!(m("a*", "a"));
        assert!(m("a***", "a"));
        assert!(!m("a*b", "a"));
        assert!(!m("", "a"));
        assert!(m("", ""));
        assert!(!m("?", ""));
    }

    #[test]
    fn classes() {
        assert!(m("h[ae]llo", "hello"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"), "reversed ranges are swapped");
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("[\\]]", "]"));
        assert!(m("[a-]", "_"), "`[a-]` ranges from `]` to `a`");
        assert!(!m("[]a]", "a"), "`[]` is an empty class");
        assert!(!m("[]a]", "]a") && !m("[]a]", "xa"));
    }

    #[test]
    fn unterminated_class_takes_the_rest() {
        assert!(m("[abc", "a"));
        assert!(m("[abc", "c"));
        assert!(!m("[abc", "ab"));
        assert!(!m("x[", "x"));
        assert!(m("[^", "a"));
    }

    #[test]
    fn escapes() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("a\\", "a\\"), "a trailing backslash is literal");
        assert!(m("\\?x", "?x"));
    }

    #[test]
    fn high_bytes_compare_signed_in_ranges() {
        // 0x80 is -128 as a C char, below 'a'.
        assert!(matches(b"[\x80-a]", b"A"));
        assert!(matches(b"[a-\x80]", b"\xff"), "reversed: -128..=97 holds -1");
        assert!(matches(b"\xff", b"\xff"));
    }

    #[test]
    fn no_exponential_blowup() {
        let subject = "a".repeat(10_000);
        let pattern = "a*".repeat(50) + "b";
        // Exponential backtracking would not finish.
        assert!(!m(&pattern, &subject));
        let pattern = "*a".repeat(30) + "*";
        assert!(m(&pattern, &subject));
    }

    #[test]
    fn deep_nesting_never_matches() {
        let pattern = "a*".repeat(1002);
        assert!(!m(&pattern, &"a".repeat(1002)));
        let pattern = "a*".repeat(900);
        assert!(m(&pattern, &"a".repeat(900)));
    }
}
