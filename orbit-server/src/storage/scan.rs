//! The one definition of a scan: keys with `prefix`, strictly after `after`,
//! at most `limit`, in key order. Backends feed their ordered iterators here.

use super::StorageError;
use bytes::Bytes;
use std::ops::Bound;

/// Where a scan starts: just after `after` when it is inside the prefix's
/// range, otherwise at the prefix itself.
pub fn start<'a>(prefix: &'a [u8], after: Option<&'a [u8]>) -> Bound<&'a [u8]> {
    match after {
        Some(a) if a >= prefix => Bound::Excluded(a),
        _ => Bound::Included(prefix),
    }
}

/// Collects from an iterator positioned at [`start`], stopping at the end of
/// the prefix or the limit.
pub fn collect<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    iter: impl Iterator<Item = Result<(K, V), StorageError>>,
    prefix: &[u8],
    limit: usize,
) -> Result<Vec<(Bytes, Bytes)>, StorageError> {
    let mut out = Vec::new();
    for item in iter {
        if out.len() == limit {
            break;
        }
        let (k, v) = item?;
        if !k.as_ref().starts_with(prefix) {
            break;
        }
        out.push((Bytes::copy_from_slice(k.as_ref()), Bytes::copy_from_slice(v.as_ref())));
    }
    Ok(out)
}
