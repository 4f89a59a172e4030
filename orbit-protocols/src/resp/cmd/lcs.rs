//! LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]: the longest
//! common subsequence of two strings. Redis' dynamic-programming table and
//! its walk back from the end, so that ties resolve as in Redis and IDX
//! lists the same ranges in the same order (last match first). The table
//! takes 4 bytes per cell: over `proto-max-bulk-len` it is refused, as
//! Redis does.

use crate::keyspace::parse_i64;
use crate::keyspace::value::{Value, errors};
use crate::resp::connection::Conn;
use crate::resp::server::lock;
use bytes::Bytes;
use orbit_shared::ActorGateway;

type Result<T> = std::result::Result<T, Value>;

#[derive(Debug, Default, PartialEq)]
struct Options {
    len: bool,
    idx: bool,
    with_match_len: bool,
    min_match_len: i64,
}

pub(crate) async fn run<G: ActorGateway>(conn: &Conn<G>, args: &[Bytes]) -> Result<Value> {
    let a = string(conn, &args[0]).await?;
    let b = string(conn, &args[1]).await?;
    let (Some(a), Some(b)) = (a, b) else {
        return Err(Value::err("ERR The specified keys must contain string values"));
    };
    let options = parse(&args[2..])?;
    let budget = lock(&conn.server.config).proto_max_bulk_len;
    lcs(&a, &b, &options, budget)
}

/// The string at `key` (empty when missing); `None` when it holds another
/// type.
async fn string<G: ActorGateway>(conn: &Conn<G>, key: &Bytes) -> Result<Option<Bytes>> {
    match conn.server.key_command(conn.db, "get", key, &[]).await {
        Value::Bulk(s) => Ok(Some(s)),
        Value::Nil => Ok(Some(Bytes::new())),
        Value::Error(e) if e.starts_with("WRONGTYPE") => Ok(None),
        other => Err(other),
    }
}

fn parse(args: &[Bytes]) -> Result<Options> {
    let mut options = Options::default();
    let mut i = 0;
    while i < args.len() {
        match super::lower(&args[i]).as_slice() {
            b"idx" => options.idx = true,
            b"len" => options.len = true,
            b"withmatchlen" => options.with_match_len = true,
            b"minmatchlen" if i + 1 < args.len() => {
                options.min_match_len = parse_i64(&args[i + 1])?.max(0);
                i += 1;
            }
            _ => return Err(Value::err(errors::SYNTAX)),
        }
        i += 1;
    }
    if options.idx && options.len {
        return Err(Value::err("ERR If you want both the length and indexes, please just use IDX."));
    }
    Ok(options)
}

