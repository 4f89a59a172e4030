//! HyperLogLog commands on one key: PFADD, PFCOUNT of one key (which
//! stores the cardinality it computes in the header, as Redis does), and
//! the halves of PFMERGE and PFDEBUG that write the key (`orbit.pfmerge`,
//! `orbit.pfdebug`), run for the front door. A sketch is a plain string
//! value in Redis' own bytes (`sketch.rs`), so GET, SET, DUMP, RENAME and
//! the rest see what they see on redis-server.

pub(crate) mod sketch;

use super::{Data, KeyState, WriteOp};
use crate::keyspace::value::{Value, errors};
use bytes::Bytes;
use sketch::Corrupted;

pub(super) fn exec(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Option<Value> {
    let reply = match name {
        "pfadd" => pfadd(ks, args, now_ms),
        "pfcount" if args.is_empty() => pfcount(ks, now_ms),
        "pfcount" => Err(Value::err("ERR PFCOUNT of several keys runs in the front door")),
        "orbit.pfmerge" => store_merged(ks, args, now_ms),
        "orbit.pfdebug" => pfdebug(ks, args, now_ms),
        _ => return None,
    };
    Some(reply.unwrap_or_else(|e| e))
}

fn corrupted(_: Corrupted) -> Value {
    Value::err(sketch::CORRUPTED)
}

/// The sketch at this key: `None` if there is none, WRONGTYPE if it holds
/// another type or a string that is not a sketch.
fn read(ks: &mut KeyState, now_ms: u64) -> Result<Option<Bytes>, Value> {
    match ks.live(now_ms) {
        None => Ok(None),
        Some(Data::Str(s)) if sketch::is_valid(&s[..]) => Ok(Some(s.clone())),
        Some(Data::Str(_)) => Err(Value::err(sketch::NOT_HLL)),
        Some(_) => Err(Value::err(errors::WRONGTYPE)),
    }
}

/// Stores the sketch, keeping the key's TTL (Redis edits the string in place).
fn write(ks: &mut KeyState, hll: Vec<u8>) {
    let value = Bytes::from(hll);
    if let Some(Data::Str(old)) = &mut ks.data {
        *old = value.clone();
        ks.pending.push(WriteOp::Put(Bytes::new(), value));
    } else {
        ks.replace(Data::Str(value));
    }
}

/// PFADD key [element...]: 1 if the key was created or a register grew.
fn pfadd(ks: &mut KeyState, elements: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let before = read(ks, now_ms)?;
    let mut updated = before.is_none();
    let mut hll = before.as_ref().map_or_else(sketch::new_sparse, |b| b.to_vec());
    for element in elements {
        match sketch::add(&mut hll, element, sketch::SPARSE_MAX_BYTES) {
            Ok(grew) => updated |= grew,
            Err(e) => {
                // Redis keeps what the elements before this one changed.
                if before.as_deref().is_some_and(|b| b != hll.as_slice()) {
                    write(ks, hll);
                }
                return Err(corrupted(e));
            }
        }
    }
    if updated {
        sketch::invalidate_cache(&mut hll);
        write(ks, hll);
    }
    Ok(Value::Int(i64::from(updated)))
}

/// PFCOUNT key: the cached cardinality, or a fresh one then cached.
fn pfcount(ks: &mut KeyState, now_ms: u64) -> Result<Value, Value> {
    let Some(hll) = read(ks, now_ms)? else { return Ok(Value::Int(0)) };
    if let Some(card) = sketch::cached(&hll) {
        return Ok(Value::Int(card as i64));
    }
    let card = sketch::count(&hll).map_err(corrupted)?;
    let mut hll = hll.to_vec();
    sketch::set_cache(&mut hll, card);
    write(ks, hll);
    Ok(Value::Int(card as i64))
}

/// `orbit.pfmerge key registers dense|sparse`: PFMERGE's write of the
/// merged registers (one byte each, the key's own included) into the key,
/// created if missing; `dense` when one of the inputs was dense.
fn store_merged(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let [max, encoding] = args else { return Err(Value::err(errors::arity("orbit.pfmerge"))) };
    if max.len() != sketch::REGISTERS {
        return Err(Value::err("ERR orbit.pfmerge needs one byte per register"));
    }
    let mut hll = read(ks, now_ms)?.map_or_else(sketch::new_sparse, |b| b.to_vec());
    sketch::store_merged(&mut hll, max, &encoding[..] == b"dense").map_err(corrupted)?;
    write(ks, hll);
    Ok(Value::ok())
}

/// `orbit.pfdebug key subcommand [extra...]`: PFDEBUG GETREG, DECODE,
/// ENCODING, TODENSE with Redis' replies and errors (GETREG and TODENSE
/// store a sparse sketch as dense).
fn pfdebug(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let Some((sub, extra)) = args.split_first() else { return Err(Value::err(errors::arity("pfdebug"))) };
    let Some(hll) = read(ks, now_ms)? else { return Err(Value::err("ERR The specified key does not exist")) };
    let sub_text = String::from_utf8_lossy(sub);
    let lower = sub_text.to_ascii_lowercase();
    let known = matches!(lower.as_str(), "getreg" | "decode" | "encoding" | "todense");
    if !known {
        return Err(Value::err(format!("ERR Unknown PFDEBUG subcommand '{sub_text}'")));
    }
    if !extra.is_empty() {
        return Err(Value::err(format!("ERR Wrong number of arguments for the '{sub_text}' subcommand")));
    }
    let mut hll = hll.to_vec();
    let converted = !sketch::is_dense(&hll) && matches!(lower.as_str(), "getreg" | "todense");
    if converted {
        sketch::to_dense(&mut hll).map_err(corrupted)?;
        write(ks, hll.clone());
    }
    Ok(match lower.as_str() {
        "getreg" => {
            let registers = sketch::registers(&hll).map_err(corrupted)?;
            Value::Array(registers.into_iter().map(|r| Value::Int(i64::from(r))).collect())
        }
        "decode" if sketch::is_dense(&hll) => return Err(Value::err("ERR HLL encoding is not sparse")),
        "decode" => Value::bulk(sketch::decode(&hll)),
        "encoding" if sketch::is_dense(&hll) => Value::Simple("dense".into()),
        "encoding" => Value::Simple("sparse".into()),
        _ => Value::Int(i64::from(converted)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ks: &mut KeyState, words: &[&[u8]]) -> Value {
        let argv: Vec<Bytes> = words.iter().map(|w| Bytes::copy_from_slice(w)).collect();
        ks.exec(&argv, 1_000)
    }

    fn value(ks: &mut KeyState) -> Vec<u8> {
        match run(ks, &[b"get", b"k"]) {
            Value::Bulk(b) => b.to_vec(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pfadd_creates_a_sparse_sketch_with_a_stale_cache() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &[b"pfadd", b"k"]), Value::Int(1));
        assert_eq!(value(&mut ks), b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xff".to_vec());
        assert_eq!(run(&mut ks, &[b"pfadd", b"k"]), Value::Int(0));
        assert_eq!(run(&mut ks, &[b"pfadd", b"k", b"a", b"b", b"c"]), Value::Int(1));
        assert_eq!(run(&mut ks, &[b"pfadd", b"k", b"a"]), Value::Int(0));
    }

    #[test]
    fn pfcount_caches_the_cardinality_and_writes_only_when_stale() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &[b"pfcount", b"k"]), Value::Int(0));
        run(&mut ks, &[b"pfadd", b"k", b"a", b"b", b"c"]);
        ks.drain_entry_ops();
        let argv = [Bytes::from_static(b"pfcount"), Bytes::from_static(b"k")];
        assert_eq!(ks.exec_tracked(&argv, 1_000), (Value::Int(3), true));
        assert_eq!(&value(&mut ks)[8..16], &[3, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(ks.exec_tracked(&argv, 1_000), (Value::Int(3), false));
    }

    #[test]
    fn pfadd_keeps_the_ttl() {
        let mut ks = KeyState::default();
        run(&mut ks, &[b"pfadd", b"k", b"a"]);
        run(&mut ks, &[b"pexpire", b"k", b"5000"]);
        run(&mut ks, &[b"pfadd", b"k", b"b", b"c", b"d"]);
        run(&mut ks, &[b"pfcount", b"k"]);
        assert_eq!(run(&mut ks, &[b"pttl", b"k"]), Value::Int(5000));
    }

    #[test]
    fn strings_that_are_not_sketches_are_refused() {
        let mut ks = KeyState::default();
        run(&mut ks, &[b"set", b"k", b"hello"]);
        let not_hll = Value::err(sketch::NOT_HLL);
        assert_eq!(run(&mut ks, &[b"pfadd", b"k", b"a"]), not_hll);
        assert_eq!(run(&mut ks, &[b"pfcount", b"k"]), not_hll);
        // Dense must be exactly 12304 bytes.
        run(&mut ks, &[b"set", b"k", b"HYLL\x00\0\0\0\0\0\0\0\0\0\0\0\0\0"]);
        assert_eq!(run(&mut ks, &[b"pfcount", b"k"]), not_hll);
        let mut list = KeyState::default();
        run(&mut list, &[b"rpush", b"k", b"a"]);
        assert_eq!(run(&mut list, &[b"pfadd", b"k", b"a"]), Value::err(errors::WRONGTYPE));
    }

    #[test]
    fn corrupted_sketches_answer_invalidobj() {
        let mut ks = KeyState::default();
        // Sparse, stale cache, one XZERO of 16383: a register is missing.
        run(&mut ks, &[b"set", b"k", b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xfe"]);
        assert_eq!(run(&mut ks, &[b"pfcount", b"k"]), Value::err(sketch::CORRUPTED));
        assert_eq!(run(&mut ks, &[b"orbit.pfdebug", b"k", b"todense"]), Value::err(sketch::CORRUPTED));
    }

    #[test]
    fn set_bytes_from_redis_are_read_and_extended() {
        let mut ks = KeyState::default();
        // redis-server 7.0: PFADD k a b c, then PFCOUNT k (cache valid, 3).
        let redis = b"HYLL\x01\0\0\0\x03\0\0\0\0\0\0\0`\xf3\x80P\xb1\x84K\xfb\x80BZ";
        run(&mut ks, &[b"set", b"k", redis]);
        assert_eq!(run(&mut ks, &[b"pfcount", b"k"]), Value::Int(3));
        assert_eq!(run(&mut ks, &[b"pfadd", b"k", b"c"]), Value::Int(0));
        assert_eq!(run(&mut ks, &[b"pfadd", b"k", b"d"]), Value::Int(1));
        assert_eq!(run(&mut ks, &[b"pfcount", b"k"]), Value::Int(4));
    }

    #[test]
    fn merged_registers_are_written_into_the_destination() {
        let mut src = KeyState::default();
        run(&mut src, &[b"pfadd", b"k", b"a", b"b"]);
        let registers = sketch::registers(&value(&mut src)).unwrap();
        let mut dst = KeyState::default();
        run(&mut dst, &[b"pfadd", b"k", b"c"]);
        assert_eq!(run(&mut dst, &[b"orbit.pfmerge", b"k", &registers, b"sparse"]), Value::ok());
        assert_eq!(run(&mut dst, &[b"pfcount", b"k"]), Value::Int(3));
        assert_eq!(run(&mut dst, &[b"orbit.pfdebug", b"k", b"encoding"]), Value::Simple("sparse".into()));
        assert_eq!(run(&mut dst, &[b"orbit.pfdebug", b"k", b"todense"]), Value::Int(1));
        assert_eq!(run(&mut dst, &[b"orbit.pfdebug", b"k", b"todense"]), Value::Int(0));
        assert_eq!(run(&mut dst, &[b"pfcount", b"k"]), Value::Int(3));
    }
}
