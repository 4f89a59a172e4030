//! [`Invocation`] and [`Reply`]: one method call in its dynamic (JSON) form.

use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};

/// A call of `method` with JSON `args` (an object of the method's fields;
/// empty bytes mean `{}`). Every actor kind accepts this form, so any front
/// door can call any actor.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub method: String,
    pub args: Bytes,
    /// Set by a caller that may retry: a call of a method that is not
    /// read-only with a key the actor already answered is not run again,
    /// and gets the first reply (see the node's `actor` module).
    pub idempotency_key: Option<String>,
}

impl Invocation {
    pub fn new(method: impl Into<String>, args: impl Into<Bytes>) -> Self {
        Invocation { method: method.into(), args: args.into(), idempotency_key: None }
    }

    /// This call, applied at most once per `key` on its actor.
    pub fn with_idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// An invocation of a typed message.
    pub fn of<M: crate::Message>(msg: &M) -> Result<Self, crate::Error> {
        let args = serde_json::to_vec(msg)
            .map_err(|e| crate::Error::Internal { reason: format!("cannot encode {}: {e}", M::METHOD) })?;
        Ok(Invocation::new(M::METHOD, args))
    }

    /// Decodes the arguments as `T`, treating empty args as `{}`.
    pub fn decode_args<T: DeserializeOwned>(&self) -> Result<T, crate::Error> {
        let args: &[u8] = if self.args.is_empty() { b"{}" } else { &self.args };
        serde_json::from_slice(args).map_err(|e| crate::Error::InvalidArguments {
            method: self.method.clone(),
            reason: e.to_string(),
        })
    }
}

/// A successful answer: the method's return value as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub value: Bytes,
}

impl Reply {
    pub fn encode<T: Serialize>(value: &T) -> Result<Self, crate::Error> {
        serde_json::to_vec(value)
            .map(|v| Reply { value: v.into() })
            .map_err(|e| crate::Error::Internal { reason: format!("cannot encode reply: {e}") })
    }

    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, crate::Error> {
        serde_json::from_slice(&self.value)
            .map_err(|e| crate::Error::Internal { reason: format!("cannot decode reply: {e}") })
    }
}
