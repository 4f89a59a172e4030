//! PLACEHOLDER until the family lands.
use super::{EntryOp, KeyState};
use crate::resp::value::Value;
use bytes::Bytes;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZSet(Vec<(Bytes, Bytes)>);

impl ZSet {
    pub fn load(entries: Vec<(Bytes, Bytes)>) -> Result<Self, String> {
        Ok(ZSet(entries))
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn subkeys(&self) -> impl Iterator<Item = Bytes> + '_ {
        self.0.iter().map(|(k, _)| k.clone())
    }
    pub fn entries(&self) -> impl Iterator<Item = EntryOp> + '_ {
        self.0.iter().map(|(k, v)| EntryOp::Put(k.clone(), v.clone()))
    }
    pub fn from_pairs(v: Vec<(Bytes, f64)>) -> Self {
        ZSet(v.into_iter().map(|(m, s)| (m, Bytes::copy_from_slice(&s.to_be_bytes()))).collect())
    }
    pub fn pairs(&self) -> impl Iterator<Item = (&Bytes, f64)> {
        self.0.iter().map(|(k, _)| (k, 0.0))
    }
}

pub(super) fn exec(_ks: &mut KeyState, _name: &str, _args: &[Bytes], _now_ms: u64) -> Option<Value> {
    None
}