/// The table: `table[j + i * (b.len() + 1)]` is the LCS length of `a[..i]`
/// and `b[..j]`.
fn table(a: &[u8], b: &[u8], budget: usize) -> Result<Vec<u32>> {
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        return Err(Value::err("ERR String too long for LCS"));
    }
    let width = b.len() + 1;
    let cells = (a.len() as u128 + 1) * width as u128;
    if cells * 4 > budget as u128 {
        return Err(Value::err(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let cells = cells as usize;
    let mut table: Vec<u32> = Vec::new();
    if table.try_reserve_exact(cells).is_err() {
        return Err(Value::err("ERR Insufficient memory, failed allocating transient memory for LCS"));
    }
    table.resize(cells, 0);
    for i in 1..=a.len() {
        for j in 1..width {
            table[j + i * width] = if a[i - 1] == b[j - 1] {
                table[j - 1 + (i - 1) * width] + 1
            } else {
                table[j + (i - 1) * width].max(table[j - 1 + i * width])
            };
        }
    }
    Ok(table)
}

/// One matched range: `[a_start, a_end]` in the first string and
/// `[b_start, b_end]` in the second.
struct Range {
    a: (usize, usize),
    b: (usize, usize),
}

fn lcs(a: &[u8], b: &[u8], options: &Options, budget: usize) -> Result<Value> {
    let table = table(a, b, budget)?;
    let width = b.len() + 1;
    let at = |i: usize, j: usize| table[j + i * width];
    let total = at(a.len(), b.len());
    if options.len {
        return Ok(Value::Int(i64::from(total)));
    }
    let mut result = vec![0u8; total as usize];
    let mut ranges = Vec::new();
    let mut current: Option<Range> = None;
    let (mut i, mut j, mut idx) = (a.len(), b.len(), total as usize);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if current.is_none() {
                current = Some(Range { a: (i - 1, i - 1), b: (j - 1, j - 1) });
            } else if let Some(range) = current.as_mut().filter(|r| r.a.0 == i && r.b.0 == j) {
                // Contiguous with the range so far: extend it backwards.
                range.a.0 -= 1;
                range.b.0 -= 1;
            } else {
                emit = true;
            }
            if current.as_ref().is_some_and(|r| r.a.0 == 0 || r.b.0 == 0) {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if at(i - 1, j) > at(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = current.is_some();
        }
        if emit && let Some(range) = current.take() {
            let len = range.a.1 - range.a.0 + 1;
            if len as i64 >= options.min_match_len {
                ranges.push((range, len));
            }
        }
    }
    if !options.idx {
        return Ok(Value::Bulk(Bytes::from(result)));
    }
    let pair =
        |(start, end): (usize, usize)| Value::Array(vec![Value::Int(start as i64), Value::Int(end as i64)]);
    let matches = ranges
        .into_iter()
        .map(|(range, len)| {
            let mut item = vec![pair(range.a), pair(range.b)];
            if options.with_match_len {
                item.push(Value::Int(len as i64));
            }
            Value::Array(item)
        })
        .collect();
    Ok(Value::Map(vec![
        (Value::bulk("matches"), Value::Array(matches)),
        (Value::bulk("len"), Value::Int(i64::from(total))),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(a: &str, b: &str, line: &str) -> Result<Value> {
        let args: Vec<Bytes> =
            line.split_whitespace().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect();
        lcs(a.as_bytes(), b.as_bytes(), &parse(&args)?, 512 * 1024 * 1024)
    }

    fn range(a: (i64, i64), b: (i64, i64), len: Option<i64>) -> Value {
        let pair = |(s, e): (i64, i64)| Value::Array(vec![Value::Int(s), Value::Int(e)]);
        let mut item = vec![pair(a), pair(b)];
        item.extend(len.map(Value::Int));
        Value::Array(item)
    }

    fn idx(matches: Vec<Value>, len: i64) -> Value {
        Value::Map(vec![
            (Value::bulk("matches"), Value::Array(matches)),
            (Value::bulk("len"), Value::Int(len)),
        ])
    }

    #[test]
    fn the_documented_example_matches_redis() {
        let (a, b) = ("ohmytext", "mynewtext");
        assert_eq!(run(a, b, ""), Ok(Value::bulk("mytext")));
        assert_eq!(run(a, b, "LEN"), Ok(Value::Int(6)));
        let both = vec![range((4, 7), (5, 8), None), range((2, 3), (0, 1), None)];
        assert_eq!(run(a, b, "IDX"), Ok(idx(both, 6)));
        let long = vec![range((4, 7), (5, 8), Some(4))];
        assert_eq!(run(a, b, "IDX MINMATCHLEN 4 WITHMATCHLEN"), Ok(idx(long, 6)));
        assert_eq!(run("", b, "IDX"), Ok(idx(vec![], 0)));
        assert_eq!(run("abc", "xyz", ""), Ok(Value::bulk("")));
    }

    #[test]
    fn options_and_limits_answer_redis_errors() {
        let both = Value::err("ERR If you want both the length and indexes, please just use IDX.");
        assert_eq!(run("a", "a", "len idx"), Err(both));
        assert_eq!(run("a", "a", "minmatchlen"), Err(Value::err(errors::SYNTAX)));
        assert_eq!(run("a", "a", "minmatchlen x"), Err(Value::err(errors::NOT_INTEGER)));
        assert_eq!(run("a", "a", "foo"), Err(Value::err(errors::SYNTAX)));
        assert_eq!(run("ab", "ab", "idx minmatchlen -5"), Ok(idx(vec![range((0, 1), (0, 1), None)], 2)));
        let options = Options::default();
        let refused = "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
        assert_eq!(lcs(b"abc", b"abc", &options, 63), Err(Value::err(refused)));
        assert_eq!(lcs(b"abc", b"abc", &options, 64), Ok(Value::bulk("abc")));
    }
}
