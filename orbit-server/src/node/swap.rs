//! Hot swap: the node's data copied into another backend while it serves.

use super::NodeHandle;
use crate::config::StorageKind;
use crate::storage::copy::Fingerprint;
use crate::storage::{self, StorageError};
use std::sync::atomic::Ordering;

impl NodeHandle {
    /// Hot swap: copies the node's data into a new `kind` backend in its data
    /// directory while it keeps serving, catches up, and switches over. The
    /// old backend's files stay on disk until removed. Restart the node with
    /// `storage.backend` set to `kind` afterwards.
    pub async fn switch_backend(&self, kind: StorageKind) -> Result<Fingerprint, StorageError> {
        let refuse = |reason: String| Err(StorageError::SwitchRefused { reason });
        let current = self.store().backend().name();
        if kind == StorageKind::Memory || kind.name() == current {
            return refuse(format!(
                "from {current} to {} is not a switch to another durable backend",
                kind.name()
            ));
        }
        if self.shared.switching.swap(true, Ordering::AcqRel) {
            return refuse("another switch is running".into());
        }
        let data_dir = self.config().node.data_dir.clone();
        let result = async {
            let engine_dir = data_dir.join(kind.name());
            if std::fs::read_dir(&engine_dir).is_ok_and(|mut d| d.next().is_some()) {
                return refuse(format!("{} already exists; remove it first", engine_dir.display()));
            }
            let dir = data_dir.clone();
            let target = tokio::task::spawn_blocking(move || storage::open_engine(kind, &dir))
                .await
                .map_err(|e| StorageError::Io { backend: kind.name(), reason: e.to_string() })??;
            let marker_dir = data_dir.clone();
            let switched = self.store().swap_to(target, move || storage::set_marker(kind, &marker_dir)).await;
            if switched.is_err() {
                // The partial copy is of no use; leave the directory as it was.
                if let Err(e) = std::fs::remove_dir_all(&engine_dir) {
                    tracing::warn!(dir = %engine_dir.display(), error = %e, "cannot remove a failed switch's files");
                }
            }
            switched
        }
        .await;
        self.shared.switching.store(false, Ordering::Release);
        if let Ok(copied) = &result {
            tracing::info!(from = current, to = kind.name(), keys = copied.keys, "storage backend switched");
        }
        result
    }
}
