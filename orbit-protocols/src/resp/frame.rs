//! Reading requests: RESP arrays of bulk strings (framed by the
//! `redis-protocol` crate) and inline commands (`PING\r\n`), with Redis'
//! limits checked before anything big is buffered.

use bytes::{Buf, Bytes, BytesMut};
use redis_protocol::resp2::decode::decode_bytes_mut;
use redis_protocol::resp2::types::BytesFrame;

/// Longest inline request, as in Redis (`PROTO_INLINE_MAX_SIZE`).
pub const MAX_INLINE: usize = 64 * 1024;
/// Most arguments in one request (`1024*1024`, as Redis).
pub const MAX_ARGS: i64 = 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum FrameError {
    /// Replied as `-ERR Protocol error: <text>`, then the connection closes.
    Protocol(String),
}

impl FrameError {
    fn protocol(text: impl Into<String>) -> Self {
        FrameError::Protocol(text.into())
    }
}

/// Most arguments and largest bulk a client may send before it has
/// authenticated (as Redis: a stranger cannot make the server buffer much).
pub const UNAUTHENTICATED_ARGS: i64 = 10;
pub const UNAUTHENTICATED_BULK: usize = 16 * 1024;

/// Takes the next complete request from `buf`: `Ok(None)` if more bytes are
/// needed, `Ok(Some(argv))` (possibly empty for a blank inline line).
/// `authenticated: false` applies the tighter limits.
pub fn next_request(
    buf: &mut BytesMut,
    max_bulk: usize,
    authenticated: bool,
) -> Result<Option<Vec<Bytes>>, FrameError> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => next_multibulk(buf, max_bulk, authenticated),
        Some(_) => next_inline(buf),
    }
}

fn next_multibulk(
    buf: &mut BytesMut,
    max_bulk: usize,
    authenticated: bool,
) -> Result<Option<Vec<Bytes>>, FrameError> {
    let Some((count, body)) = header(buf, 0, Line::Multibulk)? else { return Ok(None) };
    check_count(count, authenticated)?;
    if count <= 0 {
        // As Redis: `*0`, `*-1` or `*-10` is an empty request, skipped
        // without a reply, and the next request is read as usual.
        buf.advance(body);
        return Ok(Some(Vec::new()));
    }
    if !check_bulks(buf, count, body, max_bulk, authenticated)? {
        return Ok(None);
    }
    let decoded = decode_bytes_mut(buf).map_err(|e| FrameError::protocol(e.details().to_string()))?;
    let Some((frame, _, _)) = decoded else { return Ok(None) };
    match frame {
        BytesFrame::Array(items) => items
            .into_iter()
            .map(|item| match item {
                BytesFrame::BulkString(b) => Ok(b),
                _ => Err(FrameError::protocol("expected '$', got something else")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(FrameError::protocol("expected an array of bulk strings")),
    }
}

/// The two header lines of a request, named as Redis' errors name them.
#[derive(Clone, Copy)]
enum Line {
    Multibulk,
    Bulk,
}

impl Line {
    fn too_big(self) -> &'static str {
        match self {
            Line::Multibulk => "too big mbulk count string",
            Line::Bulk => "too big bulk count string",
        }
    }

    fn invalid(self) -> &'static str {
        match self {
            Line::Multibulk => "invalid multibulk length",
            Line::Bulk => "invalid bulk length",
        }
    }
}

/// Reads one `\r\n`-terminated header line starting at `at`: its number
/// and where the line after it starts.
fn header(buf: &[u8], at: usize, line: Line) -> Result<Option<(i64, usize)>, FrameError> {
    let Some(rest) = buf.get(at..) else { return Ok(None) };
    let Some(end) = rest.iter().position(|&b| b == b'\n') else {
        if rest.len() > MAX_INLINE {
            return Err(FrameError::protocol(line.too_big()));
        }
        return Ok(None);
    };
    let digits = rest.get(1..end).unwrap_or_default();
    let digits = digits.strip_suffix(b"\r").unwrap_or(digits);
    let n = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| FrameError::protocol(line.invalid()))?;
    Ok(Some((n, at + end + 1)))
}

