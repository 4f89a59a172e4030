//! Storage faults: a full disk and corrupted data give clear errors and a
//! node that refuses writes; nothing acknowledged is lost, no garbage is
//! served.

#![allow(clippy::unwrap_used)]

mod common;

use common::lsm_config;
use orbit_server::config::StorageKind;
use orbit_server::partition::partition_of;
use orbit_server::storage::layout::actor_key;
use orbit_server::storage::{Backend, LsmBackend};
use orbit_server::{Actor, Config, Context, Handler, MethodTable, Node};
use orbit_shared::actors::counter::Get;
use orbit_shared::{ActorId, ActorInterface, Error, ErrorKind, Message, WriteOp};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Stores a string; used to fill a disk quickly.
#[derive(Default, Serialize, Deserialize)]
struct Blob {
    data: String,
}
struct BlobApi;
impl ActorInterface for BlobApi {
    const KIND: &'static str = "blob";
}
#[derive(Serialize, Deserialize)]
struct Put {
    data: String,
}
impl Message for Put {
    const METHOD: &'static str = "put";
    const READ_ONLY: bool = false;
    type Reply = usize;
}
#[derive(Serialize, Deserialize)]
struct Read {}
impl Message for Read {
    const METHOD: &'static str = "read";
    const READ_ONLY: bool = true;
    type Reply = String;
}
impl Actor for Blob {
    type Interface = BlobApi;
    fn methods(table: &mut MethodTable<Self>) {
        table.add::<Put>().add::<Read>();
    }
}
impl Handler<Put> for Blob {
    async fn handle(&mut self, msg: Put, _ctx: &Context<'_>) -> Result<usize, Error> {
        self.data = msg.data;
        Ok(self.data.len())
    }
}
impl Handler<Read> for Blob {
    async fn handle(&mut self, _msg: Read, _ctx: &Context<'_>) -> Result<String, Error> {
        Ok(self.data.clone())
    }
}

/// Tests that need root (to mount a tmpfs) skip outside CI and fail in CI.
fn skip_or_fail(reason: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("required in CI but not possible here: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
}

struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", dir.to_str().unwrap()])
            .status()
            .ok()?;
        status.success().then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// 64 KiB that no engine can compress away (engines compress journals).
fn incompressible(seed: u64) -> String {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..64 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'!' + (state % 90) as u8)
        })
        .collect()
}

