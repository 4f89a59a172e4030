//! Behaviour every backend must share, run against each implementation.

use super::{Backend, LsmBackend, MemoryBackend, Op};
use bytes::Bytes;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn check_basic_operations(backend: &dyn Backend) {
    assert_eq!(backend.get(b"missing").unwrap(), None);
    backend
        .write(&[Op::Put(b("a/1"), b("one")), Op::Put(b("a/2"), b("two")), Op::Put(b("b/1"), b("x"))])
        .unwrap();
    assert_eq!(backend.get(b"a/1").unwrap(), Some(b("one")));
    backend.write(&[Op::Put(b("a/1"), b("uno")), Op::Delete(b("a/2"))]).unwrap();
    assert_eq!(backend.get(b"a/1").unwrap(), Some(b("uno")));
    assert_eq!(backend.get(b"a/2").unwrap(), None);
    backend.sync().unwrap();
}

fn check_scan(backend: &dyn Backend) {
    let ops: Vec<_> = (0..10).map(|i| Op::Put(b(&format!("p/{i}")), b(&i.to_string()))).collect();
    backend.write(&ops).unwrap();
    backend.write(&[Op::Put(b("o"), b("before")), Op::Put(b("q"), b("after"))]).unwrap();
    let first = backend.scan(b"p/", None, 4).unwrap();
    let keys: Vec<_> = first.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, vec![b("p/0"), b("p/1"), b("p/2"), b("p/3")]);
    let rest = backend.scan(b"p/", Some(b"p/3"), 100).unwrap();
    assert_eq!(rest.len(), 6);
    assert_eq!(rest[0], (b("p/4"), b("4")));
    assert!(backend.scan(b"p/", Some(b"p/9"), 100).unwrap().is_empty());
    assert!(backend.scan(b"zzz", None, 100).unwrap().is_empty());
}

#[test]
fn memory_backend_conforms() {
    check_basic_operations(&MemoryBackend::default());
    check_scan(&MemoryBackend::default());
}

#[test]
fn lsm_backend_conforms_and_keeps_data_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let backend = LsmBackend::open(dir.path()).unwrap();
        check_basic_operations(&backend);
        check_scan(&backend);
    }
    let reopened = LsmBackend::open(dir.path()).unwrap();
    assert_eq!(reopened.get(b"a/1").unwrap(), Some(b("uno")));
    assert_eq!(reopened.get(b"a/2").unwrap(), None);
    assert_eq!(reopened.scan(b"p/", None, 100).unwrap().len(), 10);
}
