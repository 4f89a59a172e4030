//! PLACEHOLDER until the family lands.
use super::{EntryOp, KeyState};
use crate::resp::value::Value;
use bytes::Bytes;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Set(Vec<(Bytes, Bytes)>);

impl Set {
    pub fn load(entries: Vec<(Bytes, Bytes)>) -> Result<Self, String> {
        Ok(Set(entries))
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
    pub fn from_members(v: Vec<Bytes>) -> Self {
        Set(v.into_iter().map(|e| (e, Bytes::new())).collect())
    }
    pub fn members(&self) -> impl Iterator<Item = &Bytes> {
        self.0.iter().map(|(k, _)| k)
    }
}

pub(super) fn exec(_ks: &mut KeyState, _name: &str, _args: &[Bytes], _now_ms: u64) -> Option<Value> {
    None
}