/// The array length against the limits (a non-positive one passes: it is
/// an empty request).
fn check_count(count: i64, authenticated: bool) -> Result<(), FrameError> {
    if count > MAX_ARGS {
        return Err(FrameError::protocol(Line::Multibulk.invalid()));
    }
    if !authenticated && count > UNAUTHENTICATED_ARGS {
        return Err(FrameError::protocol("unauthenticated multibulk length"));
    }
    Ok(())
}

/// Checks the `count` bulk headers received so far, the first at `at`,
/// against the limits; `true` once the whole request is buffered.
fn check_bulks(
    buf: &[u8],
    count: i64,
    mut at: usize,
    max_bulk: usize,
    authenticated: bool,
) -> Result<bool, FrameError> {
    for _ in 0..count {
        match buf.get(at) {
            None => return Ok(false),
            Some(b'$') => {}
            Some(&other) => {
                return Err(FrameError::protocol(format!("expected '$', got '{}'", other as char)));
            }
        }
        let Some((len, body)) = header(buf, at, Line::Bulk)? else { return Ok(false) };
        if len < 0 || len as u64 > max_bulk as u64 {
            return Err(FrameError::protocol("invalid bulk length"));
        }
        if !authenticated && len as u64 > UNAUTHENTICATED_BULK as u64 {
            return Err(FrameError::protocol("unauthenticated bulk length"));
        }
        at = body + len as usize + 2;
        if at > buf.len() {
            return Ok(false);
        }
    }
    Ok(true)
}

fn next_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, FrameError> {
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > MAX_INLINE {
            return Err(FrameError::protocol("too big inline request"));
        }
        return Ok(None);
    };
    let line = buf.split_to(end + 1);
    let line = line.strip_suffix(b"\n").unwrap_or(&line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    split_args(line).map(Some).ok_or_else(|| FrameError::protocol("unbalanced quotes in request"))
}

/// Splits an inline line like `redis-cli` and Redis' `sdssplitargs`:
/// whitespace-separated, with "double quotes" (C escapes, `\xHH`) and
/// 'single quotes'. `None` for unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let mut args = Vec::new();
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            break;
        }
        let mut arg = Vec::new();
        match line[i] {
            b'"' => i = double_quoted(line, i + 1, &mut arg)?,
            b'\'' => i = single_quoted(line, i + 1, &mut arg)?,
            _ => {
                while i < line.len() && !line[i].is_ascii_whitespace() {
                    arg.push(line[i]);
                    i += 1;
                }
            }
        }
        args.push(Bytes::from(arg));
    }
    Some(args)
}

/// Returns the index after the closing quote (which must end the argument).
fn double_quoted(line: &[u8], mut i: usize, arg: &mut Vec<u8>) -> Option<usize> {
    loop {
        match *line.get(i)? {
            b'"' => break,
            b'\\' if line.get(i + 1) == Some(&b'x') => {
                let hex = line.get(i + 2..i + 4).and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        arg.push(byte);
                        i += 4;
                    }
                    None => {
                        arg.push(b'x');
                        i += 2;
                    }
                }
            }
            b'\\' => {
                let c = *line.get(i + 1)?;
                arg.push(match c {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 8,
                    b'a' => 7,
                    other => other,
                });
                i += 2;
            }
            c => {
                arg.push(c);
                i += 1;
            }
        }
    }
    let next = i + 1;
    (next == line.len() || line[next].is_ascii_whitespace()).then_some(next)
}

