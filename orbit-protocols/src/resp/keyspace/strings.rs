//! PLACEHOLDER until the family lands.
use super::{Data, KeyState};
use crate::resp::value::{Value, errors};
use bytes::Bytes;

pub(super) fn exec(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Option<Value> {
    Some(match name {
        "get" => match ks.live(now_ms) {
            None => Value::Nil,
            Some(Data::Str(s)) => Value::Bulk(s.clone()),
            Some(_) => Value::err(errors::WRONGTYPE),
        },
        "set" => {
            ks.replace(Data::Str(args.first()?.clone()));
            Value::ok()
        }
        _ => return None,
    })
}
