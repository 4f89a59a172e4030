//! Model-based conformance: random operation sequences run against each
//! backend and against a `BTreeMap` oracle, with close/reopen steps (for
//! durable backends), atomic batches, prefix scans with paging, and
//! snapshots that must not see writes made after them.

use super::{Backend, CowBTreeBackend, LsmBackend, MemoryBackend, StorageError, WriteOp};
use bytes::Bytes;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

type Oracle = BTreeMap<Vec<u8>, Vec<u8>>;
type Write = (Vec<u8>, Option<Vec<u8>>);

#[derive(Debug, Clone)]
enum Step {
    Batch(Vec<Write>),
    Get(Vec<u8>),
    Scan {
        prefix: Vec<u8>,
        after: Option<Vec<u8>>,
        limit: usize,
    },
    Reopen,
    /// Take a snapshot, write `writes` while it is open, and read the
    /// snapshot at `key` and under `prefix`.
    Snapshot {
        writes: Vec<Write>,
        key: Vec<u8>,
        prefix: Vec<u8>,
    },
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    // A tiny alphabet, so keys collide and prefix one another.
    prop::collection::vec(prop::sample::select(vec![0u8, 1, b'a', b'b', 255]), 1..4)
}

fn write() -> impl Strategy<Value = Write> {
    (key(), prop::option::weighted(0.75, prop::collection::vec(any::<u8>(), 0..8)))
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => prop::collection::vec(write(), 1..5).prop_map(Step::Batch),
        2 => key().prop_map(Step::Get),
        2 => (prop::collection::vec(prop::sample::select(vec![0u8, b'a', 255]), 0..2), prop::option::of(key()), 1..6usize)
            .prop_map(|(prefix, after, limit)| Step::Scan { prefix, after, limit }),
        1 => Just(Step::Reopen),
        1 => (prop::collection::vec(write(), 1..4), key(), prop::collection::vec(any::<u8>(), 0..1))
            .prop_map(|(writes, key, prefix)| Step::Snapshot { writes, key, prefix }),
    ]
}

fn ops(writes: &[Write]) -> Vec<WriteOp> {
    writes
        .iter()
        .map(|(k, v)| match v {
            Some(v) => WriteOp::Put(Bytes::from(k.clone()), Bytes::from(v.clone())),
            None => WriteOp::Delete(Bytes::from(k.clone())),
        })
        .collect()
}

fn apply(oracle: &mut Oracle, writes: &[Write]) {
    for (k, v) in writes {
        match v {
            Some(v) => oracle.insert(k.clone(), v.clone()),
            None => oracle.remove(k),
        };
    }
}

fn expected_scan(oracle: &Oracle, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Vec<(Bytes, Bytes)> {
    oracle
        .iter()
        .filter(|(k, _)| k.starts_with(prefix) && after.is_none_or(|a| k.as_slice() > a))
        .take(limit)
        .map(|(k, v)| (Bytes::from(k.clone()), Bytes::from(v.clone())))
        .collect()
}

type Opener = fn(&Path) -> Box<dyn Backend>;

/// `exact_keys`: the engine counts keys exactly (lsm and rocksdb estimate).
fn run(steps: Vec<Step>, open: Opener, durable: bool, exact_keys: bool) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut backend = open(dir.path());
    let mut oracle = Oracle::new();
    let fail = |e: StorageError| TestCaseError::fail(e.to_string());
    for step in steps {
        match step {
            Step::Batch(writes) => {
                backend.write(&ops(&writes)).map_err(fail)?;
                apply(&mut oracle, &writes);
            }
            Step::Get(k) => {
                let got = backend.get(&k).map_err(fail)?;
                prop_assert_eq!(got, oracle.get(&k).map(|v| Bytes::from(v.clone())));
            }
            Step::Scan { prefix, after, limit } => {
                let got = backend.scan(&prefix, after.as_deref(), limit).map_err(fail)?;
                prop_assert_eq!(got, expected_scan(&oracle, &prefix, after.as_deref(), limit));
            }
            Step::Reopen if durable => {
                backend.close().map_err(fail)?;
                drop(backend);
                backend = open(dir.path());
            }
            Step::Reopen => {}
            Step::Snapshot { writes, key, prefix } => {
                let before = oracle.clone();
                let mut seen = None;
                let live = &backend;
                backend
                    .with_snapshot(&mut |snapshot| {
                        live.write(&ops(&writes))?;
                        seen = Some((snapshot.get(&key)?, snapshot.scan(&prefix, None, usize::MAX)?));
                        Ok(())
                    })
                    .map_err(fail)?;
                apply(&mut oracle, &writes);
                let (got, scanned) = seen.ok_or_else(|| TestCaseError::fail("snapshot not read"))?;
                prop_assert_eq!(got, before.get(&key).map(|v| Bytes::from(v.clone())));
                prop_assert_eq!(scanned, expected_scan(&before, &prefix, None, usize::MAX));
            }
        }
    }
    // Finally everything, in order, and after one more reopen.
    prop_assert_eq!(
        backend.scan(&[], None, usize::MAX).map_err(fail)?,
        expected_scan(&oracle, &[], None, usize::MAX)
    );
    if durable {
        backend.close().map_err(fail)?;
        drop(backend);
        let reopened = open(dir.path());
        let all = reopened.scan(&[], None, usize::MAX).map_err(fail)?;
        prop_assert_eq!(all, expected_scan(&oracle, &[], None, usize::MAX));
        if exact_keys {
            prop_assert_eq!(reopened.stats().keys, oracle.len() as u64, "stats.keys after reopen");
        }
    }
    Ok(())
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() }
}

fn open_memory(_: &Path) -> Box<dyn Backend> {
    Box::new(MemoryBackend::default())
}

fn open_lsm(path: &Path) -> Box<dyn Backend> {
    Box::new(LsmBackend::open(path).unwrap())
}

fn open_cow_btree(path: &Path) -> Box<dyn Backend> {
    Box::new(CowBTreeBackend::open(path).unwrap())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn memory_matches_the_model(steps in prop::collection::vec(step(), 1..40)) {
        run(steps, open_memory, false, true)?;
    }

    #[test]
    fn lsm_matches_the_model(steps in prop::collection::vec(step(), 1..40)) {
        run(steps, open_lsm, true, false)?;
    }

    #[test]
    fn cow_btree_matches_the_model(steps in prop::collection::vec(step(), 1..40)) {
        run(steps, open_cow_btree, true, true)?;
    }
}

#[cfg(feature = "rocksdb")]
mod rocksdb {
    use super::*;

    fn open_rocksdb(path: &Path) -> Box<dyn Backend> {
        Box::new(crate::storage::RocksBackend::open(path).unwrap())
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn rocksdb_matches_the_model(steps in prop::collection::vec(step(), 1..40)) {
            run(steps, open_rocksdb, true, false)?;
        }
    }
}

#[test]
fn closed_backends_refuse_calls() {
    let dir = tempfile::tempdir().unwrap();
    let backends: Vec<Box<dyn Backend>> =
        vec![open_lsm(&dir.path().join("lsm")), open_cow_btree(&dir.path().join("cow"))];
    for backend in backends {
        backend.write(&[WriteOp::Put(Bytes::from_static(b"k"), Bytes::from_static(b"v"))]).unwrap();
        backend.close().unwrap();
        assert!(matches!(backend.get(b"k"), Err(StorageError::Closed)), "{}", backend.name());
        assert!(matches!(backend.write(&[]), Err(StorageError::Closed)), "{}", backend.name());
    }
}