async fn fill_until_full(storage: StorageKind) {
    let mount_point = tempfile::tempdir().unwrap();
    let Some(tmpfs) = Tmpfs::mount(mount_point.path(), "3m") else {
        return skip_or_fail("cannot mount a tmpfs (needs root)");
    };
    let data_dir = mount_point.path().join("data");
    let mut config = lsm_config(&data_dir);
    config.storage.backend = storage;
    let node = Node::builder(config).register::<Blob>().build().await.unwrap();
    let mut acknowledged = Vec::new();
    let mut failure = None;
    for i in 0..400u64 {
        let blob = node.actor::<Blob>(format!("b{i}"));
        match blob.call(Put { data: incompressible(i) }).await {
            Ok(_) => acknowledged.push(i),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let failure = failure.expect("a 3 MB disk filled up");
    assert_eq!(failure.kind(), ErrorKind::Unavailable, "{failure}");
    assert!(matches!(failure, Error::Storage { .. }), "{failure:?}");
    // From now on every write is refused, even a small one.
    let refused = node.actor::<Blob>("small").call(Put { data: "tiny".into() }).await.unwrap_err();
    assert!(refused.to_string().contains("refuses writes"), "{refused}");
    // Durable state is still served while writes are refused.
    let first = acknowledged[0];
    assert_eq!(node.actor::<Blob>(format!("b{first}")).call(Read {}).await.unwrap(), incompressible(first));
    let _ = node.shutdown().await;

    // Everything acknowledged is on the full disk: copy it somewhere roomy.
    let rescued = tempfile::tempdir().unwrap();
    copy_dir(&data_dir, rescued.path());
    drop(tmpfs);
    let mut config = lsm_config(rescued.path());
    config.storage.backend = storage;
    let node = Node::builder(config).register::<Blob>().build().await.unwrap();
    assert!(!acknowledged.is_empty());
    for i in acknowledged {
        let data = node.actor::<Blob>(format!("b{i}")).call(Read {}).await.unwrap();
        assert_eq!(data, incompressible(i), "acknowledged blob b{i}");
    }
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_refuses_writes_and_keeps_acknowledged_ones_lsm() {
    fill_until_full(StorageKind::Lsm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_refuses_writes_and_keeps_acknowledged_ones_cow_btree() {
    fill_until_full(StorageKind::CowBtree).await;
}

/// A disk that turns read-only (Linux refuses that while files are open for
/// writing, so it happens between two runs of the node): the node refuses to
/// start, saying why, and loses nothing once the disk is writable again.
async fn disk_turns_read_only(storage: StorageKind) {
    let mount_point = tempfile::tempdir().unwrap();
    let Some(tmpfs) = Tmpfs::mount(mount_point.path(), "64m") else {
        return skip_or_fail("cannot mount a tmpfs (needs root)");
    };
    let data_dir = mount_point.path().join("data");
    let mut config = lsm_config(&data_dir);
    config.storage.backend = storage;
    let node = Node::builder(config.clone()).register::<Blob>().build().await.unwrap();
    for i in 0..20u64 {
        node.actor::<Blob>(format!("b{i}")).call(Put { data: incompressible(i) }).await.unwrap();
    }
    node.shutdown().await.unwrap();
    let remount = |mode: &str| {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,{mode}"), mount_point.path().to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success(), "remount {mode}");
    };
    remount("ro");
    let err =
        Node::builder(config.clone()).register::<Blob>().build().await.err().expect("read-only disk refused");
    let message = err.to_string();
    assert!(message.contains("Read-only file system") && message.contains(storage.name()), "{message}");
    remount("rw");
    let node = Node::builder(config).register::<Blob>().build().await.unwrap();
    for i in 0..20u64 {
        assert_eq!(node.actor::<Blob>(format!("b{i}")).call(Read {}).await.unwrap(), incompressible(i));
    }
    node.shutdown().await.unwrap();
    drop(tmpfs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_disk_stops_startup_and_loses_nothing_lsm() {
    disk_turns_read_only(StorageKind::Lsm).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_disk_stops_startup_and_loses_nothing_cow_btree() {
    disk_turns_read_only(StorageKind::CowBtree).await;
}

#[tokio::test]
async fn a_corrupt_record_is_an_error_never_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let id = ActorId::new("counter", "damaged");
    {
        let backend = LsmBackend::open(&dir.path().join("lsm")).unwrap();
        let key = actor_key(partition_of(id.slot(), 64), &id);
        backend
            .write(&[WriteOp::Put(
                key,
                bytes::Bytes::from_static(b"\x01\x00\x00\x00\x00\x00\x00\x00\x01{not json"),
            )])
            .unwrap();
        backend.close().unwrap();
    }
    let node = Node::builder(lsm_config(dir.path())).with_builtin_kinds().build().await.unwrap();
    let counter = node.actor::<orbit_server::actors::counter::CounterActor>("damaged");
    let e = counter.call(Get {}).await.unwrap_err();
    assert!(matches!(&e, Error::Storage { reason } if reason.contains("does not decode")), "{e:?}");
    // Other actors are unaffected.
    let other = node.actor::<orbit_server::actors::counter::CounterActor>("healthy");
    assert_eq!(other.call(Get {}).await.unwrap(), 0);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_corrupt_database_file_stops_startup_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = lsm_config(dir.path());
    config.storage.backend = StorageKind::CowBtree;
    Node::builder(config.clone()).build().await.unwrap().shutdown().await.unwrap();
    let file = dir.path().join("cow-btree").join("actors.redb");
    let mut bytes = std::fs::read(&file).unwrap();
    for b in bytes.iter_mut().take(512) {
        *b = 0xAB;
    }
    std::fs::write(&file, bytes).unwrap();
    let err = Node::builder(config).build().await.err().expect("corrupt file refused");
    assert!(err.to_string().contains("cow-btree I/O error"), "{err}");
}

#[tokio::test]
async fn rocksdb_without_the_feature_is_a_clear_error() {
    if cfg!(feature = "rocksdb") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::ephemeral();
    config.node.data_dir = dir.path().to_path_buf();
    config.storage.backend = StorageKind::Rocksdb;
    let err = Node::builder(config).build().await.err().expect("no rocksdb in this build");
    assert!(err.to_string().contains("`rocksdb` cargo feature"), "{err}");
}