fn single_quoted(line: &[u8], mut i: usize, arg: &mut Vec<u8>) -> Option<usize> {
    loop {
        match *line.get(i)? {
            b'\'' => break,
            b'\\' if line.get(i + 1) == Some(&b'\'') => {
                arg.push(b'\'');
                i += 2;
            }
            c => {
                arg.push(c);
                i += 1;
            }
        }
    }
    let next = i + 1;
    (next == line.len() || line[next].is_ascii_whitespace()).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &[u8]) -> Result<Option<Vec<Bytes>>, FrameError> {
        next_request(&mut BytesMut::from(input), 512 * 1024 * 1024, true)
    }

    fn args(v: &[&str]) -> Vec<Bytes> {
        v.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect()
    }

    #[test]
    fn multibulk_requests_parse_when_complete() {
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPI"[..]);
        assert_eq!(next_request(&mut buf, 1024, true).unwrap(), Some(args(&["GET", "k"])));
        assert_eq!(next_request(&mut buf, 1024, true).unwrap(), None);
        buf.extend_from_slice(b"NG\r\n");
        assert_eq!(next_request(&mut buf, 1024, true).unwrap(), Some(args(&["PING"])));
        assert!(buf.is_empty());
    }

    #[test]
    fn inline_requests_split_like_redis_cli() {
        assert_eq!(parse(b"PING\r\n").unwrap(), Some(args(&["PING"])));
        assert_eq!(parse(b"\r\n").unwrap(), Some(vec![]));
        assert_eq!(
            parse(b"set 'a b' \"c\\x41\\n\"\n").unwrap(),
            Some(vec![Bytes::from("set"), Bytes::from("a b"), Bytes::from("cA\n")])
        );
        assert!(parse(b"set \"abc\r\n").is_err());
        assert!(parse(b"set \"a\"b\r\n").is_err());
    }

    #[test]
    fn limits_are_checked_before_buffering() {
        let huge = next_request(&mut BytesMut::from(&b"*1\r\n$2000\r\nab"[..]), 1024, true);
        assert_eq!(huge, Err(FrameError::Protocol("invalid bulk length".into())));
        assert!(parse(b"*99999999\r\n").is_err());
        assert!(parse(b"*1\r\n$-5\r\n").is_err());
        assert!(parse(b"*x\r\n").is_err());
        assert!(parse(b"*1\r\n:5\r\n").is_err());
        assert!(parse(&vec![b'a'; MAX_INLINE + 1]).is_err());
    }

    #[test]
    fn a_non_positive_multibulk_length_is_an_empty_request() {
        let mut buf = BytesMut::from(&b"*-10\r\n*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n"[..]);
        for _ in 0..3 {
            assert_eq!(next_request(&mut buf, 1024, true).unwrap(), Some(vec![]));
        }
        assert_eq!(next_request(&mut buf, 1024, true).unwrap(), Some(args(&["PING"])));
        assert!(buf.is_empty());
        assert_eq!(parse(b"*-1"), Ok(None), "the header line is not complete yet");
        assert_eq!(parse(b"*1\r\n$-1\r\n"), Err(FrameError::Protocol("invalid bulk length".into())));
    }

    #[test]
    fn header_errors_use_redis_texts() {
        let mut long = b"*".to_vec();
        long.extend(std::iter::repeat_n(b'1', MAX_INLINE + 1));
        assert_eq!(parse(&long), Err(FrameError::Protocol("too big mbulk count string".into())));
        let mut long = b"*1\r\n$".to_vec();
        long.extend(std::iter::repeat_n(b'1', MAX_INLINE + 1));
        assert_eq!(parse(&long), Err(FrameError::Protocol("too big bulk count string".into())));
        assert_eq!(parse(b"*x\r\n"), Err(FrameError::Protocol("invalid multibulk length".into())));
    }

    #[test]
    fn strangers_get_tighter_limits() {
        let stranger = |input: &[u8]| next_request(&mut BytesMut::from(input), 1 << 20, false);
        assert_eq!(
            stranger(b"*11\r\n"),
            Err(FrameError::Protocol("unauthenticated multibulk length".into()))
        );
        let big = stranger(b"*2\r\n$4\r\nECHO\r\n$16385\r\n");
        assert_eq!(big, Err(FrameError::Protocol("unauthenticated bulk length".into())));
        assert!(stranger(b"*2\r\n$4\r\nAUTH\r\n$3\r\npwd\r\n").unwrap().is_some());
    }
}
