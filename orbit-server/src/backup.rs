//! Backups, restores and offline migrations between backends.
//!
//! A backup directory is itself a data directory (backend files plus the
//! `BACKEND` marker) with a manifest, `orbit-backup.json`, recording what
//! was copied and its checksum. Every operation verifies checksums on both
//! sides before it reports success.

use crate::config::StorageKind;
use crate::storage::copy::{Fingerprint, copy_all, fingerprint_backend};
use crate::storage::{self, Backend, StorageError, Store};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const MANIFEST: &str = "orbit-backup.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub backend: String,
    pub fingerprint: Fingerprint,
    pub created_unix_ms: u64,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{0} must be empty or absent")]
    NotEmpty(PathBuf),
    #[error("{path}: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error("checksum mismatch: expected {expected}, found {found} ({keys} keys)")]
    Checksum { expected: String, found: String, keys: u64 },
    #[error("{0}")]
    Io(String),
}

fn ensure_empty(dir: &Path) -> Result<(), BackupError> {
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(BackupError::NotEmpty(dir.to_path_buf()));
    }
    Ok(())
}

fn verify(expected: &Fingerprint, backend: &dyn Backend) -> Result<(), BackupError> {
    let found = fingerprint_backend(backend)?;
    if &found != expected {
        return Err(BackupError::Checksum {
            expected: expected.checksum.clone(),
            found: found.checksum,
            keys: found.keys,
        });
    }
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Copies a consistent snapshot of `source` into a new `kind` store in `dir`
/// and writes the manifest. Writes to `source` go on meanwhile.
pub fn backup_backend(source: &dyn Backend, dir: &Path, kind: StorageKind) -> Result<Manifest, BackupError> {
    let fingerprint = migrate_backends(source, dir, kind)?;
    let manifest =
        Manifest { format: 1, backend: kind.name().to_string(), fingerprint, created_unix_ms: now_ms() };
    write_manifest(dir, &manifest)?;
    Ok(manifest)
}

/// An online backup of a running node's store, in the node's own backend
/// kind (or `kind`), off the async threads.
pub async fn backup(store: &Store, dir: PathBuf, kind: StorageKind) -> Result<Manifest, BackupError> {
    let backend = store.backend();
    tokio::task::spawn_blocking(move || backup_backend(backend.as_ref(), &dir, kind))
        .await
        .map_err(|e| BackupError::Io(e.to_string()))?
}

fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), BackupError> {
    let text = serde_json::to_vec_pretty(manifest).map_err(|e| BackupError::Io(e.to_string()))?;
    std::fs::write(dir.join(MANIFEST), text).map_err(|e| BackupError::Io(e.to_string()))
}

pub fn read_manifest(dir: &Path) -> Result<Manifest, BackupError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read(&path)
        .map_err(|e| BackupError::Manifest { path: path.clone(), reason: e.to_string() })?;
    serde_json::from_slice(&text).map_err(|e| BackupError::Manifest { path, reason: e.to_string() })
}

/// Builds a fresh data directory from a backup, after checking the backup
/// against its manifest; the target may use another backend.
pub fn restore(from: &Path, data_dir: &Path, kind: Option<StorageKind>) -> Result<Manifest, BackupError> {
    let manifest = read_manifest(from)?;
    let source_kind = StorageKind::from_name(&manifest.backend).ok_or_else(|| BackupError::Manifest {
        path: from.join(MANIFEST),
        reason: format!("unknown backend '{}'", manifest.backend),
    })?;
    let source = storage::open_backend(source_kind, from)?;
    verify(&manifest.fingerprint, source.as_ref())?;
    let copied = migrate_backends(source.as_ref(), data_dir, kind.unwrap_or(source_kind))?;
    source.close()?;
    Ok(Manifest { fingerprint: copied, ..manifest })
}

/// Copies everything from `source` into a new `kind` store in `data_dir` and
/// verifies the copy.
pub fn migrate_backends(
    source: &dyn Backend,
    data_dir: &Path,
    kind: StorageKind,
) -> Result<Fingerprint, BackupError> {
    ensure_empty(data_dir)?;
    let target = storage::open_backend(kind, data_dir)?;
    let mut copied = None;
    source.with_snapshot(&mut |snapshot| {
        copied = Some(copy_all(snapshot, target.as_ref())?);
        Ok(())
    })?;
    let fingerprint = copied.ok_or(StorageError::Closed)?;
    verify(&fingerprint, target.as_ref())?;
    target.close()?;
    Ok(fingerprint)
}

/// `orbit-server migrate --from KIND:PATH --to KIND:PATH`, offline.
pub fn migrate(from: (StorageKind, &Path), to: (StorageKind, &Path)) -> Result<Fingerprint, BackupError> {
    let source = storage::open_backend(from.0, from.1)?;
    let copied = migrate_backends(source.as_ref(), to.1, to.0)?;
    verify(&copied, source.as_ref())?;
    source.close()?;
    Ok(copied)
}

/// Takes a backup every `backup.interval` into `backup.dir`, keeping the
/// newest `backup.keep`, until cancelled.
pub async fn run_schedule(
    node: crate::NodeHandle,
    dir: PathBuf,
    cancel: tokio_util::sync::CancellationToken,
) {
    let config = node.config().backup.clone();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + config.interval, config.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while cancel.run_until_cancelled(ticks.tick()).await.is_some() {
        let kind = StorageKind::from_name(node.store().backend().name())
            .filter(|k| *k != StorageKind::Memory)
            .unwrap_or(StorageKind::Lsm);
        let target = dir.join(format!("backup-{:013}", now_ms()));
        match backup(node.store(), target.clone(), kind).await {
            Ok(manifest) => {
                node.metrics().backup_done(true);
                tracing::info!(dir = %target.display(), keys = manifest.fingerprint.keys, "scheduled backup taken");
                if let Err(e) = prune(&dir, config.keep) {
                    tracing::warn!(error = %e, "cannot prune old backups");
                }
            }
            Err(e) => {
                node.metrics().backup_done(false);
                tracing::error!(dir = %target.display(), error = %e, "scheduled backup failed");
            }
        }
    }
}

/// Removes all but the newest `keep` complete scheduled backups in `dir`.
fn prune(dir: &Path, keep: usize) -> std::io::Result<()> {
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("backup-"))
                && p.join(MANIFEST).exists()
        })
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(keep);
    for old in &backups[..excess] {
        std::fs::remove_dir_all(old)?;
    }
    Ok(())
}
