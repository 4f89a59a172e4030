//! PLACEHOLDER until the family lands.
use super::{EntryOp, KeyState};
use crate::resp::value::Value;
use bytes::Bytes;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct List(Vec<(Bytes, Bytes)>);

impl List {
    pub fn load(_head: i64, entries: Vec<(Bytes, Bytes)>) -> Result<Self, String> {
        Ok(List(entries))
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
    pub fn load_at(_h: i64) {}
    pub fn head(&self) -> i64 {
        0
    }
    pub fn from_elements(v: Vec<Bytes>) -> Self {
        List(v.into_iter().map(|e| (e.clone(), e)).collect())
    }
    pub fn elements(&self) -> impl Iterator<Item = &Bytes> {
        self.0.iter().map(|(_, v)| v)
    }
}

pub(super) fn exec(_ks: &mut KeyState, _name: &str, _args: &[Bytes], _now_ms: u64) -> Option<Value> {
    None
}
