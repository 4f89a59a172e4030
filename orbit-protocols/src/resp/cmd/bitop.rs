//! BITOP AND|OR|XOR|NOT destkey srckey...: reads the source strings from
//! their key actors, combines them byte by byte (a shorter or missing
//! source counts as zeros up to the longest), and stores the result in the
//! destination, replacing whatever value and TTL it held; when every source
//! is empty or missing the destination is deleted. Replies with the result's
//! length. Runs from `keys::run`, under the keyspace lock it takes, after
//! the dispatcher checked that the keys are colocated.

use super::keys::restore_in;
use crate::keyspace::value::{Value, errors};
use crate::keyspace::{Data, Dumped};
use crate::resp::connection::Conn;
use bytes::Bytes;
use orbit_shared::ActorGateway;

const NOT_ONE_SOURCE: &str = "ERR BITOP NOT must be called with a single source key.";

/// The operations of Redis 7.2's BITOP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    And,
    Or,
    Xor,
    Not,
}

impl Op {
    fn parse(word: &[u8]) -> Result<Op, Value> {
        Ok(match word.to_ascii_lowercase().as_slice() {
            b"and" => Op::And,
            b"or" => Op::Or,
            b"xor" => Op::Xor,
            b"not" => Op::Not,
            _ => return Err(Value::err(errors::SYNTAX)),
        })
    }
}

/// BITOP op destkey srckey...: `args` follow the word BITOP.
pub(crate) async fn run<G: ActorGateway>(conn: &mut Conn<G>, args: &[Bytes]) -> Result<Value, Value> {
    let [op, dest, sources @ ..] = args else { return Err(Value::err(errors::arity("bitop"))) };
    if sources.is_empty() {
        return Err(Value::err(errors::arity("bitop")));
    }
    let op = Op::parse(op)?;
    if op == Op::Not && sources.len() != 1 {
        return Err(Value::err(NOT_ONE_SOURCE));
    }
    let mut inputs = Vec::with_capacity(sources.len());
    for key in sources {
        inputs.push(source(conn, key).await?);
    }
    let result = combine(op, &inputs);
    let len = result.len() as i64;
    let value =
        (!result.is_empty()).then(|| Dumped { data: Data::Str(Bytes::from(result)), expire_at: None });
    let db = conn.db;
    restore_in(conn, db, dest, value.as_ref()).await?;
    Ok(Value::Int(len))
}

/// A source's string: empty when the key is missing, WRONGTYPE when it
/// holds another type.
async fn source<G: ActorGateway>(conn: &Conn<G>, key: &Bytes) -> Result<Bytes, Value> {
    match conn.server.key_command(conn.db, "get", key, &[]).await {
        Value::Nil => Ok(Bytes::new()),
        Value::Bulk(s) => Ok(s),
        error @ Value::Error(_) => Err(error),
        _ => Err(Value::err("ERR internal error: unexpected GET reply")),
    }
}

/// The bytes of `op` over `inputs`, as long as the longest input (Redis
/// pads the shorter ones with zeros).
fn combine(op: Op, inputs: &[Bytes]) -> Vec<u8> {
    let Some((first, rest)) = inputs.split_first() else { return Vec::new() };
    let len = inputs.iter().map(Bytes::len).max().unwrap_or(0);
    let mut out = first.to_vec();
    out.resize(len, 0);
    let apply: fn(u8, u8) -> u8 = match op {
        Op::Not => return out.into_iter().map(|b| !b).collect(),
        Op::And => |a, b| a & b,
        Op::Or => |a, b| a | b,
        Op::Xor => |a, b| a ^ b,
    };
    for input in rest {
        let padded = input.iter().copied().chain(std::iter::repeat(0));
        for (o, b) in out.iter_mut().zip(padded) {
            *o = apply(*o, b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(values: &[&[u8]]) -> Vec<Bytes> {
        values.iter().map(|v| Bytes::copy_from_slice(v)).collect()
    }

    #[test]
    fn shorter_inputs_count_as_zeros() {
        let abc = inputs(&[b"\xff\x0f\xf0", b"\x0f", b""]);
        assert_eq!(combine(Op::And, &abc), [0x00, 0x00, 0x00]);
        assert_eq!(combine(Op::Or, &abc), [0xff, 0x0f, 0xf0]);
        assert_eq!(combine(Op::Xor, &abc), [0xf0, 0x0f, 0xf0]);
        assert_eq!(combine(Op::And, &inputs(&[b"\x0f", b"\xff\xff"])), [0x0f, 0x00]);
        assert_eq!(combine(Op::Not, &inputs(&[b"\x0f\x00"])), [0xf0, 0xff]);
        assert_eq!(combine(Op::Or, &inputs(&[b"", b""])), Vec::<u8>::new());
        assert_eq!(combine(Op::Xor, &[]), Vec::<u8>::new());
    }

    #[test]
    fn operations_parse_in_any_case() {
        assert_eq!(Op::parse(b"AND"), Ok(Op::And));
        assert_eq!(Op::parse(b"Or"), Ok(Op::Or));
        assert_eq!(Op::parse(b"xor"), Ok(Op::Xor));
        assert_eq!(Op::parse(b"nOt"), Ok(Op::Not));
        assert_eq!(Op::parse(b"diff"), Err(Value::err(errors::SYNTAX)));
    }
}
